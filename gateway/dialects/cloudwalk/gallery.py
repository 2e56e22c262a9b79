"""CloudWalk face management and recognition (CloudWalk face server API v1.24, "face
clustering" and "face recognition"): /face/clustering/*, /face/recog/*.

Choices where the document is silent or ambiguous:
- Creating a group that exists answers 12352 (its message says exactly that case); 12360 is kept
  in the catalogue for clients that look for it elsewhere.
- groupId: the core's group-name rule (1-64 letters, digits or _; services/recognition/
  catalogue.py), so a group made through any dialect can be named here. tag: at most 128 bytes
  (UTF-8), any text.
- face/edit takes a new image, a new tag, or both; with neither it answers 4097.
- Scores are the same [0, 1] similarity as /face/tool/compare (same person at >= 0.80).
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.dialects.cloudwalk.dialect import face_box, image_param, score_value
from gateway.params import Params, flag, integer, text
from services.recognition import catalogue, enrolment, search
from services.recognition.context import ImageSource, Recognition
from shared.errors import ERRORS, FaceError

_MAX_TOP_N = 1000


def _app(request: Request) -> int:
    return request.state.app_id  # set by the frame from the app's credentials


def _group_id(params: Params) -> str:
    return catalogue.group_name(text(params, "groupId"), "groupId")


def _tag(params: Params, required: bool = False) -> str | None:
    if "tag" not in params:
        if required:
            raise FaceError(ERRORS.PARAM_MISSING, "tag is required")
        return None
    return catalogue.tag_text(text(params, "tag", required=False))


def _image(ctx: Recognition, params: Params) -> ImageSource:
    """The img / url parameter, read (decoded or fetched) when the core asks: after the cheap
    checks (group exists, face exists), before the model call."""
    return lambda: image_param(ctx.settings, params)


def _group_row(group, with_count: bool) -> dict:
    row = {"groupId": group.name, "info": group.tag}
    if with_count:
        row["count"] = group.face_count
    return row


async def group_create(ctx: Recognition, request: Request, params: Params) -> dict:
    await catalogue.create_group(ctx, _app(request), _group_id(params), _tag(params) or "")
    return {}


async def group_delete(ctx: Recognition, request: Request, params: Params) -> dict:
    await catalogue.delete_group(ctx, _app(request), _group_id(params))
    return {}


async def group_query(ctx: Recognition, request: Request, params: Params) -> dict:
    app = _app(request)
    kind = text(params, "type")
    with_count = flag(params, "faceCount")
    if kind == "queryByPage":
        page = integer(params, "pageNumber", 1, high=2**31)  # page x size stays a bigint
        size = integer(params, "pageSize", 20, high=1000)
        total, rows = await catalogue.groups_page(ctx, app, page, size)
        return {"total": total, "rows": [_group_row(g, with_count) for g in rows]}
    if kind == "queryByGroupId":
        group = await catalogue.group(ctx, app, _group_id(params))
        return {"total": 1, "rows": [_group_row(group, with_count)]}
    raise FaceError(ERRORS.PARAM_INVALID, "type must be queryByPage or queryByGroupId")


async def face_create(ctx: Recognition, request: Request, params: Params) -> dict:
    group_id, tag = _group_id(params), _tag(params) or ""
    written = await enrolment.enrol_face(ctx, _app(request), group_id,
                                         _image(ctx, params), tag)
    return {"faceId": written.face_id}


async def face_delete(ctx: Recognition, request: Request, params: Params) -> dict:
    await catalogue.delete_face(ctx, _app(request), _group_id(params),
                                integer(params, "faceId"))
    return {}


async def face_edit(ctx: Recognition, request: Request, params: Params) -> dict:
    group_id, face_id, tag = _group_id(params), integer(params, "faceId"), _tag(params)
    has_image = bool(params.get("img") or params.get("url"))
    if tag is None and not has_image:
        raise FaceError(ERRORS.PARAM_MISSING, "img, url or tag is required")
    await enrolment.replace_face(ctx, _app(request), group_id, face_id,
                                 _image(ctx, params) if has_image else None, tag)
    return {}


async def face_query(ctx: Recognition, request: Request, params: Params) -> dict:
    kind = text(params, "type", required=False) or "queryByFaceId"
    if kind != "queryByFaceId":
        raise FaceError(ERRORS.PARAM_INVALID, "type must be queryByFaceId")
    face = await catalogue.face(ctx, _app(request), _group_id(params),
                                integer(params, "faceId"))
    return {"total": 1, "rows": [{"faceId": face.id, "tag": face.tag}]}


async def identify(ctx: Recognition, request: Request, params: Params) -> dict:
    group_id = _group_id(params)
    top_n = integer(params, "topN", 1, high=_MAX_TOP_N)
    matches = await search.identify(ctx, _app(request), group_id, _image(ctx, params), top_n)
    return {"faces": [{"faceId": m.face_id, "score": score_value(m.score), "tag": m.tag}
                      for m in matches]}


async def identify_ext1(ctx: Recognition, request: Request, params: Params) -> dict:
    group_id = _group_id(params)
    found = await search.identify_every_face(ctx, _app(request), group_id, _image(ctx, params))
    return {"groupId": group_id, "faces": [
        {"faceId": f.best.face_id, "score": score_value(f.best.score), "tag": f.best.tag,
         **face_box(f.face)} for f in found]}


async def group_compare(ctx: Recognition, request: Request, params: Params) -> dict:
    group_id, face_id = _group_id(params), integer(params, "faceId")
    score = await search.compare_with_face(ctx, _app(request), group_id, face_id,
                                           _image(ctx, params))
    return {"score": score_value(score)}


HANDLERS = {
    "/clustering/group/create": group_create,
    "/clustering/group/delete": group_delete,
    "/clustering/group/query": group_query,
    "/clustering/face/create": face_create,
    "/clustering/face/delete": face_delete,
    "/clustering/face/edit": face_edit,
    "/clustering/face/query": face_query,
    "/recog/group/identify": identify,
    "/recog/group/identify/ext1": identify_ext1,
    "/recog/group/compare": group_compare,
}
