"""GB 11643 ID numbers and names as person/verify and the identity registry check them."""

import pytest

from gateway.dialects.baidu.codes import baidu_code
from shared.errors import FaceError
from shared.resident_id import check_digit, validate_id_number, validate_name


def test_check_digit_follows_iso_7064_mod_11_2():
    # the standard's worked example: 11010519491231002X
    assert check_digit("11010519491231002") == "X"
    assert validate_id_number(" 11010519491231002x ") == "11010519491231002X"
    assert check_digit("44052418800101001") == "4"


@pytest.mark.parametrize("number", [
    "110105194912310021",   # wrong check digit
    "11010519491331002X",   # month 13
    "1101051949123100",     # too short
    "11010519491231002Y",   # not a digit or X
    "110105290012310027",   # born in the future
])
def test_bad_numbers_are_refused(number):
    with pytest.raises(FaceError) as caught:
        validate_id_number(number)
    assert baidu_code(caught.value.kind) == 216100


def test_names():
    assert validate_name(" 张三 ") == "张三"
    assert validate_name("阿依古丽·买买提") == "阿依古丽·买买提"
    assert validate_name("John Smith") == "John Smith"
    for bad in ("", "1234", "x" * 65, "<script>"):
        with pytest.raises(FaceError):
            validate_name(bad)
