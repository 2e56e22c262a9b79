"""Baidu's code table (Baidu face API v2, "error codes"): each error kind of the core
(shared.errors) as `error_code` and `error_msg`. Where the document has no exact case, the
closest code it lists (docs/api.md says which)."""

from __future__ import annotations

from shared.errors import ErrorKind

CODES: dict[str, tuple[int, str]] = {
    "APP_AUTH": (14, "IAM Certification failed"),
    "TOKEN_INVALID": (110, "Access token invalid or no longer valid"),
    "TOKEN_EXPIRED": (111, "Access token expired"),
    "PARAM_MISSING": (216101, "not enough param"),
    "SYSTEM_BUSY": (216401, "internal error"),
    "RPC": (216400, "backend error"),
    "NOT_SUPPORTED": (216102, "service not support"),
    "PARAM_INVALID": (216100, "invalid param"),
    "SERVICE_ACCESS": (216400, "backend error"),
    "ENGINE": (216400, "backend error"),
    "SYSTEM": (216401, "internal error"),
    "RATE_LIMIT": (18, "Open api qps request limit reached"),
    "PROCESSING": (216615, "fail to process images"),
    "NO_FACE": (216402, "face not found"),
    "MULTIPLE_FACES": (216100, "invalid param"),
    "FACE_TOO_SMALL": (216100, "invalid param"),
    "FACE_TOO_LARGE": (216100, "invalid param"),
    "FACE_TOO_BRIGHT": (216100, "invalid param"),
    "FACE_TOO_DARK": (216100, "invalid param"),
    "FACE_BLURRED": (216100, "invalid param"),
    "IMAGE_QUALITY": (216100, "invalid param"),
    "IMAGE_DECODE": (216200, "empty image"),
    "IMAGE_TOO_LARGE": (216202, "image size error"),
    "IMAGE_TOO_SMALL": (216202, "image size error"),
    "KEYPOINT": (216400, "backend error"),
    "FEATURE_EXTRACT": (216400, "backend error"),
    "FEATURE_DATA": (216100, "invalid param"),
    "FEATURE_LENGTH": (216100, "invalid param"),
    "RECOGNITION": (216400, "backend error"),
    "COMPARE": (216400, "backend error"),
    "JOB_NOT_FOUND": (216102, "service not support"),
    "CLUSTER_NOT_FOUND": (216102, "service not support"),
    "FACE_ADD": (216617, "fail to add user"),
    "FACE_NOT_FOUND": (216611, "user not exist"),
    "FACE_EXISTS": (216616, "image existed"),
    "GROUP_CREATE": (216100, "invalid param"),
    "GROUP_EXISTS": (216100, "invalid param"),
    "GROUP_NOT_FOUND": (216618, "no user in group"),
    "GROUP_EMPTY": (216618, "no user in group"),
    "GROUP_FULL": (216631, "request add user overlimit"),
    "MODEL_MISMATCH": (216100, "invalid param"),
    "USER_NOT_FOUND": (216611, "user not exist"),
    "USER_ONE_GROUP": (216619, "user must be in one group at least"),
    "USER_IN_GROUP": (216100, "already add"),
    "IMAGE_EXISTS": (216616, "image existed"),
    "NOT_ENOUGH_IMAGES": (216614, "not enough images"),
    "IMAGE_FORMAT": (216201, "image format error"),
    "PARAM_TOO_LONG": (216103, "param too long"),
    "IDENTITY_NOT_FOUND": (216611, "user not exist"),
    "LIVENESS_FAILED": (216100, "invalid param"),
    "TASK_ABANDONED": (216615, "fail to process images"),
}


def baidu_code(kind: ErrorKind) -> int:
    return CODES[kind.name][0]


def baidu_message(kind: ErrorKind) -> str:
    return CODES[kind.name][1]
