"""Baidu face API v2's image-only calls: detect, match, faceverify and person/verify."""

from __future__ import annotations

import json

from starlette.requests import Request

from gateway.dialects.baidu.dialect import (
    ACCEPTED_NOT_RETURNED,
    FACE_FIELDS,
    baidu_score,
    face_result,
    field_list,
    image_param,
    qualities,
    required,
)
from gateway.params import Params, integer, text
from services.recognition import catalogue, vision
from services.recognition.context import Recognition
from services.recognition.scoring import cosine_score, stored_score
from shared import quality_gate
from shared.errors import ERRORS, FaceError
from shared.quality_gate import GateLimits
from shared.resident_id import validate_id_number, validate_name
from shared.settings import OCCLUSION_REGIONS


async def _analyse(ctx: Recognition, image: bytes, wanted: list[str], max_faces: int):
    fields = ["pose", *[FACE_FIELDS[f] for f in wanted if f in FACE_FIELDS]]
    return await vision.run(ctx.queue, vision.ANALYSE, [image],
                            {"fields": list(dict.fromkeys(fields)), "max_faces": max_faces})


async def detect(ctx: Recognition, request: Request, params: Params) -> dict:
    image = await image_param(ctx.settings, params)
    max_faces = integer(params, "max_face_num", 1, high=10)
    wanted = field_list(params, "face_fields",
                        (set(FACE_FIELDS) - {"faceliveness"}) | ACCEPTED_NOT_RETURNED)
    result = await _analyse(ctx, image, wanted, max_faces)
    faces = [face_result(face, wanted) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


async def faceverify(ctx: Recognition, request: Request, params: Params) -> dict:
    image = await image_param(ctx.settings, params)
    max_faces = integer(params, "max_face_num", 1, high=10)
    wanted = field_list(params, "face_fields", {"qualities", "faceliveness"})
    result = await _analyse(ctx, image, wanted, max_faces)
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = [face_result(face, wanted) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


def _split_images(raw: str) -> list[str]:
    return [part for part in raw.split(",") if part.strip()]


async def match(ctx: Recognition, request: Request, params: Params) -> dict:
    raw = required(params, "images")
    encoded = _split_images(raw)
    if len(encoded) < 2:
        raise FaceError(ERRORS.NOT_ENOUGH_IMAGES, "at least 2 images, comma-separated")
    if len(encoded) > 10:
        raise FaceError(ERRORS.PARAM_TOO_LONG, "at most 10 images")
    settings = ctx.settings
    images = [await image_param(settings, {"image": part}) for part in encoded]
    ext = field_list(params, "ext_fields", {"qualities"})
    liveness = [part.strip() == "faceliveness"
                for part in (text(params, "image_liveness", required=False) or "").split(",")]
    types = [t.strip() for t in (text(params, "types", required=False) or "").split(",")]
    fields = (["quality"] if ext else []) + (["liveness"] if any(liveness) else [])
    # type 12: a small ID photo with a watermark mesh: the mesh goes before the face is read
    clean = [i < len(types) and types[i] == "12" for i in range(len(images))]
    model, features = await vision.run(ctx.queue, vision.EMBED_EACH_IMAGE, images,
                                       {"fields": fields, "clean": clean})
    for index, feature in enumerate(features):
        if feature.error is not None:
            raise FaceError(feature.error.kind, f"image {index}: {feature.error.detail}"
                            if feature.error.detail else f"image {index}")
    pairs = []
    for i in range(len(features)):
        for j in range(i + 1, len(features)):
            score = cosine_score(model, features[i].face.embedding, features[j].face.embedding)
            pairs.append({"index_i": i, "index_j": j, "score": baidu_score(score)})
    body = {"result_num": len(pairs), "result": pairs}
    info = {}
    if ext:  # a string, as the document types it: the JSON of one object per image
        info["qualities"] = json.dumps([qualities(f.face.analysis) for f in features])
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


def _quality_limits(ctx: Recognition, params: Params) -> GateLimits:
    """person/verify's quality=use: the client's quality_conf (Baidu face API v2: a threshold
    per occlusion region, blur and illumination), the rest from the enrolment gate. Only those
    checks: Baidu's person/verify does not judge size or pose."""
    base = quality_gate.limits(ctx.settings)
    occlusion, blur, light = dict(base.occlusion), base.max_blur, base.min_illumination
    for key, value in _conf(params, "quality_conf").items():
        high = 255.0 if key == "illumination" else 1.0
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not 0.0 <= value <= high:
            raise FaceError(ERRORS.PARAM_INVALID,
                            f"quality_conf: {key} must be a number from 0 to {high:g}")
        if key == "blur":
            blur = float(value)
        elif key == "illumination":
            light = float(value)
        elif key in OCCLUSION_REGIONS:
            occlusion[key] = float(value)
        else:
            raise FaceError(ERRORS.PARAM_INVALID, f"quality_conf: unknown field {key} (blur, "
                            f"illumination, {', '.join(OCCLUSION_REGIONS)})")
    return GateLimits(min_illumination=light, max_blur=blur, occlusion=occlusion)


async def person_verify(ctx: Recognition, request: Request, params: Params) -> dict:
    """No police database here: the photo is compared with the identity photo an operator
    registered for this ID number (POST /v1/identities). `result` is the similarity in [0, 1]
    (0.8 recommended, as Baidu's)."""
    number = validate_id_number(required(params, "id_card_number"))
    name = validate_name(required(params, "name"))
    image = await image_param(ctx.settings, params)
    check_quality = text(params, "quality", required=False) == "use"
    check_live = text(params, "faceliveness", required=False) == "use"
    ext = field_list(params, "ext_fields", {"qualities", "faceliveness"})
    identity = await catalogue.identity(ctx, request.state.app_id, number)
    if identity.name != name:
        raise FaceError(ERRORS.PARAM_INVALID, "name does not match the id_card_number")
    fields = []
    if check_quality or "qualities" in ext:
        fields.append("quality")
    if check_live or "faceliveness" in ext:
        fields.append("liveness")
    model, [feature] = await vision.run(ctx.queue, vision.EMBED_EACH_IMAGE, [image],
                                        {"fields": fields})
    if feature.error is not None:
        raise feature.error
    analysis = feature.face.analysis
    if check_quality:
        quality_gate.enforce(feature.face.box, analysis, 0, _quality_limits(ctx, params))
    if check_live:
        threshold = float(_conf(params, "faceliveness_conf").get(
            "faceliveness", ctx.settings.liveness_threshold))
        if analysis["liveness"]["score"] < threshold:
            raise FaceError(ERRORS.LIVENESS_FAILED,
                            f"faceliveness {analysis['liveness']['score']} < {threshold}")
    score = stored_score(model, identity.model, identity.vector, feature.face.embedding,
                         "the identity photo")
    body = {"result": round(score, 6)}
    info = {}
    if "faceliveness" in ext:
        info["faceliveness"] = analysis["liveness"]["score"]
    if "qualities" in ext:
        info["qualities"] = qualities(analysis)
    if info:
        body["ext_info"] = info
    return body


HANDLERS = {
    "/detect": detect,
    "/match": match,
    "/faceverify": faceverify,
    "/person/verify": person_verify,
}
