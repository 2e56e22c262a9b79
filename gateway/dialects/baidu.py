"""Baidu face API v2 dialect (seed 002): /oauth/2.0/token and /rest/2.0/face/v2/*.

Requests are form-encoded with `access_token` in the query string, as Baidu's SDKs send them.
Every answer is HTTP 200 with `log_id`; success adds `result_num` / `result`, failure
`error_code` / `error_msg` (the seed's codes). Similarity scores are on Baidu's 0-100 scale (our
score x 100: 80 is the recommended same-person threshold, as Baidu recommends). This module has
the frame, the token endpoint and the image-only endpoints (detect, match, faceverify,
person/verify); the face library lives in baidu_faceset.py.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import usecases
from gateway.gallery_access import gallery_of
from gateway.inputs import image_input
from gateway.observe import record_error
from gateway.params import Params, integer, read_params, text
from shared.canonical import Face
from shared.errors import ERRORS, FaceError
from shared.idcard import validate_id_number, validate_name
from shared.models import ModelSpec
from shared.quality_gate import occlusion_limits

log = logging.getLogger("facegate.gateway")
PREFIX = "/rest/2.0/face/v2"
# Baidu's face_fields -> our analysis fields
FACE_FIELDS = {"age": "age", "beauty": "beauty", "expression": "expression",
               "faceshape": "face_shape", "gender": "gender", "glasses": "glasses",
               "landmark": "landmarks", "qualities": "quality", "faceliveness": "liveness"}
_GROUP = re.compile(r"^[A-Za-z0-9_]{1,48}$")
_UID = re.compile(r"^[A-Za-z0-9_]{1,128}$")


def log_id(request: Request) -> int:
    """Baidu's log_id is the request id (observe.py makes it a 63-bit number) when it is one,
    so a client's log_id finds the gateway's and the worker's log lines."""
    request_id = getattr(request.state, "request_id", "")
    if request_id.isdigit() and int(request_id) < 2**63:
        return int(request_id)
    return secrets.randbits(63)


def error_body(exc: FaceError, request_log: int) -> dict:
    message = exc.kind.baidu_message
    return {"error_code": exc.kind.baidu_code,
            "error_msg": f"{message}: {exc.detail}" if exc.detail else message,
            "log_id": request_log}


def endpoint(handler: Callable[[Request, Params], Awaitable[dict]]):
    async def route(request: Request) -> JSONResponse:
        state = request.app.state
        request_log = log_id(request)
        try:
            request.state.app_id = await state.auth.app_for_token(
                request.query_params.get("access_token", ""))
            params = await read_params(request, state.settings.max_body_bytes)
            body = {"log_id": request_log, **await handler(request, params)}
        except FaceError as exc:
            body = error_body(exc, request_log)
            record_error(request, exc.kind.baidu_code)
        except Exception:
            log.exception("baidu %s failed (log_id %d)", request.url.path, request_log)
            body = error_body(FaceError(ERRORS.SYSTEM), request_log)
            record_error(request, ERRORS.SYSTEM.baidu_code)
        return JSONResponse(body)

    return route


# parameters -------------------------------------------------------------------------------
def required(params: Params, name: str) -> str:
    value = text(params, name, required=False)
    if not value:
        raise FaceError(ERRORS.PARAM_MISSING, name)
    return value


def group_list(params: Params, name: str = "group_id") -> list[str]:
    groups = [g.strip() for g in required(params, name).split(",") if g.strip()]
    if not groups or not all(_GROUP.match(g) for g in groups):
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"{name}: letters, digits and _ only, at most 48 each, comma-separated")
    if len(",".join(groups).encode()) > 128 * 8:
        raise FaceError(ERRORS.PARAM_TOO_LONG, name)
    return list(dict.fromkeys(groups))


def uid_param(params: Params) -> str:
    uid = required(params, "uid")
    if not _UID.match(uid):
        raise FaceError(ERRORS.PARAM_INVALID, "uid: letters, digits and _ only, at most 128")
    return uid


def user_info_param(params: Params) -> str:
    info = required(params, "user_info")
    if len(info.encode()) > 256:
        raise FaceError(ERRORS.PARAM_INVALID, "user_info is over 256 bytes")
    return info


async def image_param(request: Request, params: Params, name: str = "image") -> bytes:
    if not params.get(name):
        raise FaceError(ERRORS.PARAM_MISSING, name)
    return await image_input(params, name, "", request.app.state.settings)


def field_list(params: Params, name: str, allowed: set[str]) -> list[str]:
    raw = text(params, name, required=False) or ""
    names = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in names if f not in allowed]
    if unknown:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name}: unknown {','.join(unknown)}")
    return names


def baidu_score(model: ModelSpec, cosine: float) -> float:
    return round(100.0 * model.score(cosine), 4)


