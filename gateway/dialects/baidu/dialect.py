"""Baidu's frame (Baidu face API v2, as its PHP SDK 2.2.2 calls it): `access_token` in the
query string (from /oauth/2.0/token), form-encoded parameters, and every answer HTTP 200 with
`log_id`; success adds `result_num` / `result`, failure `error_code` / `error_msg`. Similarity
scores are on Baidu's 0-100 scale (the core's score x 100: 80 is the recommended same-person
threshold, as Baidu recommends). Also the parameter readers and face rendering the endpoints
share."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.dialects.baidu.codes import baidu_code, baidu_message
from gateway.frame import Gateway, client_address
from gateway.inputs import image_input
from services.recognition import catalogue
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.images import DOCUMENT_LIMIT, SizeLimit, native_limit
from shared.results import FaceAnalysis, FaceResult
from shared.settings import Settings

# Baidu's face_fields -> our analysis fields
FACE_FIELDS = {"age": "age", "beauty": "beauty", "expression": "expression",
               "faceshape": "face_shape", "gender": "gender", "glasses": "glasses",
               "landmark": "landmarks", "qualities": "quality", "faceliveness": "liveness"}
# Listed by the PHP SDK's documentation of detect but not estimated here: accepted, and left
# out of the reply (docs/api.md), so a client passing the documented list still works.
ACCEPTED_NOT_RETURNED = {"race"}
MAX_BASE64 = 4 * 2**20  # Baidu face API v2: "图片大小不超过4M", the base64 text
MAX_EDGE = 4096  # and the longest edge
BAIDU_GROUP_LONGEST = 48  # Baidu face API v2: group_id at most 48 characters
_UID = re.compile(r"^[A-Za-z0-9_]{1,128}$")


def log_id(request: Request) -> int:
    """Baidu's log_id is the request id (observe.py makes it a 63-bit number) when it is one,
    so a client's log_id finds the gateway's and the worker's log lines."""
    request_id = getattr(request.state, "request_id", "")
    if request_id.isdigit() and int(request_id) < 2**63:
        return int(request_id)
    return secrets.randbits(63)


class Baidu:
    name = "baidu"

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        request.state.log_id = log_id(request)
        token = request.query_params.get("access_token", "")
        if not token and request.headers.get("authorization", "").startswith("bce-auth-v1/"):
            # Baidu's SDKs sign with IAM (bce-auth-v1) when they could not get a token, e.g.
            # after a wrong secret key: answer as Baidu does, with its IAM error (14)
            raise FaceError(ERRORS.APP_AUTH, "IAM signatures are not accepted here: get an "
                            "access_token from /oauth/2.0/token (check the API key and secret)")
        return await gateway.auth.app_for_token(token, client_address(request))

    def success(self, request: Request, answer: dict) -> JSONResponse:
        return JSONResponse({"log_id": request.state.log_id, **answer})

    def failure(self, request: Request, exc: FaceError) -> JSONResponse:
        message = baidu_message(exc.kind)
        return JSONResponse({"error_code": baidu_code(exc.kind),
                             "error_msg": f"{message}: {exc.detail}" if exc.detail else message,
                             "log_id": getattr(request.state, "log_id", None) or log_id(request)})

    def code(self, kind: ErrorKind) -> int:
        return baidu_code(kind)


# parameters -------------------------------------------------------------------------------
def _groups(value: Any, info: ValidationInfo) -> list[str]:
    """One group name or more, comma-separated: each the core's rule at Baidu's length."""
    name = info.field_name or "group_id"
    if not isinstance(value, str):
        raise FaceError(ERRORS.PARAM_INVALID, f"{name}: group names, comma-separated")
    groups = [g.strip() for g in value.split(",") if g.strip()]
    if not groups:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name}: one or more group names, "
                        "comma-separated")
    for group in groups:
        catalogue.group_name(group, f"{name} (comma-separated; each)", BAIDU_GROUP_LONGEST)
    if len(",".join(groups).encode()) > 128 * 8:
        raise FaceError(ERRORS.PARAM_TOO_LONG, name)
    return list(dict.fromkeys(groups))


def _uid(value: Any) -> str:
    if not isinstance(value, str) or not _UID.match(value):
        raise FaceError(ERRORS.PARAM_INVALID, "uid: letters, digits and _ only, at most 128")
    return value


