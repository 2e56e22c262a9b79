"""Baidu face API v2: the face library (faceset/user/*, faceset/group/*) and search over it
(identify, verify, multi-identify). Users live in groups (created on first use, as Baidu
does); each app sees only its own. Registration stores the face it is given, as Baidu's v2
document has it (the client checks quality with detect first; only person/verify has
quality=use): the quality gate runs only when the request asks (quality_control=LOW, NORMAL or
HIGH, the name Baidu's later API gives it) or FACEGATE_BAIDU_REGISTER_GATE is on.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from gateway import usecases
from gateway.dialects.baidu import (
    baidu_score,
    endpoint,
    field_list,
    group_list,
    image_param,
    uid_param,
    user_info_param,
)
from gateway.gallery_access import gallery_of, index_soon
from gateway.params import Params, integer, text
from services.gallery.repository import image_hash
from shared.errors import ERRORS, FaceError
from shared.quality_gate import quality_score

QUALITY_CONTROL = ("NONE", "LOW", "NORMAL", "HIGH")


def _register_gate(request: Request, params: Params) -> bool:
    """Whether this registration passes the quality gate (its thresholds, whichever level)."""
    level = (text(params, "quality_control", required=False) or "").upper()
    if not level:
        return request.app.state.settings.baidu_register_gate
    if level not in QUALITY_CONTROL:
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"quality_control must be one of {', '.join(QUALITY_CONTROL)}")
    return level != "NONE"


async def _register(request: Request, params: Params, groups: list[str], replace: bool,
                    must_exist: bool) -> dict:
    uid, info = uid_param(params), user_info_param(params)
    gate = _register_gate(request, params)
    image = await image_param(request, params)
    feature = await usecases.run(request.app.state.dispatcher, usecases.ENROL, [image],
                                 {"gate": gate})
    touched = await gallery_of(request).add_user_face(
        request.state.app_id, uid, info, groups, feature.face.embedding, feature.model.code,
        list(feature.face.box), quality_score(feature.face.analysis, feature.face.prob),
        image_hash(image), replace=replace, must_exist=must_exist)
    index_soon(gallery_of(request), touched)
    return {}


def _action(params: Params, allowed: tuple[str, ...]) -> str:
    action = text(params, "action_type", required=False) or "append"
    if action not in allowed:
        raise FaceError(ERRORS.PARAM_INVALID, f"action_type must be one of {', '.join(allowed)}")
    return action


@endpoint
async def user_add(request: Request, params: Params) -> dict:
    replace = _action(params, ("append", "replace")) == "replace"
    return await _register(request, params, group_list(params), replace, must_exist=False)


@endpoint
async def user_update(request: Request, params: Params) -> dict:
    """The user's faces in the group are replaced; an unknown uid is 216611 unless
    action_type=replace, which registers it."""
    action = _action(params, ("append", "replace"))
    groups = group_list(params)
    return await _register(request, params, groups, replace=True,
                           must_exist=action != "replace")


@endpoint
async def user_delete(request: Request, params: Params) -> dict:
    group = text(params, "group_id", required=False) or None
    await gallery_of(request).delete_user(request.state.app_id, uid_param(params), group)
    return {}


@endpoint
async def user_get(request: Request, params: Params) -> dict:
    group = text(params, "group_id", required=False) or None
    entries = await gallery_of(request).get_user(request.state.app_id, uid_param(params), group)
    return {"result_num": len(entries), "result": [
        {"uid": e.uid, "user_info": e.user_info, "group_id": e.group} for e in entries]}


def _page(params: Params) -> tuple[int, int]:
    return (integer(params, "start", 0, low=0),
            integer(params, "num", 100, low=1, high=1000))


@endpoint
async def group_getlist(request: Request, params: Params) -> dict:
    start, num = _page(params)
    names = await gallery_of(request).group_names(request.state.app_id, start, num)
    return {"result_num": len(names), "result": names}


@endpoint
async def group_getusers(request: Request, params: Params) -> dict:
    start, num = _page(params)
    group = group_list(params)[0]
    users = await gallery_of(request).group_users(request.state.app_id, group, start, num)
    return {"result_num": len(users),
            "result": [{"uid": uid, "user_info": info} for uid, info in users]}


@endpoint
async def group_adduser(request: Request, params: Params) -> dict:
    source = group_list(params, "src_group_id")[0]
    touched = await gallery_of(request).copy_user(request.state.app_id, uid_param(params), source,
                                                group_list(params))
    index_soon(gallery_of(request), touched)
    return {}


@endpoint
async def group_deleteuser(request: Request, params: Params) -> dict:
    await gallery_of(request).remove_user_from_groups(request.state.app_id, uid_param(params),
                                                    group_list(params))
    return {}


async def _probe(request: Request, params: Params, liveness: bool):
    image = await image_param(request, params)
    model, [feature] = await usecases.run(
        request.app.state.dispatcher, usecases.FEATURES, [image],
        {"fields": ["liveness"] if liveness else []})
    if feature.error is not None:
        raise feature.error
    return model, feature.face


def _ext(face, liveness: bool) -> dict:
    if not liveness:
        return {}
    return {"ext_info": {"faceliveness": str(face.analysis["liveness"]["score"])}}


@endpoint
async def identify(request: Request, params: Params) -> dict:
    groups = group_list(params)
    top = integer(params, "user_top_num", 1, high=5)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    model, face = await _probe(request, params, liveness)
    matches = await gallery_of(request).identify_users(request.state.app_id, groups,
                                                     face.embedding, model.code, top)
    result = [{"group_id": m.group, "uid": m.uid, "user_info": m.user_info,
               "scores": [baidu_score(model, c) for c in m.cosines]} for m in matches]
    return {"result_num": len(result), "result": result, **_ext(face, liveness)}


@endpoint
async def verify(request: Request, params: Params) -> dict:
    uid, groups = uid_param(params), group_list(params)
    top = integer(params, "top_num", 1, high=100)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    model, face = await _probe(request, params, liveness)
    cosines = await gallery_of(request).verify_user(request.state.app_id, uid, groups,
                                                  face.embedding, model.code, top)
    scores = [baidu_score(model, c) for c in cosines]
    return {"result_num": len(scores), "result": scores, **_ext(face, liveness)}


@endpoint
async def multi_identify(request: Request, params: Params) -> dict:
    groups = group_list(params)
    detect_top = integer(params, "detect_top_num", 1, high=10)
    user_top = integer(params, "user_top_num", 1, high=20)
    liveness = "faceliveness" in field_list(params, "ext_fields", {"faceliveness"})
    image = await image_param(request, params)
    fields = ["pose", "liveness"] if liveness else ["pose"]
    model, found = await usecases.run(request.app.state.dispatcher, usecases.EMBED_ALL, [image],
                                      {"fields": fields})
    gallery, result, live = gallery_of(request), [], []
    for face in found.faces[:detect_top]:
        x, y, w, h = face.box
        position = {"left": x, "top": y, "width": w, "height": h,
                    "degree": face.analysis["pose"]["rotation_angle"],
                    "prob": round(face.prob, 6)}
        if liveness:
            live.append(str(face.analysis["liveness"]["score"]))
        for m in await gallery.identify_users(request.state.app_id, groups, face.embedding,
                                              model.code, user_top):
            # one score per user: its best face (the seed: "只返回比对最高的1个分数")
            result.append({"group_id": m.group, "uid": m.uid, "user_info": m.user_info,
                           "position": position, "scores": [baidu_score(model, m.cosines[0])]})
    body = {"result_num": len(result), "result": result}
    if liveness:
        body["ext_info"] = {"faceliveness": ",".join(live)}
    return body


def routes(prefix: str) -> list[Route]:
    post = ["POST"]
    return [
        Route(f"{prefix}/identify", identify, methods=post),
        Route(f"{prefix}/verify", verify, methods=post),
        Route(f"{prefix}/multi-identify", multi_identify, methods=post),
        Route(f"{prefix}/faceset/user/add", user_add, methods=post),
        Route(f"{prefix}/faceset/user/update", user_update, methods=post),
        Route(f"{prefix}/faceset/user/delete", user_delete, methods=post),
        Route(f"{prefix}/faceset/user/get", user_get, methods=post),
        Route(f"{prefix}/faceset/group/getlist", group_getlist, methods=post),
        Route(f"{prefix}/faceset/group/getusers", group_getusers, methods=post),
        Route(f"{prefix}/faceset/group/adduser", group_adduser, methods=post),
        Route(f"{prefix}/faceset/group/deleteuser", group_deleteuser, methods=post),
    ]