# face rendering ---------------------------------------------------------------------------
def _points(points) -> list[dict]:
    return [{"x": round(float(x), 2), "y": round(float(y), 2)} for x, y in points]


def qualities(analysis: dict) -> dict:
    quality = analysis["quality"]
    return {"occlusion": quality["occlusion"], "blur": quality["blur"],
            "illumination": quality["illumination"], "completeness": quality["completeness"],
            "type": quality["type"]}


def face_result(face: Face, wanted: list[str]) -> dict:
    """One face as Baidu's detect / faceverify describe it."""
    x, y, w, h = face.box
    a = face.analysis
    pose = a.get("pose", {})
    out = {"location": {"left": x, "top": y, "width": w, "height": h},
           "face_probability": round(face.prob, 6),
           "rotation_angle": pose.get("rotation_angle", 0), "yaw": pose.get("yaw", 0.0),
           "pitch": pose.get("pitch", 0.0), "roll": pose.get("roll", 0.0)}
    if "age" in wanted:
        out["age"] = a["age"]
    if "beauty" in wanted:
        out["beauty"] = a["beauty"]
    if "expression" in wanted:
        out["expression"] = a["expression"]["value"]
        out["expression_probability"] = a["expression"]["probability"]
    if "faceshape" in wanted:
        out["faceshape"] = [{"type": k, "probability": v} for k, v in a["face_shape"].items()]
    if "gender" in wanted:
        out["gender"] = a["gender"]["value"]
        out["gender_probability"] = a["gender"]["probability"]
    if "glasses" in wanted:
        out["glasses"] = a["glasses"]["value"]
        out["glasses_probability"] = a["glasses"]["probability"]
    if "landmark" in wanted:
        out["landmark"] = _points(a["landmarks"]["points4"])
        out["landmark72"] = _points(a["landmarks"]["points72"])
    if "qualities" in wanted:
        out["qualities"] = qualities(a)
    if "faceliveness" in wanted:
        out["faceliveness"] = a["liveness"]["score"]
    return out


async def _analyse(request: Request, image: bytes, wanted: list[str], max_faces: int):
    fields = ["pose", *[FACE_FIELDS[f] for f in wanted]]
    return await usecases.run(request.app.state.dispatcher, usecases.ANALYSE, [image],
                              {"fields": list(dict.fromkeys(fields)), "max_faces": max_faces})


