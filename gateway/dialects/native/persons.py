"""/v1 persons: the people of a group, each with any number of faces (services/recognition/
persons.py). A person is a Baidu user of the group: either API reads it.

POST   /v1/groups/{group}/people                      {"name", "key"} -> 201 (200: the key's
                                                      person, now in this group)
GET    /v1/groups/{group}/people                      ?offset=0&limit=50
GET    /v1/groups/{group}/people/{person_id}
PATCH  /v1/groups/{group}/people/{person_id}          {"name"}
DELETE /v1/groups/{group}/people/{person_id}          its faces in the group with it
GET    /v1/groups/{group}/people/{person_id}/faces    ?offset=0&limit=50
POST   /v1/groups/{group}/people/{person_id}/merge    {"other"}: other's faces join it
POST   /v1/groups/{group}/people/{person_id}/not      {"face_id"}: "not this person"
PATCH  /v1/groups/{group}/faces/{face_id}             {"person_id"}: null for nobody
Faces join a person at enrolment: POST /v1/groups/{group}/faces {"person_id"} (groups.py),
in bulk items, or by confirming a cluster (people.py).
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request

from gateway.contract import Id, Offset, PersonId, PersonLabel, declare
from gateway.dialects.native.paths import GroupPath
from services.gallery.records import ListedFace, Person
from services.recognition import persons
from services.recognition.context import Recognition
from shared.answers import (
    Deleted,
    FaceAssigned,
    FaceRecord,
    FacesPage,
    NotPerson,
    PersonCreated,
    PersonRecord,
    PersonsPage,
)


def face_row(face: ListedFace) -> FaceRecord:
    """A face as every /v1 listing shows it."""
    return {"face_id": face.id, "tag": face.tag, "box": face.box, "quality": face.quality,
            "created": face.created_at.timestamp(), "uid": face.uid, "person_id": face.uid,
            "thumbnail": face.has_thumbnail}


def person_row(group: str, person: Person) -> PersonRecord:
    return {"person_id": person.person_id, "name": person.name, "group": group,
            "faces": person.faces, "created": person.created_at.timestamp()}


class NewPerson(GroupPath):
    name: PersonLabel
    key: PersonId | None = Field(None, description=(
        "the person's id, yours to choose (else one is made): a retry with the same key "
        "returns the same person, and a key the app already uses (a Baidu uid) adds that "
        "person to this group"))


@declare(NewPerson, statuses=(201, 200))
async def create_person(ctx: Recognition, request: Request, params: NewPerson
                        ) -> tuple[PersonCreated, int]:
    """A person in the group (201); with a `key` the app already has, that person (200,
    `new` false), now in this group too, its name unchanged."""
    person, new = await persons.create(ctx, request.state.app_id, params.group, params.name,
                                       params.key)
    return {**person_row(params.group, person), "new": new}, 201 if new else 200


class PeopleQuery(GroupPath):
    offset: Offset = 0
    limit: int = Field(50, ge=1, le=1000)


@declare(PeopleQuery)
async def list_people(ctx: Recognition, request: Request, params: PeopleQuery
                      ) -> tuple[PersonsPage, int]:
    """The group's persons, oldest first, with their face counts (Baidu's users of the
    group among them)."""
    total, found = await persons.page(ctx, request.state.app_id, params.group, params.offset,
                                      params.limit)
    return {"total": total, "offset": params.offset,
            "people": [person_row(params.group, p) for p in found]}, 200


class PersonPath(GroupPath):
    person_id: PersonId


@declare(PersonPath)
async def get_person(ctx: Recognition, request: Request, params: PersonPath
                     ) -> tuple[PersonRecord, int]:
    """One person of the group (404 if the group has none of that id)."""
    person = await persons.person(ctx, request.state.app_id, params.group, params.person_id)
    return person_row(params.group, person), 200


class Rename(PersonPath):
    name: PersonLabel


@declare(Rename)
async def rename_person(ctx: Recognition, request: Request, params: Rename
                        ) -> tuple[PersonRecord, int]:
    """A person's new name (in every group it is in: it is one person)."""
    person = await persons.rename(ctx, request.state.app_id, params.group, params.person_id,
                                  params.name)
    return person_row(params.group, person), 200


