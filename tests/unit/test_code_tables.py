"""Every error kind of the core has a row in each dialect's code table, the tables keep the
numbers the vendors' documents give the main cases, and each message is written once: the
catalogue (shared/errors.py) holds the kinds' messages, a dialect's table only its numbers and,
for CloudWalk, the one text its document gives each code."""

import ast
from collections import defaultdict
from pathlib import Path

from gateway.dialects.baidu import codes as baidu
from gateway.dialects.baidu.codes import CODES as BAIDU
from gateway.dialects.cloudwalk import codes as cloudwalk
from gateway.dialects.cloudwalk.codes import CODES as CLOUDWALK
from gateway.dialects.native import codes as native
from gateway.dialects.native.codes import STATUS
from shared.errors import BY_NAME, ERRORS, FaceError

DIALECTS = Path(baidu.__file__).resolve().parents[1]


def test_every_kind_has_a_code_in_every_dialect():
    kinds = set(BY_NAME.values())
    for table in (cloudwalk.RESULT_CODES, baidu.ERROR_CODES, STATUS):
        assert set(table) == kinds
    for pairs in (CLOUDWALK, BAIDU):
        assert set(pairs) == set(BY_NAME)


def test_the_documented_numbers():
    assert CLOUDWALK["NO_FACE"] == (8464, "没有检测到人脸")
    assert CLOUDWALK["GROUP_NOT_FOUND"][0] == 12357 and CLOUDWALK["PARAM_MISSING"][0] == 4097
    assert BAIDU["NO_FACE"] == (216402, "face not found")
    assert BAIDU["TOKEN_EXPIRED"][0] == 111 and BAIDU["APP_AUTH"][0] == 14
    assert STATUS[ERRORS.NO_FACE] == 422 and STATUS[ERRORS.SYSTEM_BUSY] == 503


def test_the_documented_texts():
    """A few rows of each vendor's error table, as its document prints them."""
    assert cloudwalk.INFO[4096] == "应用权限错误" and cloudwalk.INFO[12357] == "组不存在"
    assert cloudwalk.INFO[8498] == "图片太大,最大尺寸 6000*4000"
    assert BAIDU["APP_AUTH"] == (14, "IAM Certification failed")
    assert BAIDU["RATE_LIMIT"] == (18, "Open api qps request limit reached")
    assert BAIDU["USER_IN_GROUP"] == (216100, "already add")  # group/adduser's own example


def test_baidu_prints_the_catalogue_message():
    for kind in BY_NAME.values():
        assert baidu.baidu_message(kind) is kind.message
        assert BAIDU[kind.name] == (baidu.baidu_code(kind), kind.message)


def test_kinds_sharing_a_baidu_code_share_its_text():
    """Baidu's document gives each error_code one error_msg: the catalogue's messages, which
    Baidu prints, keep to it. The one exception is the document's own: group/adduser answers
    216100 with "already add"."""
    texts: dict[int, set[str]] = defaultdict(set)
    for kind, code in baidu.ERROR_CODES.items():
        if kind is not ERRORS.USER_IN_GROUP:
            texts[code].add(kind.message)
    assert {code: found for code, found in texts.items() if len(found) > 1} == {}


def test_cloudwalk_texts_belong_to_codes():
    for kind, code in cloudwalk.RESULT_CODES.items():
        assert cloudwalk.cloudwalk_info(kind) == cloudwalk.INFO[code] == CLOUDWALK[kind.name][1]
    assert set(cloudwalk.INFO) == set(cloudwalk.RESULT_CODES.values())  # no unused text


def test_native_error_object_reads_the_catalogue():
    error = native.describe(FaceError(ERRORS.GROUP_EMPTY))
    assert error == {"code": "GROUP_EMPTY", "cloudwalk_code": 12358, "baidu_code": 216618,
                     "message": "no user in group"}
    assert native.describe(FaceError(ERRORS.GROUP_EMPTY, "g1 is empty"))["message"] == (
        "g1 is empty")


def _strings(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}


def test_no_code_table_copies_a_catalogue_message():
    """The duplication this replaced: baidu/codes.py held every message of shared/errors.py
    a second time. No dialect's code table may spell out a catalogue message again."""
    messages = {kind.message for kind in BY_NAME.values()}
    for table in sorted(DIALECTS.glob("*/codes.py")):
        assert _strings(table) & messages == set(), table
