"""Baidu face API v2: the face library (faceset/user/*, faceset/group/*) and search over it
(identify, verify, multi-identify). Users live in groups (created on first use, as Baidu
does); each app sees only its own. Registration stores the face it is given, as Baidu's v2
document has it (the client checks quality with detect first; only person/verify has
quality=use): the quality gate runs only when the request asks (quality_control, the name
Baidu's later API gives it, translated to a level by QUALITY_LEVELS), a target group has a
default level, or FACEGATE_BAIDU_REGISTER_GATE is on (services/recognition/enrolment.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.requests import Request

from gateway.contract import Fields, Offset, comma_list, declare
from gateway.dialects.baidu import answers
from gateway.dialects.baidu.dialect import (
    Base64Image,
    GroupIds,
    Uid,
    UserInfo,
    baidu_score,
    image_param,
)
from services.recognition import catalogue, enrolment, search, vision
from services.recognition.context import Recognition
from shared.quality_gate import GateLevel

# Baidu's quality_control as facegate's enrolment levels. HIGH is strict too: no stricter level
# has been measured to refuse more unusable faces without refusing more ordinary ones
# (docs/api.md, "Quality gate").
QUALITY_LEVELS: dict[str, GateLevel] = {"NONE": "none", "LOW": "lenient", "NORMAL": "strict",
                                        "HIGH": "strict"}
QUALITY_CONTROL = tuple(QUALITY_LEVELS)
Liveness = comma_list({"faceliveness"})


class Registration(Fields):
    group_id: GroupIds
    uid: Uid
    user_info: UserInfo
    image: Base64Image
    action_type: Literal["append", "replace"] = "append"
    quality_control: Literal[QUALITY_CONTROL] | None = Field(  # type: ignore[valid-type]
        None, description="the quality gate's level: NONE (no gate), LOW (lenient: "
        "sunglasses and turns up to 60 degrees allowed), NORMAL or HIGH (strict); unset: a "
        "target group's default level, else none unless FACEGATE_BAIDU_REGISTER_GATE")


async def _register(ctx: Recognition, request: Request, params: Registration, replace: bool,
                    must_exist: bool) -> answers.Nothing:
    control = params.quality_control
    level = QUALITY_LEVELS[control] if control is not None else None
    image = await image_param(ctx.settings, params.image)
    await enrolment.register_user_face(ctx, request.state.app_id, params.uid, params.user_info,
                                       params.group_id, image, level, replace=replace,
                                       must_exist=must_exist)
    return {}


@declare(Registration)
async def user_add(ctx: Recognition, request: Request, params: Registration) -> answers.Nothing:
    return await _register(ctx, request, params, params.action_type == "replace",
                           must_exist=False)


@declare(Registration)
async def user_update(ctx: Recognition, request: Request, params: Registration
                      ) -> answers.Nothing:
    """The user's faces in the group are replaced; an unknown uid is 216611 unless
    action_type=replace, which registers it."""
    return await _register(ctx, request, params, replace=True,
                           must_exist=params.action_type != "replace")


class User(Fields):
    uid: Uid
    group_id: GroupIds | None = Field(None, description="only in this group")


def _one_group(params: User) -> str | None:
    return params.group_id[0] if params.group_id else None


@declare(User)
async def user_delete(ctx: Recognition, request: Request, params: User) -> answers.Nothing:
    await catalogue.delete_user(ctx, request.state.app_id, params.uid, _one_group(params))
    return {}


@declare(User)
async def user_get(ctx: Recognition, request: Request, params: User) -> answers.Users:
    entries = await catalogue.user(ctx, request.state.app_id, params.uid, _one_group(params))
    # The document's example has one entry per group with its `group_id`, its table a
    # `groups` list: both are given.
    groups = [e.group for e in entries]
    return {"result_num": len(entries), "result": [
        {"uid": e.uid, "user_info": e.user_info, "group_id": e.group, "groups": groups}
        for e in entries]}


class Page(Fields):
    start: Offset = 0
    num: int = Field(100, ge=1, le=1000)


@declare(Page)
async def group_getlist(ctx: Recognition, request: Request, params: Page) -> answers.Names:
    names = await catalogue.group_names(ctx, request.state.app_id, params.start, params.num)
    return {"result_num": len(names), "result": names}


class GroupPage(Page):
    group_id: GroupIds


@declare(GroupPage)
async def group_getusers(ctx: Recognition, request: Request, params: GroupPage
                         ) -> answers.GroupUsers:
    users = await catalogue.group_users(ctx, request.state.app_id, params.group_id[0],
                                        params.start, params.num)
    return {"result_num": len(users),
            "result": [{"uid": uid, "user_info": info} for uid, info in users]}


class UserGroups(Fields):
    uid: Uid
    group_id: GroupIds


class UserCopy(Fields):
    src_group_id: GroupIds
    group_id: GroupIds
    uid: Uid


@declare(UserCopy)
async def group_adduser(ctx: Recognition, request: Request, params: UserCopy
                        ) -> answers.Nothing:
    await enrolment.copy_user_faces(ctx, request.state.app_id, params.uid,
                                    params.src_group_id[0], params.group_id)
    return {}


@declare(UserGroups)
async def group_deleteuser(ctx: Recognition, request: Request, params: UserGroups
                           ) -> answers.Nothing:
    await catalogue.remove_user_from_groups(ctx, request.state.app_id, params.uid,
                                            params.group_id)
    return {}


class Probe(Fields):
    group_id: GroupIds
    image: Base64Image
    ext_fields: Liveness = []


async def _probe(ctx: Recognition, app: int, params: Probe, liveness: bool):
    image = await image_param(ctx.settings, params.image)
    model, [feature] = await search.probe_for_groups(
        ctx, app, params.group_id, image, vision.EMBED_EACH_IMAGE,
        {"fields": ["liveness"] if liveness else []})
    if feature.error is not None:
        raise feature.error
    return model, feature.face


def _ext(face, liveness: bool) -> dict:
    """ext_info, an array as the document types it for identify, verify, multi-identify."""
    if not liveness:
        return {}
    return {"ext_info": [{"faceliveness": str(face.analysis.liveness.score)}]}


class Identify(Probe):
    user_top_num: int = Field(1, ge=1, le=5)


@declare(Identify)
async def identify(ctx: Recognition, request: Request, params: Identify
                   ) -> answers.Identified:
    liveness = "faceliveness" in params.ext_fields
    model, face = await _probe(ctx, request.state.app_id, params, liveness)
    users = await search.identify_users(ctx, request.state.app_id, params.group_id, model,
                                        face.embedding, params.user_top_num)
    result = [{"group_id": u.group, "uid": u.uid, "user_info": u.user_info,
               "scores": [baidu_score(s) for s in u.scores]} for u in users]
    return {"result_num": len(result), "result": result, **_ext(face, liveness)}


class Verify(Probe):
    uid: Uid
    top_num: int = Field(1, ge=1, le=100)


@declare(Verify)
async def verify(ctx: Recognition, request: Request, params: Verify) -> answers.Verified:
    liveness = "faceliveness" in params.ext_fields
    model, face = await _probe(ctx, request.state.app_id, params, liveness)
    scores = await search.verify_user(ctx, request.state.app_id, params.uid, params.group_id,
                                      model, face.embedding, params.top_num)
    result = [baidu_score(s) for s in scores]
    return {"result_num": len(result), "result": result, **_ext(face, liveness)}


class MultiIdentify(Probe):
    detect_top_num: int = Field(1, ge=1, le=10)
    user_top_num: int = Field(1, ge=1, le=20)


@declare(MultiIdentify)
async def multi_identify(ctx: Recognition, request: Request, params: MultiIdentify
                         ) -> answers.MultiIdentified:
    groups = params.group_id
    liveness = "faceliveness" in params.ext_fields
    image = await image_param(ctx.settings, params.image)
    fields = ["pose", "liveness"] if liveness else ["pose"]
    model, found = await search.probe_for_groups(ctx, request.state.app_id, groups, image,
                                                 vision.EMBED_EVERY_FACE, {"fields": fields})
    result, live = [], []
    for face in found.faces[:params.detect_top_num]:
        x, y, w, h = face.box
        position = {"left": x, "top": y, "width": w, "height": h,
                    "degree": face.analysis.pose.rotation_angle,
                    "prob": round(face.prob, 6)}
        if liveness:
            live.append(str(face.analysis.liveness.score))
        for u in await search.identify_users(ctx, request.state.app_id, groups, model,
                                             face.embedding, params.user_top_num):
            # one score per user: its best face (the document: "只返回比对最高的1个分数")
            result.append({"group_id": u.group, "uid": u.uid, "user_info": u.user_info,
                           "position": position, "scores": [baidu_score(u.scores[0])]})
    body = {"result_num": len(result), "result": result}
    if liveness:
        body["ext_info"] = [{"faceliveness": ",".join(live)}]
    return body


HANDLERS = {
    "/identify": identify,
    "/verify": verify,
    "/multi-identify": multi_identify,
    "/faceset/user/add": user_add,
    "/faceset/user/update": user_update,
    "/faceset/user/delete": user_delete,
    "/faceset/user/get": user_get,
    "/faceset/group/getlist": group_getlist,
    "/faceset/group/getusers": group_getusers,
    "/faceset/group/adduser": group_adduser,
    "/faceset/group/deleteuser": group_deleteuser,
}