# endpoints --------------------------------------------------------------------------------
@endpoint
async def detect(request: Request, params: Params) -> dict:
    image = await image_param(request, params)
    max_faces = integer(params, "max_face_num", 1, high=10)
    wanted = field_list(params, "face_fields", set(FACE_FIELDS) - {"faceliveness"})
    result = await _analyse(request, image, wanted, max_faces)
    faces = [face_result(face, wanted) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


@endpoint
async def faceverify(request: Request, params: Params) -> dict:
    image = await image_param(request, params)
    max_faces = integer(params, "max_face_num", 1, high=10)
    wanted = field_list(params, "face_fields", {"qualities", "faceliveness"})
    result = await _analyse(request, image, wanted, max_faces)
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = [face_result(face, wanted) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


def _split_images(raw: str) -> list[str]:
    return [part for part in raw.split(",") if part.strip()]


@endpoint
async def match(request: Request, params: Params) -> dict:
    raw = required(params, "images")
    encoded = _split_images(raw)
    if len(encoded) < 2:
        raise FaceError(ERRORS.NOT_ENOUGH_IMAGES, "at least 2 images, comma-separated")
    if len(encoded) > 10:
        raise FaceError(ERRORS.PARAM_TOO_LONG, "at most 10 images")
    settings = request.app.state.settings
    images = [await image_input({"image": part}, "image", "", settings) for part in encoded]
    ext = field_list(params, "ext_fields", {"qualities"})
    liveness = [part.strip() == "faceliveness"
                for part in (text(params, "image_liveness", required=False) or "").split(",")]
    types = [t.strip() for t in (text(params, "types", required=False) or "").split(",")]
    fields = (["quality"] if ext else []) + (["liveness"] if any(liveness) else [])
    # type 12: a small ID photo with a watermark mesh: the mesh goes before the face is read
    clean = [i < len(types) and types[i] == "12" for i in range(len(images))]
    model, features = await usecases.run(request.app.state.dispatcher, usecases.FEATURES,
                                         images, {"fields": fields, "clean": clean})
    for index, feature in enumerate(features):
        if feature.error is not None:
            raise FaceError(feature.error.kind, f"image {index}: {feature.error.detail}"
                            if feature.error.detail else f"image {index}")
    pairs = []
    for i in range(len(features)):
        for j in range(i + 1, len(features)):
            cosine = float(features[i].face.embedding @ features[j].face.embedding)
            pairs.append({"index_i": i, "index_j": j, "score": baidu_score(model, cosine)})
    body = {"result_num": len(pairs), "result": pairs}
    info = {}
    if ext:
        info["qualities"] = [qualities(f.face.analysis) for f in features]
    if any(liveness):
        info["faceliveness"] = ",".join(
            str(f.face.analysis["liveness"]["score"]) if i < len(liveness) and liveness[i]
            else "" for i, f in enumerate(features))
    if info:
        body["ext_info"] = [info]
    return body


def _conf(params: Params, name: str) -> dict:
    raw = text(params, name, required=False)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be a JSON object")
    return value


@endpoint
async def person_verify(request: Request, params: Params) -> dict:
    """No police database here: the photo is compared with the identity photo an operator
    registered for this ID number (POST /v1/identities). `result` is the similarity in [0, 1]
    (0.8 recommended, as Baidu's)."""
    number = validate_id_number(required(params, "id_card_number"))
    name = validate_name(required(params, "name"))
    image = await image_param(request, params)
    check_quality = text(params, "quality", required=False) == "use"
    check_live = text(params, "faceliveness", required=False) == "use"
    ext = field_list(params, "ext_fields", {"qualities", "faceliveness"})
    identity = await gallery_of(request).identity(request.state.app_id, number)
    if identity.name != name:
        raise FaceError(ERRORS.PARAM_INVALID, "name does not match the id_card_number")
    fields = []
    if check_quality or "qualities" in ext:
        fields.append("quality")
    if check_live or "faceliveness" in ext:
        fields.append("liveness")
    model, [feature] = await usecases.run(request.app.state.dispatcher, usecases.FEATURES,
                                          [image], {"fields": fields})
    if feature.error is not None:
        raise feature.error
    analysis = feature.face.analysis
    if check_quality:
        # the client's quality_conf, else the enrolment gate's thresholds (Baidu's by default)
        settings = request.app.state.settings
        limits = {**occlusion_limits(settings), "blur": settings.gate_max_blur,
                  "illumination": settings.gate_min_illumination,
                  **_conf(params, "quality_conf")}
        quality = analysis["quality"]
        for region, value in quality["occlusion"].items():
            if value > float(limits.get(region, 1.0)):
                raise FaceError(ERRORS.IMAGE_QUALITY, f"{region} occluded ({value:.2f})")
        if quality["blur"] > float(limits["blur"]):
            raise FaceError(ERRORS.FACE_BLURRED, f"blur {quality['blur']:.2f}")
        if quality["illumination"] < float(limits["illumination"]):
            raise FaceError(ERRORS.FACE_TOO_DARK, f"illumination {quality['illumination']}")
    if check_live:
        threshold = float(_conf(params, "faceliveness_conf").get(
            "faceliveness", request.app.state.settings.liveness_threshold))
        if analysis["liveness"]["score"] < threshold:
            raise FaceError(ERRORS.LIVENESS_FAILED,
                            f"faceliveness {analysis['liveness']['score']} < {threshold}")
    if identity.model != model.code:
        raise FaceError(ERRORS.MODEL_MISMATCH, "the identity photo comes from another model")
    body = {"result": round(model.score(float(identity.vector @ feature.face.embedding)), 6)}
    info = {}
    if "faceliveness" in ext:
        info["faceliveness"] = analysis["liveness"]["score"]
    if "qualities" in ext:
        info["qualities"] = qualities(analysis)
    if info:
        body["ext_info"] = info
    return body


async def token(request: Request) -> JSONResponse:
    """OAuth 2.0 client credentials, as Baidu's SDKs call it (GET or POST, query or form)."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    if params.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type",
                             "error_description": "The authorization grant type is not "
                                                  "supported"}, status_code=400)
    auth = request.app.state.auth
    try:
        access_token, ttl = await auth.issue_token(params.get("client_id", ""),
                                                   params.get("client_secret", ""))
    except FaceError:
        return JSONResponse({"error": "invalid_client",
                             "error_description": "unknown client id or wrong secret"},
                            status_code=401)
    return JSONResponse({"access_token": access_token, "expires_in": ttl,
                         "scope": "brain_all_scope facegate", "session_key": "",
                         "session_secret": "", "refresh_token": ""})


def _routes() -> list[Route]:
    from gateway.dialects import baidu_faceset

    post = ["POST"]
    return [
        Route("/oauth/2.0/token", token, methods=["GET", "POST"]),
        Route(f"{PREFIX}/detect", detect, methods=post),
        Route(f"{PREFIX}/match", match, methods=post),
        Route(f"{PREFIX}/faceverify", faceverify, methods=post),
        Route(f"{PREFIX}/person/verify", person_verify, methods=post),
        *baidu_faceset.routes(PREFIX),
        Route(PREFIX + "/{rest:path}", endpoint(_unsupported), methods=["GET", "POST"]),
    ]


async def _unsupported(request: Request, params: Params) -> dict:
    raise FaceError(ERRORS.NOT_SUPPORTED, request.url.path)


routes = _routes()
