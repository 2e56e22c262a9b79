"""Persons: the people of a group, each with any number of faces (issue 40).

A person is what Baidu calls a user (its uid is the person's id, its user_info the person's
name), so one record serves every dialect: a person made through /v1 is a Baidu user of that
group, and a Baidu user is listed, read and identified through /v1. CloudWalk's API has no
persons: it keeps its faces-only view. The ids follow Baidu's uid rule (PERSON_ID) so that every
person can be named through Baidu's API too.
"""

from __future__ import annotations

import re
import secrets

from services.gallery.records import ListedFace, Person
from services.recognition.catalogue import bounded_text
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError

PERSON_ID = re.compile(r"^[A-Za-z0-9_]{1,128}$")  # Baidu's uid: letters, digits, _; <= 128
NAME_LONGEST_BYTES = 256  # Baidu's user_info, which a person's name is


def person_id(value: str, field: str = "person_id") -> str:
    """`value` if it is a person id (PERSON_ID), else PARAM_INVALID naming `field`."""
    if not PERSON_ID.match(value):
        raise FaceError(ERRORS.PARAM_INVALID, f"{field} must be 1-128 letters, digits or _")
    return value


def person_name(value: str, field: str = "name") -> str:
    return bounded_text(value, field, NAME_LONGEST_BYTES)


def new_person_id() -> str:
    """An id for a person made without a key: 64 random bits, never a caller's guess."""
    return "p_" + secrets.token_hex(8)


async def create(ctx: Recognition, app: int, group: str, name: str, key: str | None
                 ) -> tuple[Person, bool]:
    """A person in the group; `key` is its id when given, so a retried call (or a Baidu user
    of another group) finds the same person: (person, created)."""
    return await ctx.gallery.users.create_person(
        app, group, person_id(key, "key") if key else new_person_id(), person_name(name))


async def person(ctx: Recognition, app: int, group: str, person: str) -> Person:
    return await ctx.gallery.users.person(app, group, person)


async def page(ctx: Recognition, app: int, group: str, offset: int, limit: int
               ) -> tuple[int, list[Person]]:
    return await ctx.gallery.users.persons_page(app, group, offset, limit)


async def rename(ctx: Recognition, app: int, group: str, person: str, name: str) -> Person:
    return await ctx.gallery.users.rename_person(app, group, person, person_name(name))


async def delete(ctx: Recognition, app: int, group: str, person: str) -> None:
    """The person's faces in the group go, and the person with them when it is in no other
    group; the group stays."""
    await ctx.gallery.users.delete_person(app, group, person)


async def faces(ctx: Recognition, app: int, group: str, person: str, offset: int, limit: int
                ) -> tuple[int, list[ListedFace]]:
    """The person's faces in the group, newest first."""
    return await ctx.gallery.groups.faces_page(app, group, "", offset, limit, person)


# Corrections: persons are what lasts (a clustering is recomputed; a person's faces and its
# "not this person" marks are kept by every run and every join: services/recognition/people.py)
async def assign(ctx: Recognition, app: int, group: str, face_ids: list[int],
                 person: str | None) -> int:
    """Faces moved to a person (None: to nobody), which clears a "not this person" between
    them; how many changed."""
    return await ctx.gallery.users.assign_faces(app, group, face_ids, person)


async def not_person(ctx: Recognition, app: int, group: str, person: str, face_id: int
                     ) -> bool:
    """"This face is not this person": it leaves the person and never joins it again
    (until moved to it on purpose); whether it was the person's."""
    return await ctx.gallery.users.not_person(app, group, person, face_id)


async def merge(ctx: Recognition, app: int, group: str, into: str, other: str) -> Person:
    """Two persons found to be one: `other`'s faces become `into`'s."""
    return await ctx.gallery.users.merge_persons(app, group, into, other)
