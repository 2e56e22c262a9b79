"""Baidu face API v2's image-only calls: detect, match, faceverify and person/verify."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema
from starlette.requests import Request

from gateway.contract import Fields, IdNumber, PersonName, comma_list, declare, json_object
from gateway.dialects.baidu import answers
from gateway.dialects.baidu.dialect import (
    ACCEPTED_NOT_RETURNED,
    FACE_FIELDS,
    Base64Image,
    baidu_score,
    face_result,
    image_param,
    qualities,
)
from services.recognition import person_check, vision
from services.recognition.context import Recognition
from services.recognition.scoring import cosine_score
from shared.errors import ERRORS, FaceError


async def _analyse(ctx: Recognition, image: bytes, wanted: list[str], max_faces: int):
    fields = ["pose", *[FACE_FIELDS[f] for f in wanted if f in FACE_FIELDS]]
    return await vision.run(ctx.queue, vision.ANALYSE, [image],
                            {"fields": list(dict.fromkeys(fields)), "max_faces": max_faces})


class Detect(Fields):
    image: Base64Image
    max_face_num: int = Field(1, ge=1, le=10)
    face_fields: comma_list((set(FACE_FIELDS) - {"faceliveness"})  # type: ignore[valid-type]
                            | ACCEPTED_NOT_RETURNED) = []


@declare(Detect)
async def detect(ctx: Recognition, request: Request, params: Detect) -> answers.Detected:
    image = await image_param(ctx.settings, params.image)
    result = await _analyse(ctx, image, params.face_fields, params.max_face_num)
    faces = [face_result(face, params.face_fields) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


class FaceVerify(Fields):
    image: Base64Image
    max_face_num: int = Field(1, ge=1, le=10)
    face_fields: comma_list({"qualities", "faceliveness"}) = []  # type: ignore[valid-type]


@declare(FaceVerify)
async def faceverify(ctx: Recognition, request: Request, params: FaceVerify
                     ) -> answers.Detected:
    image = await image_param(ctx.settings, params.image)
    result = await _analyse(ctx, image, params.face_fields, params.max_face_num)
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = [face_result(face, params.face_fields) for face in result.image.faces]
    return {"result_num": len(faces), "result": faces}


def _split_images(value: object) -> list[str]:
    if not isinstance(value, str):
        raise FaceError(ERRORS.PARAM_INVALID, "images: base64 images, comma-separated")
    encoded = [part for part in value.split(",") if part.strip()]
    if len(encoded) < 2:
        raise FaceError(ERRORS.NOT_ENOUGH_IMAGES, "at least 2 images, comma-separated")
    if len(encoded) > 10:
        raise FaceError(ERRORS.PARAM_TOO_LONG, "at most 10 images")
    return encoded


def _split(value: object) -> list[str]:
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else []


def _per_image(value: object) -> list[str]:
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else []


def _text_schema(description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "description": description})


class Match(Fields):
    images: Annotated[list[str], BeforeValidator(_split_images), _text_schema(
        "2 to 10 base64 images, comma-separated")]
    ext_fields: comma_list({"qualities"}) = []  # type: ignore[valid-type]
    image_liveness: Annotated[list[str], BeforeValidator(_per_image), _text_schema(
        "per image, comma-separated: faceliveness or nothing")] = []
    types: Annotated[list[str], BeforeValidator(_per_image), _text_schema(
        "per image, comma-separated: 7 a photo, 11 an ID card's photo, 12 an ID photo with a "
        "watermark mesh")] = []


@declare(Match)
async def match(ctx: Recognition, request: Request, params: Match) -> answers.Matched:
    images = [await image_param(ctx.settings, part) for part in params.images]
    ext, types = params.ext_fields, params.types
    liveness = [part == "faceliveness" for part in params.image_liveness]
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
            str(f.face.analysis.liveness.score) if i < len(liveness) and liveness[i]
            else "" for i, f in enumerate(features))
    if info:
        body["ext_info"] = [info]
    return body


JsonObject = Annotated[dict[str, Any], BeforeValidator(json_object), WithJsonSchema({
    "type": "string", "contentMediaType": "application/json"})]


class PersonVerify(Fields):
    id_card_number: IdNumber
    name: PersonName
    image: Base64Image
    quality: str | None = Field(None, max_length=16, description="use: the quality checks "
                                "judge the face (quality_conf); anything else: they do not")
    faceliveness: str | None = Field(None, max_length=16, description="use: the liveness "
                                     "check judges the face (faceliveness_conf)")
    ext_fields: comma_list({"qualities", "faceliveness"}) = []  # type: ignore[valid-type]
    quality_conf: JsonObject = Field({}, description="JSON: a threshold per occlusion "
                                     "region, blur and illumination")
    faceliveness_conf: JsonObject = Field({}, description='JSON: {"faceliveness": threshold}')


@declare(PersonVerify)
async def person_verify(ctx: Recognition, request: Request, params: PersonVerify
                        ) -> answers.PersonVerified:
    """No police database here: the photo is compared with the identity photo an operator
    registered for this ID number (POST /v1/identities). `result` is the similarity in [0, 1]
    (0.8 recommended, as Baidu's)."""
    image = await image_param(ctx.settings, params.image)
    ext = params.ext_fields
    check = person_check.PersonCheck(
        judge_quality=params.quality == "use", quality_conf=params.quality_conf,
        judge_liveness=params.faceliveness == "use",
        liveness_conf=params.faceliveness_conf.get("faceliveness"),
        measure_quality="qualities" in ext, measure_liveness="faceliveness" in ext)
    verified = await person_check.verify_person(ctx, request.state.app_id,
                                                params.id_card_number, params.name, image, check)
    body = {"result": round(verified.score, 6)}
    info = {}
    if "faceliveness" in ext:
        info["faceliveness"] = verified.analysis.liveness.score
    if "qualities" in ext:
        info["qualities"] = qualities(verified.analysis)
    if info:
        body["ext_info"] = info
    return body


HANDLERS = {
    "/detect": detect,
    "/match": match,
    "/faceverify": faceverify,
    "/person/verify": person_verify,
}
