"""The gallery's plain reads, creations and deletions, as the core offers them to the dialects.

Dialects call the recognition core only (docs/architecture.md); enrolment and search have
modules of their own (enrolment.py, search.py, ingest.py), and everything else a dialect needs
from the gallery is here. Each function takes the calling app, so tenancy is decided once, and
this is where a rule about groups, faces, users, identities, jobs or apps goes.

Group names: one rule for every dialect, GROUP_NAME (1-64 letters, digits or `_`). Baidu's v2
document limits its group_id to 48 characters, so a longer name made through /v1 or CloudWalk
cannot be named through Baidu's API: its dialect refuses it with that rule in the message.
"""

from __future__ import annotations

import re

from services.gallery.apps import App, NewApp
from services.gallery.identities import Identity
from services.gallery.ingest import OUTCOMES, IngestJob, ItemOutcome, NewItem, rate
from services.gallery.records import KEEP, MAX_TAG_BYTES, Group, Keep, StoredFace
from services.gallery.users import UserEntry
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError
from shared.job_metrics import JOBS_FINISHED
from shared.models import BY_CODE
from shared.quality_gate import GateLevel

# The core's vocabulary, which dialects read and print.
__all__ = ["KEEP", "MAX_TAG_BYTES", "OUTCOMES", "App", "Group", "Identity", "IngestJob",
           "ItemOutcome", "Keep", "NewApp", "NewItem", "StoredFace", "UserEntry", "rate"]

GROUP_NAME_LONGEST = 64
GROUP_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def group_name(value: str, field: str = "group", longest: int = GROUP_NAME_LONGEST) -> str:
    """`value` if it is a group name (GROUP_NAME, and at most `longest` characters where a
    vendor's document sets a shorter limit), else PARAM_INVALID naming `field`."""
    longest = min(longest, GROUP_NAME_LONGEST)
    if not GROUP_NAME.match(value) or len(value) > longest:
        raise FaceError(ERRORS.PARAM_INVALID, f"{field} must be 1-{longest} letters, digits or _")
    return value


def bounded_text(value: str, field: str, longest: int) -> str:
    """`value` if its UTF-8 is at most `longest` bytes, else PARAM_INVALID naming `field`."""
    if len(value.encode("utf-8")) > longest:
        raise FaceError(ERRORS.PARAM_INVALID, f"{field} is over {longest} bytes")
    return value


def tag_text(value: str, field: str = "tag") -> str:
    return bounded_text(value, field, MAX_TAG_BYTES)


# Groups and faces
async def create_group(ctx: Recognition, app: int, name: str, tag: str,
                       quality: GateLevel | None = None) -> Group:
    """A new group, holding the model the workers embed with now, with its enrolments'
    default quality level (None: the service's setting)."""
    return await ctx.gallery.groups.create_group(app, group_name(name), tag, ctx.embedder.code,
                                                 quality)


async def update_group(ctx: Recognition, app: int, name: str,
                       quality: GateLevel | Keep | None = KEEP, tag: str | None = None) -> Group:
    """Changes a group's enrolments' default level (None: back to the service's setting; KEEP:
    unchanged) and, when given, its tag. Enrolments from then on read it; an ingestion job
    already submitted keeps the level it was decided at (services/recognition/ingest.py)."""
    return await ctx.gallery.groups.update_group(
        app, name, quality, None if tag is None else tag_text(tag))


async def delete_group(ctx: Recognition, app: int, name: str) -> None:
    await ctx.gallery.groups.delete_group(app, name)


async def group(ctx: Recognition, app: int, name: str) -> Group:
    """The group, or GROUP_NOT_FOUND."""
    return await ctx.gallery.groups.group(app, name)


async def groups_page(ctx: Recognition, app: int, page: int, size: int
                      ) -> tuple[int, list[Group]]:
    return await ctx.gallery.groups.groups_page(app, page, size)


async def group_names(ctx: Recognition, app: int, start: int, num: int) -> list[str]:
    return await ctx.gallery.groups.group_names(app, start, num)


async def face(ctx: Recognition, app: int, group_name: str, face_id: int) -> StoredFace:
    return await ctx.gallery.groups.face(app, group_name, face_id)


async def faces_page(ctx: Recognition, app: int, group_name: str, tag: str, offset: int,
                     limit: int) -> tuple[int, list[StoredFace]]:
    return await ctx.gallery.groups.faces_page(app, group_name, tag, offset, limit)


