"""The one error catalogue. Every layer raises FaceError(ERRORS.X); dialects pick the number.

Each entry carries its CloudWalk code and message (seed section 2.12) and its Baidu v2 code and
message, so a third dialect adds a column here and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorKind:
    name: str
    cloudwalk_code: int
    cloudwalk_message: str
    baidu_code: int
    baidu_message: str
    http_status: int = 200  # both dialects answer errors with HTTP 200 and a code in the body


class FaceError(Exception):
    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind.name}: {detail}" if detail else kind.name)
        self.kind = kind
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        """The form that crosses the queue."""
        return {"error": self.kind.name, "detail": self.detail}

    def describe(self) -> dict:
        """A dialect-neutral description: the error's name, its numbers, a message."""
        return {"code": self.kind.name, "cloudwalk_code": self.kind.cloudwalk_code,
                "baidu_code": self.kind.baidu_code,
                "message": self.detail or self.kind.baidu_message}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> FaceError:
        return cls(BY_NAME[data["error"]], data.get("detail", ""))


def _kind(name: str, cw: int, cw_msg: str, bd: int, bd_msg: str, http: int = 200) -> ErrorKind:
    return ErrorKind(name, cw, cw_msg, bd, bd_msg, http)


class ERRORS:
    APP_AUTH = _kind("APP_AUTH", 4096, "应用权限错误", 14, "IAM Certification failed", 401)
    TOKEN_INVALID = _kind("TOKEN_INVALID", 4096, "应用权限错误", 110,
                          "Access token invalid or no longer valid", 401)
    TOKEN_EXPIRED = _kind("TOKEN_EXPIRED", 4096, "应用权限错误", 111, "Access token expired", 401)
    PARAM_MISSING = _kind("PARAM_MISSING", 4097, "参数不完整", 216101, "not enough param", 400)
    SYSTEM_BUSY = _kind("SYSTEM_BUSY", 4098, "系统忙", 216401, "internal error", 503)
    RPC = _kind("RPC", 4099, "RPC 通信错误", 216400, "backend error", 502)
    NOT_SUPPORTED = _kind("NOT_SUPPORTED", 4100, "操作不支持", 216102, "service not support", 404)
    PARAM_INVALID = _kind("PARAM_INVALID", 4101, "参数错误", 216100, "invalid param", 400)
    SERVICE_ACCESS = _kind("SERVICE_ACCESS", 4102, "服务访问错误", 216400, "backend error", 502)
    ENGINE = _kind("ENGINE", 4105, "底层算法引擎错误", 216400, "backend error", 500)
    SYSTEM = _kind("SYSTEM", 4112, "系统异常", 216401, "internal error", 500)
    RATE_LIMIT = _kind("RATE_LIMIT", 4117, "达到 TPS 上限", 18,
                       "Open api qps request limit reached", 429)
    PROCESSING = _kind("PROCESSING", 8454, "处理过程中出现错误或异常", 216615,
                       "fail to process images", 500)
    NO_FACE = _kind("NO_FACE", 8464, "没有检测到人脸", 216402, "face not found", 422)
    MULTIPLE_FACES = _kind("MULTIPLE_FACES", 8465, "检测到多个人脸", 216100, "invalid param", 422)
    FACE_TOO_SMALL = _kind("FACE_TOO_SMALL", 8466, "人脸太小", 216100, "invalid param", 422)
    FACE_TOO_LARGE = _kind("FACE_TOO_LARGE", 8467, "人脸太大", 216100, "invalid param", 422)
    FACE_TOO_BRIGHT = _kind("FACE_TOO_BRIGHT", 8480, "人脸太亮", 216100, "invalid param", 422)
    FACE_TOO_DARK = _kind("FACE_TOO_DARK", 8481, "人脸太暗", 216100, "invalid param", 422)
    FACE_BLURRED = _kind("FACE_BLURRED", 8482, "人脸图片模糊", 216100, "invalid param", 422)
    IMAGE_QUALITY = _kind("IMAGE_QUALITY", 8496, "图片质量差", 216100, "invalid param", 422)
    IMAGE_DECODE = _kind("IMAGE_DECODE", 8497, "Base64 编码错误或图片原始数据错误", 216200,
                         "empty image", 400)
    IMAGE_TOO_LARGE = _kind("IMAGE_TOO_LARGE", 8498, "图片太大,最大尺寸 6000*4000", 216202,
                            "image size error", 400)
    IMAGE_TOO_SMALL = _kind("IMAGE_TOO_SMALL", 8499, "图片太小,最小尺寸 24*24", 216202,
                            "image size error", 400)
    KEYPOINT = _kind("KEYPOINT", 8512, "获取关键点错误", 216400, "backend error", 500)
    FEATURE_EXTRACT = _kind("FEATURE_EXTRACT", 8513, "提取特征错误", 216400, "backend error", 500)
    FEATURE_DATA = _kind("FEATURE_DATA", 8514, "特征数据错误", 216100, "invalid param", 400)
    FEATURE_LENGTH = _kind("FEATURE_LENGTH", 8515, "特征长度错误", 216100, "invalid param", 400)
    RECOGNITION = _kind("RECOGNITION", 8516, "人脸识别错误", 216400, "backend error", 500)
    COMPARE = _kind("COMPARE", 8517, "人脸比对错误", 216400, "backend error", 500)
    JOB_NOT_FOUND = _kind("JOB_NOT_FOUND", 4100, "操作不支持", 216102, "service not support", 404)
    FACE_ADD = _kind("FACE_ADD", 12289, "添加人脸错误", 216617, "fail to add user", 500)
    FACE_NOT_FOUND = _kind("FACE_NOT_FOUND", 12292, "人脸不存在", 216611, "user not exist", 404)
    FACE_EXISTS = _kind("FACE_EXISTS", 12294, "人脸已经存在", 216616, "image existed", 409)
    GROUP_CREATE = _kind("GROUP_CREATE", 12352, "创建组错误,可能组编号已经存在", 216100,
                         "invalid param", 409)
    GROUP_EXISTS = _kind("GROUP_EXISTS", 12360, "组已经存在", 216100, "invalid param", 409)
    GROUP_NOT_FOUND = _kind("GROUP_NOT_FOUND", 12357, "组不存在", 216618, "no user in group", 404)
    GROUP_EMPTY = _kind("GROUP_EMPTY", 12358, "组中没有人脸", 216618, "no user in group", 422)
    GROUP_FULL = _kind("GROUP_FULL", 12368, "组中人脸数到达上限", 216631,
                       "request add user overlimit", 422)
    MODEL_MISMATCH = _kind("MODEL_MISMATCH", 12356, "组未建模", 216100, "invalid param", 409)
    # Baidu users (faceset/user/*, group/*) and the identity registry (person/verify)
    USER_NOT_FOUND = _kind("USER_NOT_FOUND", 12292, "人脸不存在", 216611, "user not exist", 404)
    USER_ONE_GROUP = _kind("USER_ONE_GROUP", 4116, "操作错误", 216619,
                           "user must be in one group at least", 409)
    USER_IN_GROUP = _kind("USER_IN_GROUP", 4116, "操作错误", 216100, "already add", 409)
    IMAGE_EXISTS = _kind("IMAGE_EXISTS", 12294, "人脸已经存在", 216616, "image existed", 409)
    NOT_ENOUGH_IMAGES = _kind("NOT_ENOUGH_IMAGES", 4097, "参数不完整", 216614,
                              "not enough images", 400)
    IMAGE_FORMAT = _kind("IMAGE_FORMAT", 8497, "Base64 编码错误或图片原始数据错误", 216201,
                         "image format error", 400)
    PARAM_TOO_LONG = _kind("PARAM_TOO_LONG", 4101, "参数错误", 216103, "param too long", 400)
    IDENTITY_NOT_FOUND = _kind("IDENTITY_NOT_FOUND", 12292, "人脸不存在", 216611,
                               "user not exist", 404)
    LIVENESS_FAILED = _kind("LIVENESS_FAILED", 8496, "图片质量差", 216100, "invalid param", 422)


BY_NAME: dict[str, ErrorKind] = {
    value.name: value for value in vars(ERRORS).values() if isinstance(value, ErrorKind)
}
