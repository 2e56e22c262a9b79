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

from typing import Literal

from pydantic import Field
from starlette.requests import Request

from gateway.contract import Fields, GroupName, Id, Tag, declare
from gateway.dialects.cloudwalk import answers
from gateway.dialects.cloudwalk.dialect import OneImage, face_box, image_param, score_value
from services.recognition import catalogue, enrolment, search
from services.recognition.context import ImageSource, Recognition
from shared.errors import ERRORS, FaceError

_MAX_TOP_N = 1000


def _app(request: Request) -> int:
    return request.state.app_id  # set by the frame from the app's credentials


def _image(ctx: Recognition, params: OneImage) -> ImageSource:
    """The img / url parameter, read (decoded or fetched) when the core asks: after the cheap
    checks (group exists, face exists), before the model call."""
    return lambda: image_param(ctx.settings, params)


def _group_row(group, with_count: bool) -> answers.GroupRow:
    row: answers.GroupRow = {"groupId": group.name, "info": group.tag}
    if with_count:
        row["count"] = group.face_count
    return row


class Group(Fields):
    groupId: GroupName


class NewGroup(Group):
    tag: Tag = ""


@declare(NewGroup)
async def group_create(ctx: Recognition, request: Request, params: NewGroup) -> answers.Nothing:
    await catalogue.create_group(ctx, _app(request), params.groupId, params.tag)
    return {}


@declare(Group)
async def group_delete(ctx: Recognition, request: Request, params: Group) -> answers.Nothing:
    await catalogue.delete_group(ctx, _app(request), params.groupId)
    return {}


class GroupQuery(Fields):
    type: Literal["queryByPage", "queryByGroupId"]
    faceCount: bool = False
    pageNumber: int = Field(1, ge=1, le=2**31)  # page x size stays a bigint
    pageSize: int = Field(20, ge=1, le=1000)
    groupId: GroupName | None = Field(None, description="required for queryByGroupId")


@declare(GroupQuery)
async def group_query(ctx: Recognition, request: Request, params: GroupQuery) -> answers.Groups:
    app = _app(request)
    if params.type == "queryByPage":
        total, rows = await catalogue.groups_page(ctx, app, params.pageNumber, params.pageSize)
        return {"total": total, "rows": [_group_row(g, params.faceCount) for g in rows]}
    if params.groupId is None:
        raise FaceError(ERRORS.PARAM_MISSING, "groupId is required")
    group = await catalogue.group(ctx, app, params.groupId)
    return {"total": 1, "rows": [_group_row(group, params.faceCount)]}


class NewFace(OneImage):
    groupId: GroupName
    tag: Tag = ""


@declare(NewFace)
async def face_create(ctx: Recognition, request: Request, params: NewFace
                      ) -> answers.FaceCreated:
    written = await enrolment.enrol_face(ctx, _app(request), params.groupId,
                                         _image(ctx, params), params.tag)
    return {"faceId": written.face_id}


class OneFace(Fields):
    groupId: GroupName
    faceId: Id


@declare(OneFace)
async def face_delete(ctx: Recognition, request: Request, params: OneFace) -> answers.Nothing:
    await catalogue.delete_face(ctx, _app(request), params.groupId, params.faceId)
    return {}


class FaceEdit(OneFace, OneImage):
    KEEP_BLANK = frozenset({"tag"})  # "" clears the tag
    tag: Tag | None = None


@declare(FaceEdit)
async def face_edit(ctx: Recognition, request: Request, params: FaceEdit) -> answers.Nothing:
    """A new image, a new tag, or both (neither: 4097)."""
    has_image = bool(params.img or params.url)
    if params.tag is None and not has_image:
        raise FaceError(ERRORS.PARAM_MISSING, "img, url or tag is required")
    await enrolment.replace_face(ctx, _app(request), params.groupId, params.faceId,
                                 _image(ctx, params) if has_image else None, params.tag)
    return {}


class FaceQuery(OneFace):
    type: Literal["queryByFaceId"] = "queryByFaceId"


@declare(FaceQuery)
async def face_query(ctx: Recognition, request: Request, params: FaceQuery) -> answers.Faces:
    face = await catalogue.face(ctx, _app(request), params.groupId, params.faceId)
    return {"total": 1, "rows": [{"faceId": face.id, "tag": face.tag}]}


class Identify(OneImage):
    groupId: GroupName
    topN: int = Field(1, ge=1, le=_MAX_TOP_N)


@declare(Identify)
async def identify(ctx: Recognition, request: Request, params: Identify) -> answers.Identified:
    matches = await search.identify(ctx, _app(request), params.groupId, _image(ctx, params),
                                    params.topN)
    return {"faces": [{"faceId": m.face_id, "score": score_value(m.score), "tag": m.tag}
                      for m in matches]}


class IdentifyEach(OneImage):
    groupId: GroupName


@declare(IdentifyEach)
async def identify_ext1(ctx: Recognition, request: Request, params: IdentifyEach
                        ) -> answers.IdentifiedEach:
    found = await search.identify_every_face(ctx, _app(request), params.groupId,
                                             _image(ctx, params))
    return {"groupId": params.groupId, "faces": [
        {"faceId": f.best.face_id, "score": score_value(f.best.score), "tag": f.best.tag,
         **face_box(f.face)} for f in found]}


class CompareWithFace(OneFace, OneImage):
    pass


@declare(CompareWithFace)
async def group_compare(ctx: Recognition, request: Request, params: CompareWithFace
                        ) -> answers.Score:
    score = await search.compare_with_face(ctx, _app(request), params.groupId, params.faceId,
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
