"""/v1 groups, their faces and 1:N search: what CloudWalk's /face/clustering calls do, in the
native form (JSON, HTTP status codes), plus listings the console shows (faces by tag, with
thumbnails; a group's Baidu users).

GET    /v1/groups                                 ?page=1&size=50
POST   /v1/groups                                 {"name", "tag", "quality"}
PATCH  /v1/groups/{group}                         {"quality", "tag"}: null or "" quality
                                                  = the service's setting
DELETE /v1/groups/{group}
GET    /v1/groups/{group}/faces                   ?tag=&offset=0&limit=50
POST   /v1/groups/{group}/faces                   {"image" | "image_url", "tag", "key",
                                                   "quality", "person_id"}
DELETE /v1/groups/{group}/faces/{face_id}
GET    /v1/groups/{group}/faces/{face_id}/thumbnail   image/jpeg
POST   /v1/groups/{group}/identify                {"image" | "image_url", "top_n"}: faces
                                                  and people
GET    /v1/groups/{group}/users                   ?offset=0&limit=50
DELETE /v1/users/{uid}                            ?group=
GET    /v1/jobs                                   ?limit=20: the app's ingestion jobs
"""

from __future__ import annotations

from pydantic import Field, model_validator
from starlette.requests import Request
from starlette.responses import Response

from gateway.contract import (
    LEVELS_MEANING,
    MAX_INT,
    Fields,
    GroupName,
    Id,
    Offset,
    PersonId,
    Tag,
    declare,
    quality_level,
)
from gateway.dialects.native.ingest import job_summary
from gateway.dialects.native.operations import OneImage, images
from gateway.dialects.native.paths import GroupPath
from gateway.dialects.native.persons import face_row
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
from shared.quality_gate import GateLevel


def _image(ctx: Recognition, params: OneImage) -> ImageSource:
    """The image parameter, read when the core asks (after the group check)."""
    async def read() -> bytes:
        [data] = await images(ctx, params, 1)
        return data

    return read


class GroupsQuery(Fields):
    page: int = Field(1, ge=1, le=MAX_INT)
    size: int = Field(50, ge=1, le=1000)

    @model_validator(mode="after")
    def _offset_in_bigint(self) -> GroupsQuery:
        if self.page > MAX_INT // self.size:
            raise FaceError(ERRORS.PARAM_INVALID, f"page must be in [1, {MAX_INT // self.size}]")
        return self


@declare(GroupsQuery)
async def list_groups(ctx: Recognition, request: Request, params: GroupsQuery
                      ) -> tuple[GroupsPage, int]:
    """The app's groups, a page at a time, with their face counts."""
    total, groups = await catalogue.groups_page(ctx, request.state.app_id, params.page,
                                                params.size)
    return {"total": total, "page": params.page, "groups": [_group_row(g) for g in groups]}, 200


def _group_row(group: catalogue.Group) -> GroupRecord:
    return {"name": group.name, "tag": group.tag, "faces": group.face_count,
            "indexed": group.indexed, "quality": group.quality}


class NewGroup(Fields):
    name: GroupName
    tag: Tag = ""
    quality: GateLevel | None = quality_level(
        "the service's setting (FACEGATE_QUALITY_GATE)",
        "the level of every enrolment into the group that names none, in any dialect")


@declare(NewGroup, statuses=(201,))
async def create_group(ctx: Recognition, request: Request, params: NewGroup
                       ) -> tuple[GroupRecord, int]:
    """A new, empty group (409 if the name is taken), with its enrolments' default quality
    level when `quality` is given."""
    group = await catalogue.create_group(ctx, request.state.app_id, params.name, params.tag,
                                         params.quality)
    return {"name": group.name, "tag": group.tag, "faces": 0, "quality": group.quality}, 201


class GroupChange(GroupPath):
    """A field left out stays as it is."""

    CLEARABLE = frozenset({"quality"})  # null or "": back to the service's setting
    KEEP_BLANK = frozenset({"tag"})  # "" clears the tag
    quality: GateLevel | None = Field(None, description=(
        "the level of every enrolment into the group that names none, in any dialect "
        f"({LEVELS_MEANING}); null or \"\": back to the service's setting "
        "(FACEGATE_QUALITY_GATE); left out: unchanged"))
    tag: Tag | None = Field(None, description="the group's new tag; left out: unchanged")


@declare(GroupChange)
async def update_group(ctx: Recognition, request: Request, params: GroupChange
                       ) -> tuple[GroupRecord, int]:
    """Changes a group's default enrolment level (`quality`; null or "": back to the
    service's setting) or its tag; the fields left out stay. Enrolments from then on read it;
    an ingestion job already submitted keeps its level."""
    quality = params.quality if "quality" in params.model_fields_set else catalogue.KEEP
    group = await catalogue.update_group(ctx, request.state.app_id, params.group, quality,
                                         params.tag)
    return _group_row(group), 200


@declare(GroupPath)
async def delete_group(ctx: Recognition, request: Request, params: GroupPath
                       ) -> tuple[Deleted, int]:
    """Deletes a group and every face in it."""
    await catalogue.delete_group(ctx, request.state.app_id, params.group)
    return {"name": params.group, "deleted": True}, 200


