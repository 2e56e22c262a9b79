"""The native API's code table: each error kind of the core (shared.errors) as an HTTP status,
and the error object /v1 answers with. The object names the kind and, so that a client of
either vendor API can map a /v1 error to the number it knows, its CloudWalk and Baidu codes."""

from __future__ import annotations

from gateway.dialects.baidu.codes import baidu_code
from gateway.dialects.cloudwalk.codes import cloudwalk_code
from shared.errors import ErrorKind, FaceError

STATUS: dict[str, int] = {
    "APP_AUTH": 401,
    "TOKEN_INVALID": 401,
    "TOKEN_EXPIRED": 401,
    "PARAM_MISSING": 400,
    "SYSTEM_BUSY": 503,
    "RPC": 502,
    "NOT_SUPPORTED": 404,
    "PARAM_INVALID": 400,
    "SERVICE_ACCESS": 502,
    "ENGINE": 500,
    "SYSTEM": 500,
    "RATE_LIMIT": 429,
    "PROCESSING": 500,
    "NO_FACE": 422,
    "MULTIPLE_FACES": 422,
    "FACE_TOO_SMALL": 422,
    "FACE_TOO_LARGE": 422,
    "FACE_TOO_BRIGHT": 422,
    "FACE_TOO_DARK": 422,
    "FACE_BLURRED": 422,
    "IMAGE_QUALITY": 422,
    "IMAGE_DECODE": 400,
    "IMAGE_TOO_LARGE": 400,
    "IMAGE_TOO_SMALL": 400,
    "KEYPOINT": 500,
    "FEATURE_EXTRACT": 500,
    "FEATURE_DATA": 400,
    "FEATURE_LENGTH": 400,
    "RECOGNITION": 500,
    "COMPARE": 500,
    "JOB_NOT_FOUND": 404,
    "CLUSTER_NOT_FOUND": 404,
    "FACE_ADD": 500,
    "FACE_NOT_FOUND": 404,
    "FACE_EXISTS": 409,
    "GROUP_CREATE": 409,
    "GROUP_EXISTS": 409,
    "GROUP_NOT_FOUND": 404,
    "GROUP_EMPTY": 422,
    "GROUP_FULL": 422,
    "MODEL_MISMATCH": 409,
    "USER_NOT_FOUND": 404,
    "USER_ONE_GROUP": 409,
    "USER_IN_GROUP": 409,
    "IMAGE_EXISTS": 409,
    "NOT_ENOUGH_IMAGES": 400,
    "IMAGE_FORMAT": 400,
    "PARAM_TOO_LONG": 400,
    "IDENTITY_NOT_FOUND": 404,
    "LIVENESS_FAILED": 422,
    "TASK_ABANDONED": 422,
}


def http_status(kind: ErrorKind) -> int:
    return STATUS[kind.name]


def describe(exc: FaceError) -> dict:
    """The error's name, its numbers in both vendor dialects, and a message."""
    return {"code": exc.kind.name, "cloudwalk_code": cloudwalk_code(exc.kind),
            "baidu_code": baidu_code(exc.kind), "message": exc.detail or exc.kind.message}