async def delete_face(ctx: Recognition, app: int, group_name: str, face_id: int) -> None:
    await ctx.gallery.groups.delete_face(app, group_name, face_id)


async def thumbnail(ctx: Recognition, app: int, group_name: str, face_id: int) -> bytes:
    data = await ctx.gallery.groups.thumbnail(app, group_name, face_id)
    if data is None:
        raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} has no thumbnail (enrolled "
                        "with FACEGATE_THUMBNAIL_SIZE=0 or before thumbnails existed)")
    return data


# Baidu's users
async def user(ctx: Recognition, app: int, uid: str, group: str | None = None
               ) -> list[UserEntry]:
    return await ctx.gallery.users.get_user(app, uid, group)


async def delete_user(ctx: Recognition, app: int, uid: str, group: str | None = None) -> None:
    await ctx.gallery.users.delete_user(app, uid, group)


async def group_users(ctx: Recognition, app: int, group: str, start: int, num: int
                      ) -> list[tuple[str, str]]:
    return await ctx.gallery.users.group_users(app, group, start, num)


async def remove_user_from_groups(ctx: Recognition, app: int, uid: str, groups: list[str]
                                  ) -> None:
    await ctx.gallery.users.remove_user_from_groups(app, uid, groups)


# The identity registry (Baidu person/verify)
async def identity(ctx: Recognition, app: int, id_card_number: str) -> Identity:
    return await ctx.gallery.identities.get(app, id_card_number)


async def delete_identity(ctx: Recognition, app: int, id_card_number: str) -> None:
    await ctx.gallery.identities.delete(app, id_card_number)


# Ingestion jobs
async def ingest_job(ctx: Recognition, app: int, job_id: str) -> IngestJob | None:
    """The app's ingestion job; None when no ingestion job has that id (it may be another
    kind of job); JOB_NOT_FOUND when it is another app's."""
    if ctx.database is None or not await ctx.gallery.ingest.exists(job_id):
        return None
    return await ctx.gallery.ingest.job(app, job_id)


async def recent_jobs(ctx: Recognition, app: int, limit: int) -> list[IngestJob]:
    return await ctx.gallery.ingest.recent(app, limit)


async def job_items(ctx: Recognition, app: int, job_id: str, offset: int, limit: int,
                    status: str | None = None) -> list[ItemOutcome]:
    return await ctx.gallery.ingest.items(app, job_id, offset, limit, status)


async def cancel_job(ctx: Recognition, app: int, job_id: str) -> IngestJob:
    job, ended = await ctx.gallery.ingest.cancel(app, job_id)
    if ended:
        JOBS_FINISHED.labels("ingest", "cancelled").inc()  # once, not at every repeat
    return job


# Apps (the operator's, behind the admin secret: not an app's own)
async def apps(ctx: Recognition) -> list[App]:
    return await ctx.gallery.app_admin.list()


async def create_app(ctx: Recognition, name: str, qps: int | None) -> NewApp:
    return await ctx.gallery.app_admin.create(name, qps)


async def rotate_app(ctx: Recognition, name_or_key: str) -> NewApp:
    return await ctx.gallery.app_admin.rotate(name_or_key)


async def set_app_qps(ctx: Recognition, name_or_key: str, qps: int | None) -> App:
    return await ctx.gallery.app_admin.set_qps(name_or_key, qps)


async def revoke_app(ctx: Recognition, name_or_key: str) -> App:
    return await ctx.gallery.app_admin.revoke(name_or_key)


async def existing_groups(ctx: Recognition, app: int, names: list[str]) -> list[Group]:
    """Those of `names` that exist, once each, in one read (Baidu's calls name up to a few
    hundred groups at once and make the missing ones on first use)."""
    return await ctx.gallery.groups.groups_named(app, list(dict.fromkeys(names)))


def shared_model(groups: list[Group]) -> int | None:
    """The one model groups used together hold, so one probe vector serves them all (a
    re-embedded group's is not the workers' default); None when there are none.
    MODEL_MISMATCH when they differ: their vectors cannot be compared with one probe's."""
    models = {g.model for g in groups}
    if len(models) > 1:
        names = ", ".join(f"{g.name} ({BY_CODE[g.model].key})" for g in groups)
        raise FaceError(ERRORS.MODEL_MISMATCH, f"groups of different models ({names}) cannot "
                        "be used in one call: name them one at a time")
    return next(iter(models), None)
