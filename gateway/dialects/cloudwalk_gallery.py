"""CloudWalk face management and recognition (seed 2.9, 2.10): /face/clustering/*, /face/recog/*.

Choices where the seed is silent or ambiguous:
- Creating a group that exists answers 12352 (its message says exactly that case); 12360 is kept
  in the catalogue for clients that look for it elsewhere.
- groupId: 1-64 letters and digits. tag: at most 128 bytes (UTF-8), any text.
- face/edit takes a new image, a new tag, or both; with neither it answers 4097.
- Scores are the same [0, 1] similarity as /face/tool/compare (same person at >= 0.80).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.routing import Route

from gateway import usecases
from gateway.dialects.cloudwalk import endpoint, face_box, image_param, score_value
from gateway.gallery_access import gallery_of, index_soon
from gateway.params import Params, flag, integer, text
from services.gallery.repository import image_hash
from shared.canonical import Face
from shared.errors import ERRORS, FaceError
from shared.models import model_for
from shared.quality_gate import quality_score as _quality

_GROUP_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
_MAX_TAG_BYTES = 128
_MAX_TOP_N = 1000


def _app(request: Request) -> int:
    return request.state.app_id  # set by the endpoint wrapper from the app's credentials


def _group_id(params: Params) -> str:
    value = text(params, "groupId")
    if not _GROUP_ID.match(value):
        raise FaceError(ERRORS.PARAM_INVALID, "groupId must be 1-64 letters or digits")
    return value


def _tag(params: Params, required: bool = False) -> str | None:
    if "tag" not in params:
        if required:
            raise FaceError(ERRORS.PARAM_MISSING, "tag is required")
        return None
    value = text(params, "tag", required=False)
    if len(value.encode("utf-8")) > _MAX_TAG_BYTES:
        raise FaceError(ERRORS.PARAM_INVALID, f"tag is over {_MAX_TAG_BYTES} bytes")
    return value


def _group_row(group, with_count: bool) -> dict:
    row = {"groupId": group.name, "info": group.tag}
    if with_count:
        row["count"] = group.face_count
    return row


@endpoint
async def group_create(request: Request, params: Params) -> dict:
    model = model_for(request.app.state.settings.embedder).code
    await gallery_of(request).create_group(_app(request), _group_id(params), _tag(params) or "",
                                         model)
    return {}


@endpoint
async def group_delete(request: Request, params: Params) -> dict:
    await gallery_of(request).delete_group(_app(request), _group_id(params))
    return {}


@endpoint
async def group_query(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    kind = text(params, "type")
    with_count = flag(params, "faceCount")
    if kind == "queryByPage":
        page = integer(params, "pageNumber", 1)
        size = integer(params, "pageSize", 20, high=1000)
        total, groups = await gallery.groups_page(app, page, size)
        return {"total": total, "rows": [_group_row(g, with_count) for g in groups]}
    if kind == "queryByGroupId":
        group = await gallery.group(app, _group_id(params))
        return {"total": 1, "rows": [_group_row(group, with_count)]}
    raise FaceError(ERRORS.PARAM_INVALID, "type must be queryByPage or queryByGroupId")


async def _enrolment(request: Request, params: Params, op: usecases.Operation = usecases.FEATURE
                     ) -> tuple[usecases.FeatureResult, bytes]:
    """The face's feature; with usecases.ENROL the quality gate must pass too."""
    data = await image_param(request, params)
    return await usecases.run(request.app.state.dispatcher, op, [data]), data


