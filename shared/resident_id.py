"""Chinese resident ID numbers (GB 11643-1999) and names, as person/verify checks them.

18 characters: a 6-digit region code, the birth date YYYYMMDD, a 3-digit sequence, and a check
character: the ISO 7064 MOD 11-2 checksum of the first 17 digits, 'X' standing for 10.
"""

from __future__ import annotations

import re
from datetime import date

from shared.errors import ERRORS, FaceError

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_NAME = re.compile(r"^[\u3400-\u9fff\uf900-\ufaffA-Za-z][\u3400-\u9fff\uf900-\ufaffA-Za-z·• .'-]*$")


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_id_number(number: str) -> str:
    value = number.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        raise FaceError(ERRORS.PARAM_INVALID, "id_card_number must be 17 digits and a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID, "id_card_number has no valid birth date") from None
    if not date(1900, 1, 1) <= born <= date.today():
        raise FaceError(ERRORS.PARAM_INVALID, "id_card_number has no valid birth date")
    if check_digit(value[:17]) != value[17]:
        raise FaceError(ERRORS.PARAM_INVALID, "id_card_number check digit is wrong")
    return value


def validate_name(name: str) -> str:
    value = name.strip()
    if not value or len(value) > 64 or not _NAME.match(value):
        raise FaceError(ERRORS.PARAM_INVALID,
                        "name must be 1-64 characters of Chinese or Latin letters")
    return value
