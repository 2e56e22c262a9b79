"""The one error catalogue: every failure the product knows, once, by kind, with its message.
Every layer raises FaceError(ERRORS.X); the core knows no dialect. Each dialect prints a kind in
its own form from its own code table, which holds only what is the dialect's own:
gateway/dialects/cloudwalk/codes.py (the `result` code, and the `info` text the CloudWalk
document gives that code), baidu/codes.py (the `error_code`; `error_msg` is the message here),
native/codes.py (the HTTP status; the error object's `message` is the message here). A new kind
gets a row in each (tests/unit/test_code_tables.py checks that none is missing).

The messages are the wording of Baidu's error table, which is English and dialect-neutral enough
to serve /v1 too: kinds that share a Baidu code share its text (test_code_tables.py checks it).
Changing one changes what Baidu clients and /v1 clients read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    name: str
    message: str  # English: Baidu's error_msg and /v1's message (see above)


class FaceError(Exception):
    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind.name}: {detail}" if detail else kind.name)
        self.kind = kind
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        """The form that crosses the queue."""
        return {"error": self.kind.name, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> FaceError:
        return cls(BY_NAME[data["error"]], data.get("detail", ""))


class ERRORS:
    APP_AUTH = ErrorKind("APP_AUTH", "IAM Certification failed")
    TOKEN_INVALID = ErrorKind("TOKEN_INVALID", "Access token invalid or no longer valid")
    TOKEN_EXPIRED = ErrorKind("TOKEN_EXPIRED", "Access token expired")
    PARAM_MISSING = ErrorKind("PARAM_MISSING", "not enough param")
    SYSTEM_BUSY = ErrorKind("SYSTEM_BUSY", "internal error")
    RPC = ErrorKind("RPC", "backend error")
    NOT_SUPPORTED = ErrorKind("NOT_SUPPORTED", "service not support")
    PARAM_INVALID = ErrorKind("PARAM_INVALID", "invalid param")
    SERVICE_ACCESS = ErrorKind("SERVICE_ACCESS", "backend error")
    ENGINE = ErrorKind("ENGINE", "backend error")
    SYSTEM = ErrorKind("SYSTEM", "internal error")
    RATE_LIMIT = ErrorKind("RATE_LIMIT", "Open api qps request limit reached")
    PROCESSING = ErrorKind("PROCESSING", "fail to process images")
    NO_FACE = ErrorKind("NO_FACE", "face not found")
    MULTIPLE_FACES = ErrorKind("MULTIPLE_FACES", "invalid param")
    FACE_TOO_SMALL = ErrorKind("FACE_TOO_SMALL", "invalid param")
    FACE_TOO_LARGE = ErrorKind("FACE_TOO_LARGE", "invalid param")
    FACE_TOO_BRIGHT = ErrorKind("FACE_TOO_BRIGHT", "invalid param")
    FACE_TOO_DARK = ErrorKind("FACE_TOO_DARK", "invalid param")
    FACE_BLURRED = ErrorKind("FACE_BLURRED", "invalid param")
    IMAGE_QUALITY = ErrorKind("IMAGE_QUALITY", "invalid param")
    IMAGE_DECODE = ErrorKind("IMAGE_DECODE", "empty image")
    IMAGE_TOO_LARGE = ErrorKind("IMAGE_TOO_LARGE", "image size error")
    IMAGE_TOO_SMALL = ErrorKind("IMAGE_TOO_SMALL", "image size error")
    KEYPOINT = ErrorKind("KEYPOINT", "backend error")
    FEATURE_EXTRACT = ErrorKind("FEATURE_EXTRACT", "backend error")
    FEATURE_DATA = ErrorKind("FEATURE_DATA", "invalid param")
    FEATURE_LENGTH = ErrorKind("FEATURE_LENGTH", "invalid param")
    RECOGNITION = ErrorKind("RECOGNITION", "backend error")
    COMPARE = ErrorKind("COMPARE", "backend error")
    JOB_NOT_FOUND = ErrorKind("JOB_NOT_FOUND", "service not support")
    CLUSTER_NOT_FOUND = ErrorKind("CLUSTER_NOT_FOUND", "service not support")
    FACE_ADD = ErrorKind("FACE_ADD", "fail to add user")
    FACE_NOT_FOUND = ErrorKind("FACE_NOT_FOUND", "user not exist")
    FACE_EXISTS = ErrorKind("FACE_EXISTS", "image existed")
    GROUP_CREATE = ErrorKind("GROUP_CREATE", "invalid param")
    GROUP_EXISTS = ErrorKind("GROUP_EXISTS", "invalid param")
    GROUP_NOT_FOUND = ErrorKind("GROUP_NOT_FOUND", "no user in group")
    GROUP_EMPTY = ErrorKind("GROUP_EMPTY", "no user in group")
    GROUP_FULL = ErrorKind("GROUP_FULL", "request add user overlimit")
    MODEL_MISMATCH = ErrorKind("MODEL_MISMATCH", "invalid param")
    # Baidu users (faceset/user/*, group/*) and the identity registry (person/verify)
    USER_NOT_FOUND = ErrorKind("USER_NOT_FOUND", "user not exist")
    USER_ONE_GROUP = ErrorKind("USER_ONE_GROUP", "user must be in one group at least")
    USER_IN_GROUP = ErrorKind("USER_IN_GROUP", "already add")
    IMAGE_EXISTS = ErrorKind("IMAGE_EXISTS", "image existed")
    NOT_ENOUGH_IMAGES = ErrorKind("NOT_ENOUGH_IMAGES", "not enough images")
    IMAGE_FORMAT = ErrorKind("IMAGE_FORMAT", "image format error")
    PARAM_TOO_LONG = ErrorKind("PARAM_TOO_LONG", "param too long")
    IDENTITY_NOT_FOUND = ErrorKind("IDENTITY_NOT_FOUND", "user not exist")
    LIVENESS_FAILED = ErrorKind("LIVENESS_FAILED", "invalid param")
    # a task whose workers died every time they ran it (FACEGATE_MAX_DELIVERIES)
    TASK_ABANDONED = ErrorKind("TASK_ABANDONED", "fail to process images")


BY_NAME: dict[str, ErrorKind] = {
    value.name: value for value in vars(ERRORS).values() if isinstance(value, ErrorKind)
}


def job_not_found(job_id: str) -> FaceError:
    """The one answer for a job id that names no job of the caller's: unknown, expired or
    another app's alike, so it tells nobody that someone else's id exists."""
    return FaceError(ERRORS.JOB_NOT_FOUND, f"no job {job_id} (unknown or expired)")