@declare(PersonPath)
async def delete_person(ctx: Recognition, request: Request, params: PersonPath
                        ) -> tuple[Deleted, int]:
    """The person leaves the group and its faces there are deleted; the person is gone when
    it is in no other group. The group stays."""
    await persons.delete(ctx, request.state.app_id, params.group, params.person_id)
    return {"person_id": params.person_id, "deleted": True}, 200


class PersonFacesQuery(PersonPath):
    offset: Offset = 0
    limit: int = Field(50, ge=1, le=1000)


@declare(PersonFacesQuery)
async def person_faces(ctx: Recognition, request: Request, params: PersonFacesQuery
                       ) -> tuple[FacesPage, int]:
    """The person's faces in the group, newest first."""
    total, found = await persons.faces(ctx, request.state.app_id, params.group,
                                       params.person_id, params.offset, params.limit)
    return {"total": total, "offset": params.offset, "faces": [face_row(f) for f in found]}, 200


class PersonMerge(PersonPath):
    other: PersonId = Field(description="the person found to be this one: its faces join "
                            "this person and it leaves the group")


@declare(PersonMerge)
async def merge_people(ctx: Recognition, request: Request, params: PersonMerge
                       ) -> tuple[PersonRecord, int]:
    """Two persons found to be one: `other`'s faces in the group become this person's, its
    "not this person" marks move too, and `other` leaves the group."""
    person = await persons.merge(ctx, request.state.app_id, params.group, params.person_id,
                                 params.other)
    return person_row(params.group, person), 200


class NotThisPerson(PersonPath):
    face_id: Id


@declare(NotThisPerson)
async def not_this_person(ctx: Recognition, request: Request, params: NotThisPerson
                          ) -> tuple[NotPerson, int]:
    """"This face is not this person": it leaves the person if it was its, and no
    clustering, join or cluster confirmation puts it with that person again (moving it to
    the person on purpose does)."""
    was = await persons.not_person(ctx, request.state.app_id, params.group, params.person_id,
                                   params.face_id)
    return {"group": params.group, "person_id": params.person_id, "face_id": params.face_id,
            "was_theirs": was}, 200


class FaceChange(GroupPath):
    """A face moved to a person, or to nobody."""

    CLEARABLE = frozenset({"person_id"})  # null or "": the face is nobody's
    face_id: Id
    person_id: PersonId | None = Field(description=(
        "the group's person the face is of; null: nobody's"))


@declare(FaceChange)
async def move_face(ctx: Recognition, request: Request, params: FaceChange
                    ) -> tuple[FaceAssigned, int]:
    """Moves an enrolled face to a person (clearing a "not this person" between them) or,
    with person_id null, to nobody."""
    changed = await persons.assign(ctx, request.state.app_id, params.group, [params.face_id],
                                   params.person_id)
    return {"group": params.group, "face_id": params.face_id, "person_id": params.person_id,
            "changed": bool(changed)}, 200


ROUTES = [
    ("/groups/{group}/people/{person_id}/merge", merge_people, "POST"),
    ("/groups/{group}/people/{person_id}/not", not_this_person, "POST"),
    ("/groups/{group}/faces/{face_id}", move_face, "PATCH"),
    ("/groups/{group}/people", create_person, "POST"),
    ("/groups/{group}/people", list_people, "GET"),
    ("/groups/{group}/people/{person_id}", get_person, "GET"),
    ("/groups/{group}/people/{person_id}", rename_person, "PATCH"),
    ("/groups/{group}/people/{person_id}", delete_person, "DELETE"),
    ("/groups/{group}/people/{person_id}/faces", person_faces, "GET"),
]