@endpoint
async def face_create(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    group_id, tag = _group_id(params), _tag(params) or ""
    await gallery.group(app, group_id)  # 12357 before spending a model call
    feature, data = await _enrolment(request, params, usecases.ENROL)
    face_id = await gallery.add_face(app, group_id, feature.face.embedding, feature.model.code,
                                     list(feature.face.box), quality_score(feature.face), tag,
                                     image_hash(data))
    index_soon(gallery, [await gallery.group(app, group_id)])
    return {"faceId": face_id}


def quality_score(face: Face) -> float:
    return _quality(face.analysis, face.prob)


@endpoint
async def face_delete(request: Request, params: Params) -> dict:
    await gallery_of(request).delete_face(_app(request), _group_id(params),
                                        integer(params, "faceId"))
    return {}


@endpoint
async def face_edit(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    group_id, face_id, tag = _group_id(params), integer(params, "faceId"), _tag(params)
    has_image = bool(params.get("img") or params.get("url"))
    if tag is None and not has_image:
        raise FaceError(ERRORS.PARAM_MISSING, "img, url or tag is required")
    await gallery.face(app, group_id, face_id)  # 12357 / 12292 before a model call
    if not has_image:
        await gallery.edit_face(app, group_id, face_id, tag=tag)
        return {}
    feature, data = await _enrolment(request, params, usecases.ENROL)
    await gallery.edit_face(app, group_id, face_id, tag=tag, vector=feature.face.embedding,
                            model=feature.model.code, box=list(feature.face.box),
                            quality=quality_score(feature.face), sha256=image_hash(data))
    return {}


@endpoint
async def face_query(request: Request, params: Params) -> dict:
    kind = text(params, "type", required=False) or "queryByFaceId"
    if kind != "queryByFaceId":
        raise FaceError(ERRORS.PARAM_INVALID, "type must be queryByFaceId")
    face = await gallery_of(request).face(_app(request), _group_id(params),
                                        integer(params, "faceId"))
    return {"total": 1, "rows": [{"faceId": face.id, "tag": face.tag}]}


@endpoint
async def identify(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    group_id = _group_id(params)
    top_n = integer(params, "topN", 1, high=_MAX_TOP_N)
    await gallery.group(app, group_id)
    feature, _ = await _enrolment(request, params)
    matches = await gallery.identify(app, group_id, feature.face.embedding, feature.model.code,
                                     top_n)
    return {"faces": [{"faceId": m.face_id, "score": score_value(feature.model.score(m.cosine)),
                       "tag": m.tag} for m in matches]}


@endpoint
async def identify_ext1(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    group_id = _group_id(params)
    await gallery.group(app, group_id)  # 12357 before spending a model call
    model, image = await usecases.run(request.app.state.dispatcher, usecases.EMBED_ALL,
                                      [await image_param(request, params)])
    group = await gallery.searchable_group(app, group_id, model.code)
    faces = []
    for face in image.faces:
        best = (await gallery.search(group, face.embedding, 1))[0]
        faces.append({"faceId": best.face_id, "score": score_value(model.score(best.cosine)),
                      "tag": best.tag, **face_box(face)})
    return {"groupId": group.name, "faces": faces}


@endpoint
async def group_compare(request: Request, params: Params) -> dict:
    gallery, app = gallery_of(request), _app(request)
    group_id, face_id = _group_id(params), integer(params, "faceId")
    model_code, stored = await gallery.face_vector(app, group_id, face_id)
    feature, _ = await _enrolment(request, params)
    if feature.model.code != model_code:
        raise FaceError(ERRORS.MODEL_MISMATCH, "the stored face comes from another model")
    return {"score": score_value(feature.model.score(float(stored @ feature.face.embedding)))}


_METHODS = ["GET", "POST"]
routes = [
    Route("/face/clustering/group/create", group_create, methods=_METHODS),
    Route("/face/clustering/group/delete", group_delete, methods=_METHODS),
    Route("/face/clustering/group/query", group_query, methods=_METHODS),
    Route("/face/clustering/face/create", face_create, methods=_METHODS),
    Route("/face/clustering/face/delete", face_delete, methods=_METHODS),
    Route("/face/clustering/face/edit", face_edit, methods=_METHODS),
    Route("/face/clustering/face/query", face_query, methods=_METHODS),
    Route("/face/recog/group/identify", identify, methods=_METHODS),
    Route("/face/recog/group/identify/ext1", identify_ext1, methods=_METHODS),
    Route("/face/recog/group/compare", group_compare, methods=_METHODS),
]