def _user_info(value: Any) -> str:
    if not isinstance(value, str) or len(value.encode()) > 256:
        raise FaceError(ERRORS.PARAM_INVALID, "user_info is text of at most 256 bytes")
    return value


_ONE_GROUP = rf"[A-Za-z0-9_]{{1,{BAIDU_GROUP_LONGEST}}}"
GroupIds = Annotated[list[str], BeforeValidator(_groups), WithJsonSchema({
    "type": "string", "maxLength": 1024, "pattern": rf"^{_ONE_GROUP}(,{_ONE_GROUP})*$",
    "description": f"group names (letters, digits, _; at most {BAIDU_GROUP_LONGEST} each), "
                   "comma-separated"})]
Uid = Annotated[str, BeforeValidator(_uid), WithJsonSchema({
    "type": "string", "pattern": _UID.pattern, "description": "the user's id"})]
UserInfo = Annotated[str, BeforeValidator(_user_info), WithJsonSchema({
    "type": "string", "maxLength": 256, "description": "at most 256 bytes (UTF-8)"})]
# the image as base64 (Baidu's SDKs send forms): its 4 MB bound is checked by image_param
Base64Image = Annotated[str, WithJsonSchema({
    "type": "string", "contentEncoding": "base64", "maxLength": MAX_BASE64,
    "description": "the image as base64: at most 4 MB, its longest edge at most 4096 px"})]


async def image_param(settings: Settings, sent: str) -> bytes:
    """A base64 image within Baidu's own limits (baidu_limit), read once."""
    if settings.vendor_image_limits and len(sent) > MAX_BASE64:
        raise FaceError(ERRORS.IMAGE_TOO_LARGE, f"the image's base64 is {len(sent)} bytes, "
                        f"at most {MAX_BASE64} (4 MB)")
    return await image_input(sent, None, settings, baidu_limit(settings), "image")


def baidu_limit(settings: Settings) -> SizeLimit:
    """Baidu's own bound, stricter than the service's: the longest edge at most 4096 px within
    the vendors' 6000 x 4000 (216202); FACEGATE_VENDOR_IMAGE_LIMITS=false relaxes it to the
    native bound (FACEGATE_MAX_PIXELS)."""
    if not settings.vendor_image_limits:
        return native_limit(settings)
    return SizeLimit(MAX_EDGE, DOCUMENT_LIMIT.max_short)


def baidu_score(score: float) -> float:
    """The core's [0, 1] score on Baidu's 0-100 scale."""
    return round(100.0 * score, 4)


# face rendering ---------------------------------------------------------------------------
def _points(points) -> list[dict]:
    return [{"x": round(float(x), 2), "y": round(float(y), 2)} for x, y in points]


def qualities(analysis: FaceAnalysis) -> dict:
    quality = analysis.quality
    return {"occlusion": quality.occlusion.model_dump(), "blur": quality.blur,
            "illumination": quality.illumination, "completeness": quality.completeness,
            "type": quality.type.model_dump()}


def face_result(face: FaceResult, wanted: list[str]) -> dict:
    """One face as Baidu's detect / faceverify describe it."""
    x, y, w, h = face.box
    a = face.analysis
    pose = a.pose
    out = {"location": {"left": x, "top": y, "width": w, "height": h},
           "face_probability": round(face.prob, 6),
           "rotation_angle": pose.rotation_angle if pose else 0,
           "yaw": pose.yaw if pose else 0.0, "pitch": pose.pitch if pose else 0.0,
           "roll": pose.roll if pose else 0.0}
    if "age" in wanted:
        out["age"] = a.age
    if "beauty" in wanted:
        out["beauty"] = a.beauty
    if "expression" in wanted:
        out["expression"] = a.expression.value
        out["expression_probability"] = a.expression.probability
    if "faceshape" in wanted:
        out["faceshape"] = [{"type": k, "probability": v}
                            for k, v in a.face_shape.model_dump().items()]
    if "gender" in wanted:
        out["gender"] = a.gender.value
        out["gender_probability"] = a.gender.probability
    if "glasses" in wanted:
        out["glasses"] = a.glasses.value
        out["glasses_probability"] = a.glasses.probability
    if "landmark" in wanted:
        out["landmark"] = _points(a.landmarks.points4)
        out["landmark72"] = _points(a.landmarks.points72)
    if "qualities" in wanted:
        out["qualities"] = qualities(a)
    if "faceliveness" in wanted:
        out["faceliveness"] = a.liveness.score
    return out
