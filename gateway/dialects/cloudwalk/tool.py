"""CloudWalk's face tools (CloudWalk face server API v1.24, sections "detect" to
"removeWater"): /face/tool/*."""

from __future__ import annotations

import base64

from starlette.requests import Request

from gateway.contract import Fields, declare
from gateway.dialects.cloudwalk import answers
from gateway.dialects.cloudwalk.dialect import (
    OneImage,
    TwoImages,
    face_box,
    image_pair,
    image_param,
    score_value,
)
from services.recognition import vision
from services.recognition.context import Recognition
from services.recognition.scoring import feature_similarity
from shared.errors import ERRORS, FaceError
from shared.features import from_base64, to_base64


class DetectParams(OneImage):
    mode: bool = False  # 1: each face's crop as base64


@declare(DetectParams)
async def detect(ctx: Recognition, request: Request, params: DetectParams) -> answers.Detected:
    result = await vision.run(ctx.queue, vision.DETECT,
                              [await image_param(ctx.settings, params)], {"crops": params.mode})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = []
    for face in result.image.faces:
        encoded = (base64.b64encode(face.crop).decode() if params.mode and face.crop
                   else "null")
        faces.append({**face_box(face), "img": encoded})
    return {"faces": faces}


@declare(OneImage)
async def feature(ctx: Recognition, request: Request, params: OneImage) -> answers.Feature:
    result = await vision.run(ctx.queue, vision.EMBED_LARGEST_FACE,
                              [await image_param(ctx.settings, params)])
    return {"feature": to_base64(result.model, result.face.embedding)}


@declare(TwoImages)
async def compare(ctx: Recognition, request: Request, params: TwoImages) -> answers.Score:
    result = await vision.run(ctx.queue, vision.COMPARE, await image_pair(ctx.settings, params))
    return {"score": score_value(result.score)}


@declare(TwoImages)
async def compare_ext1(ctx: Recognition, request: Request, params: TwoImages
                       ) -> answers.ComparedMany:
    result = await vision.run(ctx.queue, vision.COMPARE_MANY,
                              await image_pair(ctx.settings, params))
    return {"score": score_value(result.score),
            "faces": [{"score": score_value(score), **face_box(face)}
                      for face, score in result.faces]}


class FeaturePair(Fields):
    featureA: str  # base64 features from /face/tool/feature
    featureB: str


@declare(FeaturePair)
async def similarity_by_feature(ctx: Recognition, request: Request, params: FeaturePair
                                ) -> answers.Score:
    score = feature_similarity(from_base64(params.featureA), from_base64(params.featureB))
    return {"score": score_value(score)}


async def _analyse(ctx: Recognition, params: OneImage, fields: list[str]
                   ) -> vision.AnalyseResult:
    result = await vision.run(ctx.queue, vision.ANALYSE, [await image_param(ctx.settings, params)],
                              {"fields": fields})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    return result


@declare(OneImage)
async def attribute(ctx: Recognition, request: Request, params: OneImage
                    ) -> answers.Attributes:
    """age (string, years) and gender (string, -1 female / 1 male) per face."""
    result = await _analyse(ctx, params, ["age", "gender"])
    return {"faces": [{**face_box(face), "age": str(round(face.analysis.age)),
                       "gender": "1" if face.analysis.gender.value == "male" else "-1"}
                      for face in result.image.faces]}


@declare(OneImage)
async def keypt(ctx: Recognition, request: Request, params: OneImage) -> answers.Keypoints:
    """The 68 iBUG points per face, integer pixels."""
    result = await _analyse(ctx, params, ["landmarks"])
    faces = []
    for face in result.image.faces:
        points = face.analysis.landmarks.points68
        faces.append({**face_box(face), "keypt": [{"x": round(x), "y": round(y)}
                                                  for x, y in points]})
    return {"faces": faces}


@declare(OneImage)
async def remove_water(ctx: Recognition, request: Request, params: OneImage) -> answers.Cleaned:
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
