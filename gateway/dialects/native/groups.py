"""/v1 groups, their faces and 1:N search: what CloudWalk's /face/clustering calls do, in the
native form (JSON, HTTP status codes), plus listings the console shows (faces by tag, with
thumbnails; a group's Baidu users).

GET    /v1/groups                                 ?page=1&size=50
POST   /v1/groups                                 {"name", "tag"}
DELETE /v1/groups/{group}
GET    /v1/groups/{group}/faces                   ?tag=&offset=0&limit=50
POST   /v1/groups/{group}/faces                   {"image" | "image_url", "tag", "key"}
DELETE /v1/groups/{group}/faces/{face_id}
GET    /v1/groups/{group}/faces/{face_id}/thumbnail   image/jpeg
POST   /v1/groups/{group}/identify                {"image" | "image_url", "top_n"}
GET    /v1/groups/{group}/users                   ?offset=0&limit=50
DELETE /v1/users/{uid}                            ?group=
GET    /v1/jobs                                   ?limit=20: the app's ingestion jobs
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.dialects.native.ingest import job_summary
from gateway.dialects.native.operations import images
from gateway.params import Params, integer, text
from services.recognition import catalogue, enrolment, search
from services.recognition.context import ImageSource, Recognition
from shared.answers import (
    Deleted,
    Enrolled,
    FacesPage,
    GroupRecord,
    GroupsPage,
    IdentifyResult,
    JobsPage,
    UsersPage,
)
from shared.errors import ERRORS, FaceError
from shared.models import RECOMMENDED_SCORE, same_person

_MAX_KEY = 200
_MAX_OFFSET = 2**62


def _group(request: Request) -> str:
    return catalogue.group_name(request.path_params["group"])


def _face_id(request: Request) -> int:
    return integer({"face_id": request.path_params["face_id"]}, "face_id")


def _tag(params: Params) -> str:
    return catalogue.tag_text(text(params, "tag", required=False))


def _image(ctx: Recognition, params: Params) -> ImageSource:
    """The image parameter, read when the core asks (after the group check)."""
    async def read() -> bytes:
        [data] = await images(ctx, params, 1)
        return data

    return read


def _face_row(face) -> dict:
    return {"face_id": face.id, "tag": face.tag, "box": face.box, "quality": face.quality,
            "created": face.created_at.timestamp(), "uid": face.uid,
            "thumbnail": face.has_thumbnail}


async def list_groups(ctx: Recognition, request: Request, params: Params) -> tuple[GroupsPage, int]:
    """The app's groups, a page at a time, with their face counts."""
    size = integer(params, "size", 50, high=1000)
    page = integer(params, "page", 1, high=_MAX_OFFSET // size)  # the offset stays a bigint
    total, groups = await catalogue.groups_page(ctx, request.state.app_id, page, size)
    return {"total": total, "page": page, "groups": [
        {"name": g.name, "tag": g.tag, "faces": g.face_count, "indexed": g.indexed}
        for g in groups]}, 200


async def create_group(ctx: Recognition, request: Request, params: Params
                       ) -> tuple[GroupRecord, int]:
    """A new, empty group (409 if the name is taken)."""
    name = catalogue.group_name(text(params, "name"), "name")
    group = await catalogue.create_group(ctx, request.state.app_id, name, _tag(params))
    return {"name": group.name, "tag": group.tag, "faces": 0}, 201


async def delete_group(ctx: Recognition, request: Request, params: Params) -> tuple[Deleted, int]:
    """Deletes a group and every face in it."""
    name = _group(request)
    await catalogue.delete_group(ctx, request.state.app_id, name)
    return {"name": name, "deleted": True}, 200


async def list_faces(ctx: Recognition, request: Request, params: Params) -> tuple[FacesPage, int]:
    """A group's faces, newest first; `tag` keeps those whose tag contains it."""
    offset = integer(params, "offset", 0, low=0, high=_MAX_OFFSET)
    limit = integer(params, "limit", 50, high=1000)
    total, faces = await catalogue.faces_page(
        ctx, request.state.app_id, _group(request), _tag(params), offset, limit)
    return {"total": total, "offset": offset, "faces": [_face_row(f) for f in faces]}, 200


async def enrol(ctx: Recognition, request: Request, params: Params) -> tuple[Enrolled, int]:
    """One photo's largest face into the group, through the quality gate; `key` makes a
    retry return the face it made (created: false)."""
    group, tag = _group(request), _tag(params)
    key = text(params, "key", required=False) or None
    if key is not None and len(key) > _MAX_KEY:
        raise FaceError(ERRORS.PARAM_INVALID, f"key is over {_MAX_KEY} characters")

    written = await enrolment.enrol_face(ctx, request.state.app_id, group,
                                         _image(ctx, params), tag, key)
    return ({"face_id": written.face_id, "created": written.created, "group": group},
            201 if written.created else 200)


async def delete_face(ctx: Recognition, request: Request, params: Params) -> tuple[Deleted, int]:
    """Deletes one enrolled face."""
    face_id = _face_id(request)
    await catalogue.delete_face(ctx, request.state.app_id, _group(request), face_id)
    return {"face_id": face_id, "deleted": True}, 200


async def thumbnail(ctx: Recognition, request: Request, params: Params) -> Response:
    """The enrolled face's thumbnail (JPEG), stored at enrolment."""
    face_id = _face_id(request)
    data = await catalogue.thumbnail(ctx, request.state.app_id, _group(request), face_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


async def identify(ctx: Recognition, request: Request, params: Params
                   ) -> tuple[IdentifyResult, int]:
    """The photo's largest face against the group: the top_n closest faces, best first, each
    judged at the recommended threshold."""
    group = _group(request)
    top_n = integer(params, "top_n", 5, high=100)

    matches = await search.identify(ctx, request.state.app_id, group, _image(ctx, params),
                                    top_n)
    return {"group": group, "threshold": RECOMMENDED_SCORE, "matches": [
        {"face_id": m.face_id, "tag": m.tag, "score": round(m.score, 6),
         "same_person": same_person(m.score)} for m in matches]}, 200


async def list_users(ctx: Recognition, request: Request, params: Params) -> tuple[UsersPage, int]:
    """The Baidu users (faceset/user/add) in a group."""
    offset = integer(params, "offset", 0, low=0)
    limit = integer(params, "limit", 50, high=1000)
    users = await catalogue.group_users(ctx, request.state.app_id, _group(request), offset,
                                        limit)
    return {"offset": offset, "users": [{"uid": uid, "user_info": info}
                                        for uid, info in users]}, 200


async def delete_user(ctx: Recognition, request: Request, params: Params) -> tuple[Deleted, int]:
    """Deletes a Baidu user, from one group (`group`) or from all."""
    uid = request.path_params["uid"]
    group = text(params, "group", required=False) or None
    await catalogue.delete_user(ctx, request.state.app_id, uid, group)
    return {"uid": uid, "deleted": True}, 200


async def list_jobs(ctx: Recognition, request: Request, params: Params) -> tuple[JobsPage, int]:
    """The app's latest ingestion jobs, newest first."""
    limit = integer(params, "limit", 20, high=200)
    jobs = await catalogue.recent_jobs(ctx, request.state.app_id, limit)
    return {"jobs": [job_summary(job) for job in jobs]}, 200


ROUTES = [
    ("/groups", list_groups, "GET"),
    ("/groups", create_group, "POST"),
    ("/groups/{group}", delete_group, "DELETE"),
    ("/groups/{group}/faces", list_faces, "GET"),
    ("/groups/{group}/faces", enrol, "POST"),
    ("/groups/{group}/faces/{face_id}", delete_face, "DELETE"),
    ("/groups/{group}/faces/{face_id}/thumbnail", thumbnail, "GET"),
    ("/groups/{group}/identify", identify, "POST"),
    ("/groups/{group}/users", list_users, "GET"),
    ("/users/{uid}", delete_user, "DELETE"),
    ("/jobs", list_jobs, "GET"),
]
