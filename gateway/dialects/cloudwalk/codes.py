"""CloudWalk's code table (CloudWalk face server API v1.24, "error codes"): each error kind of
the core (shared.errors) as `result` and `info`. Where the document has no exact case, the
closest code it lists (docs/api.md says which)."""

from __future__ import annotations

from shared.errors import ErrorKind

CODES: dict[str, tuple[int, str]] = {
    "APP_AUTH": (4096, "应用权限错误"),
    "TOKEN_INVALID": (4096, "应用权限错误"),
    "TOKEN_EXPIRED": (4096, "应用权限错误"),
    "PARAM_MISSING": (4097, "参数不完整"),
    "SYSTEM_BUSY": (4098, "系统忙"),
    "RPC": (4099, "RPC 通信错误"),
    "NOT_SUPPORTED": (4100, "操作不支持"),
    "PARAM_INVALID": (4101, "参数错误"),
    "SERVICE_ACCESS": (4102, "服务访问错误"),
    "ENGINE": (4105, "底层算法引擎错误"),
    "SYSTEM": (4112, "系统异常"),
    "RATE_LIMIT": (4117, "达到 TPS 上限"),
    "PROCESSING": (8454, "处理过程中出现错误或异常"),
    "NO_FACE": (8464, "没有检测到人脸"),
    "MULTIPLE_FACES": (8465, "检测到多个人脸"),
    "FACE_TOO_SMALL": (8466, "人脸太小"),
    "FACE_TOO_LARGE": (8467, "人脸太大"),
    "FACE_TOO_BRIGHT": (8480, "人脸太亮"),
    "FACE_TOO_DARK": (8481, "人脸太暗"),
    "FACE_BLURRED": (8482, "人脸图片模糊"),
    "IMAGE_QUALITY": (8496, "图片质量差"),
    "IMAGE_DECODE": (8497, "Base64 编码错误或图片原始数据错误"),
    "IMAGE_TOO_LARGE": (8498, "图片太大,最大尺寸 6000*4000"),
    "IMAGE_TOO_SMALL": (8499, "图片太小,最小尺寸 24*24"),
    "KEYPOINT": (8512, "获取关键点错误"),
    "FEATURE_EXTRACT": (8513, "提取特征错误"),
    "FEATURE_DATA": (8514, "特征数据错误"),
    "FEATURE_LENGTH": (8515, "特征长度错误"),
    "RECOGNITION": (8516, "人脸识别错误"),
    "COMPARE": (8517, "人脸比对错误"),
    "JOB_NOT_FOUND": (4100, "操作不支持"),
    "CLUSTER_NOT_FOUND": (4100, "操作不支持"),
    "FACE_ADD": (12289, "添加人脸错误"),
    "FACE_NOT_FOUND": (12292, "人脸不存在"),
    "FACE_EXISTS": (12294, "人脸已经存在"),
    "GROUP_CREATE": (12352, "创建组错误,可能组编号已经存在"),
    "GROUP_EXISTS": (12360, "组已经存在"),
    "GROUP_NOT_FOUND": (12357, "组不存在"),
    "GROUP_EMPTY": (12358, "组中没有人脸"),
    "GROUP_FULL": (12368, "组中人脸数到达上限"),
    "MODEL_MISMATCH": (12356, "组未建模"),
    "USER_NOT_FOUND": (12292, "人脸不存在"),
    "USER_ONE_GROUP": (4116, "操作错误"),
    "USER_IN_GROUP": (4116, "操作错误"),
    "IMAGE_EXISTS": (12294, "人脸已经存在"),
    "NOT_ENOUGH_IMAGES": (4097, "参数不完整"),
    "IMAGE_FORMAT": (8497, "Base64 编码错误或图片原始数据错误"),
    "PARAM_TOO_LONG": (4101, "参数错误"),
    "IDENTITY_NOT_FOUND": (12292, "人脸不存在"),
    "LIVENESS_FAILED": (8496, "图片质量差"),
    "TASK_ABANDONED": (8454, "处理过程中出现错误或异常"),
}


def cloudwalk_code(kind: ErrorKind) -> int:
    return CODES[kind.name][0]


def cloudwalk_info(kind: ErrorKind) -> str:
    return CODES[kind.name][1]
