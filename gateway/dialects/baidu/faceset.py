"""Baidu face API v2: the face library (faceset/user/*, faceset/group/*) and search over it
(identify, verify, multi-identify). Users live in groups (created on first use, as Baidu
does); each app sees only its own. Registration stores the face it is given, as Baidu's v2
document has it (the client checks quality with detect first; only person/verify has
quality=use): the quality gate runs only when the request asks (quality_control=LOW, NORMAL or
HIGH, the name Baidu's later API gives it) or FACEGATE_BAIDU_REGISTER_GATE is on.
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.dialects.baidu.dialect import (
    baidu_score,
    field_list,
    group_list,
    image_param,
    uid_param,
    user_info_param,
)
from gateway.params import Params, integer, text
from services.recognition import catalogue, enrolment, search, vision
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError

QUALITY_CONTROL = ("NONE", "LOW", "NORMAL", "HIGH")


def _register_gate(ctx: Recognition, params: Params) -> bool:
    """Whether this registration passes the quality gate (its thresholds, whichever level)."""
    level = (text(params, "quality_control", required=False) or "").upper()
    if not level:
        return ctx.settings.baidu_register_gate
    if level not in QUALITY_CONTROL:
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"quality_control must be one of {', '.join(QUALITY_CONTROL)}")
    return level != "NONE"


async def _register(ctx: Recognition, request: Request, params: Params, groups: list[str],
                    replace: bool, must_exist: bool) -> dict:
    uid, info = uid_param(params), user_info_param(params)
    gate = _register_gate(ctx, params)
    image = await image_param(ctx.settings, params)
    await enrolment.register_user_face(ctx, request.state.app_id, uid, info, groups, image,
                                       gate, replace=replace, must_exist=must_exist)
    return {}


def _action(params: Params, allowed: tuple[str, ...]) -> str:
    action = text(params, "action_type", required=False) or "append"
    if action not in allowed:
        raise FaceError(ERRORS.PARAM_INVALID, f"action_type must be one of {', '.join(allowed)}")
    return action


async def user_add(ctx: Recognition, request: Request, params: Params) -> dict:
    replace = _action(params, ("append", "replace")) == "replace"
    return await _register(ctx, request, params, group_list(params), replace, must_exist=False)


async def user_update(ctx: Recognition, request: Request, params: Params) -> dict:
    """The user's faces in the group are replaced; an unknown uid is 216611 unless
    action_type=replace, which registers it."""
    action = _action(params, ("append", "replace"))
    groups = group_list(params)
    return await _register(ctx, request, params, groups, replace=True,
                           must_exist=action != "replace")


async def user_delete(ctx: Recognition, request: Request, params: Params) -> dict:
    group = text(params, "group_id", required=False) or None
    await catalogue.delete_user(ctx, request.state.app_id, uid_param(params), group)
    return {}


async def user_get(ctx: Recognition, request: Request, params: Params) -> dict:
    group = text(params, "group_id", required=False) or None
    entries = await catalogue.user(ctx, request.state.app_id, uid_param(params), group)
    # The document's example has one entry per group with its `group_id`, its table a
    # `groups` list: both are given.
    groups = [e.group for e in entries]
    return {"result_num": len(entries), "result": [
        {"uid": e.uid, "user_info": e.user_info, "group_id": e.group, "groups": groups}
        for e in entries]}


def _page(params: Params) -> tuple[int, int]:
    return (integer(params, "start", 0, low=0),
            integer(params, "num", 100, low=1, high=1000))


async def group_getlist(ctx: Recognition, request: Request, params: Params) -> dict:
    start, num = _page(params)
    names = await catalogue.group_names(ctx, request.state.app_id, start, num)
    return {"result_num": len(names), "result": names}


async def group_getusers(ctx: Recognition, request: Request, params: Params) -> dict:
    start, num = _page(params)
    group = group_list(params)[0]
    users = await catalogue.group_users(ctx, request.state.app_id, group, start, num)
    return {"result_num": len(users),
            "result": [{"uid": uid, "user_info": info} for uid, info in users]}


async def group_adduser(ctx: Recognition, request: Request, params: Params) -> dict:
    source = group_list(params, "src_group_id")[0]
    await enrolment.copy_user_faces(ctx, request.state.app_id, uid_param(params), source,
                                    group_list(params))
    return {}


async def group_deleteuser(ctx: Recognition, request: Request, params: Params) -> dict:
    await catalogue.remove_user_from_groups(ctx, request.state.app_id, uid_param(params),
                                            group_list(params))
    return {}


async def _probe(ctx: Recognition, params: Params, liveness: bool):
    image = await image_param(ctx.settings, params)
    model, [feature] = await vision.run(ctx.queue, vision.EMBED_EACH_IMAGE, [image],
                                        {"fields": ["liveness"] if liveness else []})
    if feature.error is not None:
        raise feature.error
    return model, feature.face


def _ext(face, liveness: bool) -> dict:
    """ext_info, an array as the document types it for identify, verify, multi-identify."""
    if not liveness:
        return {}
    return {"ext_info": [{"faceliveness": str(face.analysis["liveness"]["score"])}]}


async def identify(ctx: Recognition, request: Request, params: Params) -> dict:
    groups = group_list(params)
    top = integer(params, "user_top_num", 1, high=5)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    model, face = await _probe(ctx, params, liveness)
    users = await search.identify_users(ctx, request.state.app_id, groups, model,
                                        face.embedding, top)
    result = [{"group_id": u.group, "uid": u.uid, "user_info": u.user_info,
               "scores": [baidu_score(s) for s in u.scores]} for u in users]
    return {"result_num": len(result), "result": result, **_ext(face, liveness)}


async def verify(ctx: Recognition, request: Request, params: Params) -> dict:
    uid, groups = uid_param(params), group_list(params)
    top = integer(params, "top_num", 1, high=100)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    model, face = await _probe(ctx, params, liveness)
    scores = await search.verify_user(ctx, request.state.app_id, uid, groups, model,
                                      face.embedding, top)
    result = [baidu_score(s) for s in scores]
    return {"result_num": len(result), "result": result, **_ext(face, liveness)}


async def multi_identify(ctx: Recognition, request: Request, params: Params) -> dict:
    groups = group_list(params)
    detect_top = integer(params, "detect_top_num", 1, high=10)
    user_top = integer(params, "user_top_num", 1, high=20)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    image = await image_param(ctx.settings, params)
    fields = ["pose", "liveness"] if liveness else ["pose"]
    model, found = await vision.run(ctx.queue, vision.EMBED_EVERY_FACE, [image],
                                    {"fields": fields})
    result, live = [], []
    for face in found.faces[:detect_top]:
        x, y, w, h = face.box
        position = {"left": x, "top": y, "width": w, "height": h,
                    "degree": face.analysis["pose"]["rotation_angle"],
                    "prob": round(face.prob, 6)}
        if liveness:
            live.append(str(face.analysis["liveness"]["score"]))
        for u in await search.identify_users(ctx, request.state.app_id, groups, model,
                                             face.embedding, user_top):
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
