"""A group's export and import: one streamable file, into the same deployment or another.

The file is JSON lines (one object per line, UTF-8), written and read a page at a time:

    {"format": "facegate-group", "version": 1, "group": {"name", "tag", "quality"},
     "model": {"key", "code", "dim"}, "faces": <the group's count when exported>, "after": 0}
    {"face": {"id", "tag", "key", "person_id", "person", "box", "quality", "created",
              "embedding": <base64 of dim float32, little-endian>, "image_sha256": <hex>,
              "thumbnail": <base64 JPEG or null>, "region": <base64 JPEG or null>}}
    ...
    {"end": {"faces": <faces written>, "last_id": <the last face's id>}}

Persons travel with their faces (person_id and name). A part of a big group is `after` /
`limit` (the next part's `after` is this part's `last_id`); each part imports on its own.
An import reads and checks the whole file before it writes (a bad line refuses it, nothing
written), then writes IMPORT_BATCH faces per transaction, each face once per key (its own
idempotency key, else one made of the exporting group and the face's id): a part imported
twice, or an import cut short and sent again, writes nothing twice. A file of another model
than the one this service embeds with is refused (MODEL_MISMATCH) unless the import is asked to
re-embed it: then the group keeps the file's model and a re-embedding job
(services/recognition/reembed.py) moves it to the service's from the stored face regions.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from datetime import datetime

import numpy as np

from services.gallery.records import Group, Imported, StoredFaceData
from services.recognition import catalogue, persons
from services.recognition import reembed as reembed_group
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError
from shared.models import BY_CODE, ModelSpec

FORMAT, VERSION = "facegate-group", 1
MAX_LINE_BYTES = 2 * 2**20  # an exported face's line is tens of KB
MAX_KEY_CHARS = 256  # as a bulk item's key
BOX_LIMIT = 2**31  # a box is stored as PostgreSQL integers
EXPORT_PAGE = 500  # faces read per query while streaming
IMPORT_BATCH = 500  # faces written per transaction


def _line(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def face_line(face: StoredFaceData) -> bytes:
    return _line({"face": {
        "id": face.id, "tag": face.tag, "key": face.key, "person_id": face.person_id,
        "person": face.person_name, "box": face.box, "quality": face.quality,
        "created": face.created_at.timestamp() if face.created_at else None,
        "embedding": _b64(np.asarray(face.vector, "<f4").tobytes()),
        "image_sha256": face.sha256.hex() if face.sha256 else None,
        "thumbnail": _b64(face.thumbnail), "region": _b64(face.region)}})


async def export(ctx: Recognition, app: int, group_name: str, after: int = 0, limit: int = 0
                 ) -> AsyncIterator[bytes]:
    """The group's file (or the part of it after face id `after`, at most `limit` faces; 0:
    all), as lines to stream. The group is looked up before the first line (GROUP_NOT_FOUND
    is an answer, not a cut stream)."""
    group = await catalogue.group(ctx, app, group_name)
    return _lines(ctx, group, after, limit)


async def _lines(ctx: Recognition, group: Group, after: int, limit: int
                 ) -> AsyncIterator[bytes]:
    model = BY_CODE[group.model]
    yield _line({"format": FORMAT, "version": VERSION,
                 "group": {"name": group.name, "tag": group.tag, "quality": group.quality},
                 "model": {"key": model.key, "code": model.code, "dim": model.dim},
                 "faces": group.face_count, "after": after})
    written, last = 0, after
    while not limit or written < limit:
        page = await ctx.gallery.groups.export_faces(
            group, last, EXPORT_PAGE if not limit else min(EXPORT_PAGE, limit - written))
        if not page:
            break
        for face in page:
            yield face_line(face)
        written += len(page)
        last = page[-1].id
    yield _line({"end": {"faces": written, "last_id": last}})


@dataclass
class ImportFile:
    source: str  # the exporting group's name
    tag: str
    model: ModelSpec
    faces: list[StoredFaceData]


def _refused(line: int, why: str) -> FaceError:
    return FaceError(ERRORS.PARAM_INVALID, f"line {line}: {why}")


def read_file(data: bytes) -> ImportFile:
    """The whole file checked (PARAM_INVALID naming the line): a header first, faces, an end
    line that counts them."""
    lines: Iterator[tuple[int, bytes]] = (
        (n, _bounded(n, line)) for n, line in enumerate(io.BytesIO(data), 1) if line.strip())
    first = next(lines, None)
    if first is None:
        raise FaceError(ERRORS.PARAM_MISSING, "the file is empty")
    header = _json(*first)
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise _refused(1, f"not a {FORMAT} file of version {VERSION}")
    model = BY_CODE.get((header.get("model") or {}).get("code"))
    if model is None or header["model"].get("key") != model.key:
        raise _refused(1, "a model this service does not know")
    group = header.get("group") or {}
    source = catalogue.group_name(str(group.get("name", "")), "group.name")
    faces: list[StoredFaceData] = []
    end = None
    for number, raw in lines:
        if end is not None:
            raise _refused(number, "nothing may follow the end line")
        value = _json(number, raw)
        if "face" in value:
            faces.append(_face(number, value["face"], model, source))
        elif "end" in value:
            end = value["end"]
        else:
            raise _refused(number, "neither a face nor the end line")
    if end is None or end.get("faces") != len(faces):
        raise FaceError(ERRORS.PARAM_INVALID,
                        "the file is incomplete: its end line is missing or counts otherwise")
    return ImportFile(source, catalogue.tag_text(str(group.get("tag") or ""), "group.tag"),
                      model, faces)


def _bounded(number: int, line: bytes) -> bytes:
    """A line read one at a time, refused before it is parsed when longer than any line an
    export writes (a face's line with its region and thumbnail is tens of KB): JSON's objects
    take many times their text in memory."""
    if len(line) > MAX_LINE_BYTES:
        raise _refused(number, f"longer than {MAX_LINE_BYTES} bytes")
    return line


def _text(number: int, value: object, what: str) -> str:
    text = str(value)
    if "\x00" in text:
        raise _refused(number, f"{what} holds a NUL character")
    return text


def _json(number: int, raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise _refused(number, "not a JSON object") from None
    if not isinstance(value, dict):
        raise _refused(number, "not a JSON object")
    return value


def _bytes(number: int, value: object, what: str) -> bytes | None:
    if value is None:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise _refused(number, f"{what} is not base64") from None


def _face(number: int, face: object, model: ModelSpec, source: str) -> StoredFaceData:
    if not isinstance(face, dict):
        raise _refused(number, "face must be an object")
    try:
        vector = np.frombuffer(_bytes(number, face.get("embedding"), "embedding") or b"", "<f4")
        if vector.shape != (model.dim,) or not np.all(np.isfinite(vector)):
            raise _refused(number, f"embedding must be {model.dim} finite float32 values")
        face_id = int(face["id"])
        box = [int(v) for v in face.get("box") or []]
        if box and (len(box) != 4 or not all(-BOX_LIMIT <= v < BOX_LIMIT for v in box)):
            raise _refused(number, "box must be 4 integers")
        quality = None if face.get("quality") is None else float(face["quality"])
        if quality is not None and not np.isfinite(quality):
            raise _refused(number, "quality must be a finite number")
        person = face.get("person_id")
        sha = face.get("image_sha256")
        created = face.get("created")
        key = _text(number, face.get("key") or f"export:{source}:{face_id}", "key")
        if len(key) > MAX_KEY_CHARS:
            raise _refused(number, f"key is over {MAX_KEY_CHARS} characters")
        return StoredFaceData(
            face_id, catalogue.tag_text(_text(number, face.get("tag") or "", "tag"),
                                        f"line {number}: tag"), key,
            None if person is None else persons.person_id(str(person),
                                                         f"line {number}: person_id"),
            persons.person_name(_text(number, face.get("person") or "", "person"),
                                f"line {number}: person"),
            box, quality, (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(
                np.float32), None if sha is None else bytes.fromhex(str(sha)),
            _bytes(number, face.get("thumbnail"), "thumbnail"),
            None if created is None else datetime.fromtimestamp(float(created)),
            _bytes(number, face.get("region"), "region"))
    except FaceError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError):
        raise _refused(number, "a face needs id, box, quality and embedding as exported"
                       ) from None


@dataclass
class ImportDone:
    group: str
    model: ModelSpec
    persons_created: int
    faces_created: int
    faces_existing: int
    reembed_job: str | None = None  # the job moving the group to the service's model


async def import_group(ctx: Recognition, app: int, group_name: str, data: bytes,
                       reembed: bool = False) -> ImportDone:
    """A group's file into the group `group_name` (made if missing, with the file's tag); a
    file of another model only with `reembed`, which then starts the group's re-embedding."""
    catalogue.group_name(group_name)
    # seconds of JSON and base64 for a big file: on a thread, not the gateway's event loop
    found = await asyncio.to_thread(read_file, data)
    moved = found.model.code != ctx.embedder.code
    if moved and not reembed:
        raise FaceError(ERRORS.MODEL_MISMATCH,
                        f"the file holds {found.model.key} vectors; this service embeds with "
                        f"{ctx.embedder.key} (import with reembed=true to move the group to "
                        "it from the file's face regions)")
    faces = found.faces if ctx.settings.keep_regions else [  # FACEGATE_KEEP_REGIONS=false
        replace_fields(face, region=None) for face in found.faces]
    total = Imported(0, 0, 0)
    held: Group | None = None
    for start in range(0, max(len(faces), 1), IMPORT_BATCH):
        done, held = await ctx.gallery.users.import_faces(
            app, group_name, found.model.code, found.tag, faces[start:start + IMPORT_BATCH])
        total = Imported(total.persons_created + done.persons_created,
                         total.faces_created + done.faces_created,
                         total.faces_existing + done.faces_existing)
    if held is not None:
        ctx.gallery.indexes.build_soon([held])
    job = None
    if moved:
        job = (await reembed_group.submit(ctx, app, group_name, ctx.settings.embedder)).id
    return ImportDone(group_name, found.model, total.persons_created, total.faces_created,
                      total.faces_existing, job)
