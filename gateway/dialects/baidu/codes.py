"""Baidu's code table (Baidu face API v2, "error codes"): each error kind of the core
(shared.errors) as an `error_code`. Where the document has no exact case, the closest code it
lists (docs/api.md says which).

`error_msg` is the kind's message from the catalogue, not a text of this table: the catalogue's
English messages are the wording of Baidu's error table (each code's "错误信息"; and "already
add", the document's own example for group/adduser), so they are written there once and the
native API's `message` reads the same text. tests/unit/test_code_tables.py checks that kinds
sharing a code print that code's one text.
"""

from __future__ import annotations

from shared.errors import ERRORS, ErrorKind

ERROR_CODES: dict[ErrorKind, int] = {
    ERRORS.APP_AUTH: 14,
    ERRORS.TOKEN_INVALID: 110,
    ERRORS.TOKEN_EXPIRED: 111,
    ERRORS.PARAM_MISSING: 216101,
    ERRORS.SYSTEM_BUSY: 216401,
    ERRORS.RPC: 216400,
    ERRORS.NOT_SUPPORTED: 216102,
    ERRORS.PARAM_INVALID: 216100,
    ERRORS.SERVICE_ACCESS: 216400,
    ERRORS.ENGINE: 216400,
    ERRORS.SYSTEM: 216401,
    ERRORS.RATE_LIMIT: 18,
    ERRORS.PROCESSING: 216615,
    ERRORS.NO_FACE: 216402,
    ERRORS.MULTIPLE_FACES: 216100,
    ERRORS.FACE_TOO_SMALL: 216100,
    ERRORS.FACE_TOO_LARGE: 216100,
    ERRORS.FACE_TOO_BRIGHT: 216100,
    ERRORS.FACE_TOO_DARK: 216100,
    ERRORS.FACE_BLURRED: 216100,
    ERRORS.IMAGE_QUALITY: 216100,
    ERRORS.IMAGE_DECODE: 216200,
    ERRORS.IMAGE_TOO_LARGE: 216202,
    ERRORS.IMAGE_TOO_SMALL: 216202,
    ERRORS.KEYPOINT: 216400,
    ERRORS.FEATURE_EXTRACT: 216400,
    ERRORS.FEATURE_DATA: 216100,
    ERRORS.FEATURE_LENGTH: 216100,
    ERRORS.RECOGNITION: 216400,
    ERRORS.COMPARE: 216400,
    ERRORS.JOB_NOT_FOUND: 216102,
    ERRORS.CLUSTER_NOT_FOUND: 216102,
    ERRORS.FACE_ADD: 216617,
    ERRORS.FACE_NOT_FOUND: 216611,
    ERRORS.FACE_EXISTS: 216616,
    ERRORS.GROUP_CREATE: 216100,
    ERRORS.GROUP_EXISTS: 216100,
    ERRORS.GROUP_NOT_FOUND: 216618,
    ERRORS.GROUP_EMPTY: 216618,
    ERRORS.GROUP_FULL: 216631,
    ERRORS.MODEL_MISMATCH: 216100,
    ERRORS.USER_NOT_FOUND: 216611,
    ERRORS.USER_ONE_GROUP: 216619,
    ERRORS.USER_IN_GROUP: 216100,
    ERRORS.IMAGE_EXISTS: 216616,
    ERRORS.NOT_ENOUGH_IMAGES: 216614,
    ERRORS.IMAGE_FORMAT: 216201,
    ERRORS.PARAM_TOO_LONG: 216103,
    ERRORS.IDENTITY_NOT_FOUND: 216611,
    ERRORS.LIVENESS_FAILED: 216100,
    ERRORS.TASK_ABANDONED: 216615,
}

# The pair each kind prints (error_code, error_msg), by kind name: for readers that want both
# (the dashboards' test, the load test); derived, not another copy.
CODES: dict[str, tuple[int, str]] = {
    kind.name: (code, kind.message) for kind, code in ERROR_CODES.items()}


def baidu_code(kind: ErrorKind) -> int:
    return ERROR_CODES[kind]


def baidu_message(kind: ErrorKind) -> str:
    return kind.message
