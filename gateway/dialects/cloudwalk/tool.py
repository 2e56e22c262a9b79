"""CloudWalk's face tools (CloudWalk face server API v1.24, sections "detect" to
"removeWater"): /face/tool/*."""

from __future__ import annotations

import base64

from starlette.requests import Request

from gateway.dialects.cloudwalk.dialect import face_box, image_param, score_value
from gateway.params import Params, flag, text
from services.recognition import vision
from services.recognition.context import Recognition
from services.recognition.scoring import feature_similarity
from shared.errors import ERRORS, FaceError
from shared.features import from_base64, to_base64


async def detect(ctx: Recognition, request: Request, params: Params) -> dict:
    crops = flag(params, "mode")
    result = await vision.run(ctx.queue, vision.DETECT,
                              [await image_param(ctx.settings, params)], {"crops": crops})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = []
    for face in result.image.faces:
        encoded = base64.b64encode(face.crop).decode() if crops and face.crop else "null"
        faces.append({**face_box(face), "img": encoded})
    return {"faces": faces}


async def feature(ctx: Recognition, request: Request, params: Params) -> dict:
    result = await vision.run(ctx.queue, vision.EMBED_LARGEST_FACE,
                              [await image_param(ctx.settings, params)])
    return {"feature": to_base64(result.model, result.face.embedding)}


async def _pair(ctx: Recognition, params: Params) -> list[bytes]:
    return [await image_param(ctx.settings, params, "imgA", "urlA"),
            await image_param(ctx.settings, params, "imgB", "urlB")]


async def compare(ctx: Recognition, request: Request, params: Params) -> dict:
    result = await vision.run(ctx.queue, vision.COMPARE, await _pair(ctx, params))
    return {"score": score_value(result.score)}


async def compare_ext1(ctx: Recognition, request: Request, params: Params) -> dict:
    result = await vision.run(ctx.queue, vision.COMPARE_MANY, await _pair(ctx, params))
    return {"score": score_value(result.score),
            "faces": [{"score": score_value(score), **face_box(face)}
                      for face, score in result.faces]}


async def similarity_by_feature(ctx: Recognition, request: Request, params: Params) -> dict:
    a, b = text(params, "featureA"), text(params, "featureB")
    score = feature_similarity(from_base64(a), from_base64(b))
    return {"score": score_value(score)}


async def _analyse(ctx: Recognition, params: Params, fields: list[str]) -> vision.AnalyseResult:
    result = await vision.run(ctx.queue, vision.ANALYSE, [await image_param(ctx.settings, params)],
                              {"fields": fields})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    return result


async def attribute(ctx: Recognition, request: Request, params: Params) -> dict:
    """age (string, years) and gender (string, -1 female / 1 male) per face."""
    result = await _analyse(ctx, params, ["age", "gender"])
    return {"faces": [{**face_box(face), "age": str(round(face.analysis["age"])),
                       "gender": "1" if face.analysis["gender"]["value"] == "male" else "-1"}
                      for face in result.image.faces]}


async def keypt(ctx: Recognition, request: Request, params: Params) -> dict:
    """The 68 iBUG points per face, integer pixels."""
    result = await _analyse(ctx, params, ["landmarks"])
    faces = []
    for face in result.image.faces:
        points = face.analysis["landmarks"]["points68"]
        faces.append({**face_box(face), "keypt": [{"x": round(x), "y": round(y)}
                                                  for x, y in points]})
    return {"faces": faces}


async def remove_water(ctx: Recognition, request: Request, params: Params) -> dict:
    """The image with the ID-card mesh removed, as base64 JPEG."""
    cleaned = await vision.run(ctx.queue, vision.REMOVE_MESH,
                               [await image_param(ctx.settings, params)])
    return {"img": base64.b64encode(cleaned).decode()}


HANDLERS = {
    "/tool/detect": detect,
    "/tool/feature": feature,
    "/tool/compare": compare,
    "/tool/compare/ext1": compare_ext1,
    "/tool/similarityByFeature": similarity_by_feature,
    "/tool/attribute": attribute,
    "/tool/keypt": keypt,
    "/tool/removeWater": remove_water,
}
