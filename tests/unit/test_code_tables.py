"""Every error kind of the core has a row in each dialect's code table, and the tables keep the
numbers the vendors' documents give the main cases."""

from gateway.dialects.baidu.codes import CODES as BAIDU
from gateway.dialects.cloudwalk.codes import CODES as CLOUDWALK
from gateway.dialects.native.codes import STATUS
from shared.errors import BY_NAME


def test_every_kind_has_a_code_in_every_dialect():
    for table in (CLOUDWALK, BAIDU, STATUS):
        assert set(table) == set(BY_NAME)


def test_the_documented_numbers():
    assert CLOUDWALK["NO_FACE"] == (8464, "没有检测到人脸")
    assert CLOUDWALK["GROUP_NOT_FOUND"][0] == 12357 and CLOUDWALK["PARAM_MISSING"][0] == 4097
    assert BAIDU["NO_FACE"] == (216402, "face not found")
    assert BAIDU["TOKEN_EXPIRED"][0] == 111 and BAIDU["APP_AUTH"][0] == 14
    assert STATUS["NO_FACE"] == 422 and STATUS["SYSTEM_BUSY"] == 503
