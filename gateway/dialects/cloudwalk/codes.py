"""CloudWalk's code table (CloudWalk face server API v1.24, "error codes"): each error kind of
the core (shared.errors) as a `result` code. Where the document has no exact case, the closest
code it lists (docs/api.md says which).

`info` belongs to the code, not to the kind: the document gives one description per code
(section 2.12, "错误描述"), printed as it is, so each is written once, in INFO, and every kind
that answers with a code answers with its text.
"""

from __future__ import annotations

from shared.errors import ERRORS, ErrorKind

# Section 2.12's description of each code this service answers with
INFO: dict[int, str] = {
    4096: "应用权限错误",
    4097: "参数不完整",
    4098: "系统忙",
    4099: "RPC 通信错误",
    4100: "操作不支持",
    4101: "参数错误",
    4102: "服务访问错误",
    4105: "底层算法引擎错误",
    4112: "系统异常",
    4116: "操作错误",
    4117: "达到 TPS 上限",
    8454: "处理过程中出现错误或异常",
    8464: "没有检测到人脸",
    8465: "检测到多个人脸",
    8466: "人脸太小",
    8467: "人脸太大",
    8480: "人脸太亮",
    8481: "人脸太暗",
    8482: "人脸图片模糊",
    8496: "图片质量差",
    8497: "Base64 编码错误或图片原始数据错误",
    8498: "图片太大,最大尺寸 6000*4000",
    8499: "图片太小,最小尺寸 24*24",
    8512: "获取关键点错误",
    8513: "提取特征错误",
    8514: "特征数据错误",
    8515: "特征长度错误",
    8516: "人脸识别错误",
    8517: "人脸比对错误",
    12289: "添加人脸错误",
    12292: "人脸不存在",
    12294: "人脸已经存在",
    12352: "创建组错误,可能组编号已经存在",
    12356: "组未建模",
    12357: "组不存在",
    12358: "组中没有人脸",
    12360: "组已经存在",
    12368: "组中人脸数到达上限",
}

RESULT_CODES: dict[ErrorKind, int] = {
    ERRORS.APP_AUTH: 4096,
    ERRORS.TOKEN_INVALID: 4096,
    ERRORS.TOKEN_EXPIRED: 4096,
    ERRORS.PARAM_MISSING: 4097,
    ERRORS.SYSTEM_BUSY: 4098,
    ERRORS.RPC: 4099,
    ERRORS.NOT_SUPPORTED: 4100,
    ERRORS.PARAM_INVALID: 4101,
    ERRORS.SERVICE_ACCESS: 4102,
    ERRORS.ENGINE: 4105,
    ERRORS.SYSTEM: 4112,
    ERRORS.RATE_LIMIT: 4117,
    ERRORS.PROCESSING: 8454,
    ERRORS.NO_FACE: 8464,
    ERRORS.MULTIPLE_FACES: 8465,
    ERRORS.FACE_TOO_SMALL: 8466,
    ERRORS.FACE_TOO_LARGE: 8467,
    ERRORS.FACE_TOO_BRIGHT: 8480,
    ERRORS.FACE_TOO_DARK: 8481,
    ERRORS.FACE_BLURRED: 8482,
    ERRORS.IMAGE_QUALITY: 8496,
    ERRORS.IMAGE_DECODE: 8497,
    ERRORS.IMAGE_TOO_LARGE: 8498,
    ERRORS.IMAGE_TOO_SMALL: 8499,
    ERRORS.KEYPOINT: 8512,
    ERRORS.FEATURE_EXTRACT: 8513,
    ERRORS.FEATURE_DATA: 8514,
    ERRORS.FEATURE_LENGTH: 8515,
    ERRORS.RECOGNITION: 8516,
    ERRORS.COMPARE: 8517,
    ERRORS.JOB_NOT_FOUND: 4100,
    ERRORS.CLUSTER_NOT_FOUND: 4100,
    ERRORS.FACE_ADD: 12289,
    ERRORS.FACE_NOT_FOUND: 12292,
    ERRORS.FACE_EXISTS: 12294,
    ERRORS.GROUP_CREATE: 12352,
    ERRORS.GROUP_EXISTS: 12360,
    ERRORS.GROUP_NOT_FOUND: 12357,
    ERRORS.GROUP_EMPTY: 12358,
    ERRORS.GROUP_FULL: 12368,
    ERRORS.MODEL_MISMATCH: 12356,
    ERRORS.USER_NOT_FOUND: 12292,
    ERRORS.USER_ONE_GROUP: 4116,
    ERRORS.USER_IN_GROUP: 4116,
    ERRORS.IMAGE_EXISTS: 12294,
    ERRORS.NOT_ENOUGH_IMAGES: 4097,
    ERRORS.IMAGE_FORMAT: 8497,
    ERRORS.PARAM_TOO_LONG: 4101,
    ERRORS.IDENTITY_NOT_FOUND: 12292,
    ERRORS.LIVENESS_FAILED: 8496,
    ERRORS.TASK_ABANDONED: 8454,
}

# The pair each kind prints (result, info), by kind name: for readers that want both (the
# dashboards' test, the load test); derived, not another copy.
CODES: dict[str, tuple[int, str]] = {
    kind.name: (code, INFO[code]) for kind, code in RESULT_CODES.items()}


def cloudwalk_code(kind: ErrorKind) -> int:
    return RESULT_CODES[kind]


def cloudwalk_info(kind: ErrorKind) -> str:
    return INFO[RESULT_CODES[kind]]
