"""The native API's code table: each error kind of the core (shared.errors) as an HTTP status,
and the error object /v1 answers with. The object names the kind and, so that a client of
either vendor API can map a /v1 error to the number it knows, its CloudWalk and Baidu codes
(read from their tables); its message is the error's detail, or the catalogue's message."""

from __future__ import annotations

from gateway.dialects.baidu.codes import baidu_code
from gateway.dialects.cloudwalk.codes import cloudwalk_code
from shared.errors import ERRORS, ErrorKind, FaceError

STATUS: dict[ErrorKind, int] = {
    ERRORS.APP_AUTH: 401,
    ERRORS.TOKEN_INVALID: 401,
    ERRORS.TOKEN_EXPIRED: 401,
    ERRORS.PARAM_MISSING: 400,
    ERRORS.SYSTEM_BUSY: 503,
    ERRORS.RPC: 502,
    ERRORS.NOT_SUPPORTED: 404,
    ERRORS.PARAM_INVALID: 400,
    ERRORS.SERVICE_ACCESS: 502,
    ERRORS.ENGINE: 500,
    ERRORS.SYSTEM: 500,
    ERRORS.RATE_LIMIT: 429,
    ERRORS.PROCESSING: 500,
    ERRORS.NO_FACE: 422,
    ERRORS.MULTIPLE_FACES: 422,
    ERRORS.FACE_TOO_SMALL: 422,
    ERRORS.FACE_TOO_LARGE: 422,
    ERRORS.FACE_TOO_BRIGHT: 422,
    ERRORS.FACE_TOO_DARK: 422,
    ERRORS.FACE_BLURRED: 422,
    ERRORS.IMAGE_QUALITY: 422,
    ERRORS.IMAGE_DECODE: 400,
    ERRORS.IMAGE_TOO_LARGE: 400,
    ERRORS.IMAGE_TOO_SMALL: 400,
    ERRORS.KEYPOINT: 500,
    ERRORS.FEATURE_EXTRACT: 500,
    ERRORS.FEATURE_DATA: 400,
    ERRORS.FEATURE_LENGTH: 400,
    ERRORS.RECOGNITION: 500,
    ERRORS.COMPARE: 500,
    ERRORS.JOB_NOT_FOUND: 404,
    ERRORS.CLUSTER_NOT_FOUND: 404,
    ERRORS.FACE_ADD: 500,
    ERRORS.FACE_NOT_FOUND: 404,
    ERRORS.FACE_EXISTS: 409,
    ERRORS.GROUP_CREATE: 409,
    ERRORS.GROUP_EXISTS: 409,
    ERRORS.GROUP_NOT_FOUND: 404,
    ERRORS.GROUP_EMPTY: 422,
    ERRORS.GROUP_FULL: 422,
    ERRORS.MODEL_MISMATCH: 409,
    ERRORS.USER_NOT_FOUND: 404,
    ERRORS.USER_ONE_GROUP: 409,
    ERRORS.USER_IN_GROUP: 409,
    ERRORS.IMAGE_EXISTS: 409,
    ERRORS.NOT_ENOUGH_IMAGES: 400,
    ERRORS.IMAGE_FORMAT: 400,
    ERRORS.PARAM_TOO_LONG: 400,
    ERRORS.IDENTITY_NOT_FOUND: 404,
    ERRORS.LIVENESS_FAILED: 422,
    ERRORS.TASK_ABANDONED: 422,
}


def http_status(kind: ErrorKind) -> int:
    return STATUS[kind]


def describe(exc: FaceError) -> dict:
    """The error's name, its numbers in both vendor dialects, and a message."""
    return {"code": exc.kind.name, "cloudwalk_code": cloudwalk_code(exc.kind),
            "baidu_code": baidu_code(exc.kind), "message": exc.detail or exc.kind.message}
