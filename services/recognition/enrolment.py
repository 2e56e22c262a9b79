"""Enrolment, the one path every way into the gallery takes: CloudWalk face/create and
face/edit, Baidu faceset/user/add, update and group/adduser, the native identity registry and
bulk ingestion (services/recognition/ingest.py).

    largest face, upright, embedded -> quality gate at the enrolment's level -> quality score
    -> one write (idempotent with a key) -> the group's HNSW index when it has grown past the
    threshold

The level (shared/quality_gate.py: strict, lenient, none) is decided here, once, by `level`:
the request's when it names one, else the group's default, else the service's setting. Only the
write differs by what the face belongs to (a group, a Baidu user, an ID number); the gallery
checks the model inside the write's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gallery.ingest import ItemOutcome
from services.gallery.records import FaceRow, FaceWritten, image_hash
from services.recognition import catalogue, vision
from services.recognition.context import ImageSource, Recognition
from shared import quality_gate
from shared.errors import FaceError
from shared.models import ModelSpec
from shared.quality_gate import GateLevel, GateLimits
from shared.results import FaceResult, ImageError, ImageResult
from shared.settings import Settings


@dataclass
class FaceToStore:
    """A face that passed the gate: the row the gallery writes, and its model."""

    model: ModelSpec
    row: FaceRow


def level(requested: GateLevel | None, group_default: GateLevel | None,
          service: GateLevel) -> GateLevel:
    """The level an enrolment runs at: the request's when it names one (/v1's `quality`,
    Baidu's quality_control), else the group's default (POST /v1/groups `quality`), else the
    service's (FACEGATE_QUALITY_GATE, or Baidu's own: baidu_default)."""
    return requested or group_default or service


def baidu_default(settings: Settings) -> GateLevel:
    """Baidu's registration without quality_control: what it is given, as Baidu's v2 does,
    unless FACEGATE_BAIDU_REGISTER_GATE asks for the strict gate."""
    return "strict" if settings.baidu_register_gate else "none"


def accept(face: FaceResult, rotation: int, model: ModelSpec, image: bytes,
           gate: GateLimits | None) -> FaceToStore:
    """The gate when there is one (FaceError naming the first failure), the stored quality
    score, and the thumbnail and region the worker made (vision.enrol_spec)."""
    if gate is not None:
        quality_gate.enforce(face.box, face.analysis, rotation, gate)
    return FaceToStore(model, FaceRow(face.embedding, model.code, list(face.box),
                                      quality_gate.quality_score(face.analysis, face.prob),
                                      image_hash(image), face.thumbnail, face.region))


async def embed_for_gallery(ctx: Recognition, image: bytes, at: GateLevel,
                            model_code: int | None = None) -> FaceToStore:
    """The image's largest face, embedded (with model `model_code`, a group's, when given;
    else the workers' own) and judged at level `at`."""
    gate = quality_gate.level_limits(ctx.settings, at)
    model = (vision.model_options(model_code, ctx.settings.embedder)
             if model_code is not None else {})
    found = await vision.run(ctx.queue, vision.ENROL, [image],
                             {"gate": gate is not None, "thumbnail": ctx.settings.thumbnail_size,
                              "region": ctx.settings.keep_regions,
                              **model})
    return accept(found.face, found.rotation, found.model, image, gate)


async def enrol_face(ctx: Recognition, app: int, group: str, image: ImageSource, tag: str,
                     key: str | None = None, quality: GateLevel | None = None,
                     person: str | None = None) -> FaceWritten:
    """One photo's largest face into the group, at the `quality` level asked for (else the
    group's, else the service's); one of the group's persons' faces when `person` is given."""
    gallery = ctx.gallery
    held = await gallery.groups.group(app, group)  # 12357 before reading the image
    if person is not None:
        await gallery.users.person(app, group, person)  # USER_NOT_FOUND before it, too
    at = level(quality, held.quality, ctx.settings.quality_gate)
    face = await embed_for_gallery(ctx, await image(), at, held.model)
    written, after = await gallery.groups.add_face(app, group, face.row, tag, key, person)
    gallery.indexes.build_soon([after])
    return written


async def replace_face(ctx: Recognition, app: int, group: str, face_id: int,
                       image: ImageSource | None, tag: str | None) -> None:
    """A new image, a new tag, or both, for an enrolled face (the image at the group's level,
    else the service's)."""
    gallery = ctx.gallery
    await gallery.groups.face(app, group, face_id)  # 12357 / 12292 before reading the image
    if image is None:
        await gallery.groups.edit_face(app, group, face_id, tag=tag)
        return
    held = await gallery.groups.group(app, group)
    face = await embed_for_gallery(ctx, await image(),
                                   level(None, held.quality, ctx.settings.quality_gate), held.model)
    await gallery.groups.edit_face(app, group, face_id, tag=tag, face=face.row)


async def register_user_face(ctx: Recognition, app: int, uid: str, user_info: str,
                             groups: list[str], image: bytes, quality: GateLevel | None,
                             replace: bool, must_exist: bool) -> None:
    """Baidu's user/add and user/update: the face under the user in each group (groups are
    created on first use), at the `quality` level asked for, else the strictest default of
    the groups that have one, else baidu_default."""
    gallery = ctx.gallery
    held = await catalogue.existing_groups(ctx, app, groups)  # the others: made on first use
    defaults = [g.quality for g in held if g.quality is not None]
    at = level(quality, quality_gate.strictest(defaults) if defaults else None,
               baidu_default(ctx.settings))
    face = await embed_for_gallery(ctx, image, at, catalogue.shared_model(held))
    touched = await gallery.users.add_user_face(app, uid, user_info, groups, face.row,
                                                replace=replace, must_exist=must_exist)
    gallery.indexes.build_soon(touched)


async def copy_user_faces(ctx: Recognition, app: int, uid: str, source: str,
                          targets: list[str]) -> None:
    """Baidu's group/adduser: a user's faces in one group enrolled in others too."""
    gallery = ctx.gallery
    gallery.indexes.build_soon(await gallery.users.copy_user(app, uid, source, targets))


async def register_identity(ctx: Recognition, app: int, id_card_number: str, name: str,
                            image: bytes, quality: GateLevel | None = None
                            ) -> tuple[bool, ModelSpec]:
    """The photo person/verify compares with, at the `quality` level asked for (else the
    service's); (created, model)."""
    face = await embed_for_gallery(ctx, image, level(quality, None, ctx.settings.quality_gate))
    created = await ctx.gallery.identities.put(app, id_card_number, name, face.row.vector,
                                               face.model.code)
    return created, face.model


def ingest_outcome(index: int, image: ImageResult | ImageError, data: bytes, model: ModelSpec,
                   gate: GateLimits | None) -> ItemOutcome:
    """One ingested item whose image a worker has run (vision.enrol_spec with the job's
    level): enrolled (with the face to write), no_face, low_quality or bad_image. The write,
    keyed for idempotency, is the gallery's (IngestJobs.complete_chunk), a chunk at a time;
    the group's index is built once, when the whole job is done."""
    if isinstance(image, ImageError):
        return ItemOutcome(index, "bad_image", image.error.model_dump())
    if not image.faces:
        return ItemOutcome(index, "no_face")
    try:
        face = accept(image.faces[0], image.rotation, model, data, gate)
    except FaceError as exc:
        return ItemOutcome(index, "low_quality", exc.to_dict())
    return ItemOutcome(index, "enrolled", face=face.row)