class FacesQuery(GroupPath):
    tag: Tag = Field("", description="keeps the faces whose tag contains it")
    offset: Offset = 0
    limit: int = Field(50, ge=1, le=1000)


@declare(FacesQuery)
async def list_faces(ctx: Recognition, request: Request, params: FacesQuery
                     ) -> tuple[FacesPage, int]:
    """A group's faces, newest first; `tag` keeps those whose tag contains it."""
    total, faces = await catalogue.faces_page(ctx, request.state.app_id, params.group,
                                              params.tag, params.offset, params.limit)
    return {"total": total, "offset": params.offset,
            "faces": [face_row(f) for f in faces]}, 200


class NewFace(GroupPath, OneImage):
    tag: Tag = ""
    key: str | None = Field(None, max_length=200, description="an idempotency key: a retry "
                            "with the same key returns the face it made")
    quality: GateLevel | None = quality_level(
        "the group's default, else the service's setting (FACEGATE_QUALITY_GATE)")
    person_id: PersonId | None = Field(None, description=(
        "the group's person the face is of (POST /v1/groups/{group}/people); 404 if the group "
        "has none of that id"))


@declare(NewFace, statuses=(201, 200))
async def enrol(ctx: Recognition, request: Request, params: NewFace) -> tuple[Enrolled, int]:
    """One photo's largest face into the group, through the quality gate at the `quality`
    level, as one of the faces of the person `person_id` when given; `key` makes a retry
    return the face it made (created: false)."""
    written = await enrolment.enrol_face(ctx, request.state.app_id, params.group,
                                         _image(ctx, params), params.tag, params.key,
                                         params.quality, params.person_id)
    return ({"face_id": written.face_id, "created": written.created, "group": params.group},
            201 if written.created else 200)


class FacePath(GroupPath):
    face_id: Id


@declare(FacePath)
async def delete_face(ctx: Recognition, request: Request, params: FacePath
                      ) -> tuple[Deleted, int]:
    """Deletes one enrolled face."""
    await catalogue.delete_face(ctx, request.state.app_id, params.group, params.face_id)
    return {"face_id": params.face_id, "deleted": True}, 200


@declare(FacePath)
async def thumbnail(ctx: Recognition, request: Request, params: FacePath) -> Response:
    """The enrolled face's thumbnail (JPEG), stored at enrolment."""
    data = await catalogue.thumbnail(ctx, request.state.app_id, params.group, params.face_id)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400"})


class Identify(GroupPath, OneImage):
    top_n: int = Field(5, ge=1, le=100)


@declare(Identify)
async def identify(ctx: Recognition, request: Request, params: Identify
                   ) -> tuple[IdentifyResult, int]:
    """The photo's largest face against the group: the top_n closest faces (`matches`, each
    judged at the recommended threshold) and the top_n closest people (`people`: a person's
    score fused over its faces, a face with no person counting as one; `same_person` at the
    `verdict`'s threshold, which keeps the false-positive identification rate
    FACEGATE_IDENTIFY_FPIR at the group's size)."""
    found = await search.identify_people(ctx, request.state.app_id, params.group,
                                         _image(ctx, params), params.top_n)
    return {"group": params.group, "threshold": RECOMMENDED_SCORE, "matches": [
        {"face_id": m.face_id, "tag": m.tag, "score": round(m.score, 6),
         "same_person": same_person(m.score)} for m in found.faces],
        "people": [{"person_id": p.person_id, "name": p.name, "score": round(p.score, 6),
                    "same_person": p.same_person, "face_id": p.face_id, "faces": p.faces}
                   for p in found.people],
        "verdict": {"fpir": found.fpir, "people": found.people_in_group,
                    "threshold": round(found.threshold, 6)}}, 200


class UsersQuery(GroupPath):
    offset: Offset = 0
    limit: int = Field(50, ge=1, le=1000)


@declare(UsersQuery)
async def list_users(ctx: Recognition, request: Request, params: UsersQuery
                     ) -> tuple[UsersPage, int]:
    """The Baidu users (faceset/user/add) in a group."""
    users = await catalogue.group_users(ctx, request.state.app_id, params.group,
                                        params.offset, params.limit)
    return {"offset": params.offset, "users": [{"uid": uid, "user_info": info}
                                               for uid, info in users]}, 200


class UserPath(Fields):
    uid: str = Field(max_length=128)
    group: GroupName | None = Field(None, description="only from this group")


@declare(UserPath)
async def delete_user(ctx: Recognition, request: Request, params: UserPath
                      ) -> tuple[Deleted, int]:
    """Deletes a Baidu user, from one group (`group`) or from all."""
    await catalogue.delete_user(ctx, request.state.app_id, params.uid, params.group)
    return {"uid": params.uid, "deleted": True}, 200


class JobsQuery(Fields):
    limit: int = Field(20, ge=1, le=200)


@declare(JobsQuery)
async def list_jobs(ctx: Recognition, request: Request, params: JobsQuery
                    ) -> tuple[JobsPage, int]:
    """The app's latest ingestion jobs, newest first."""
    jobs = await catalogue.recent_jobs(ctx, request.state.app_id, params.limit)
    return {"jobs": [job_summary(job) for job in jobs]}, 200


ROUTES = [
    ("/groups", list_groups, "GET"),
    ("/groups", create_group, "POST"),
    ("/groups/{group}", update_group, "PATCH"),
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
