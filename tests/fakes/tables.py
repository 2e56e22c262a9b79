"""The fake gallery's tables: rows in dicts, ids from counters, one clock, and what PostgreSQL's
schema would enforce (unique keys, rows that must refer to something, cascades, the vector's
dimension); and the connection-level functions of services/gallery/faces.py, which the fake's
repositories share as the real ones share those.

A repository method runs inside `atomic()`: the tables are copied first and put back if it
raises, so a failed call leaves nothing half-written, as a transaction would. Sequences are
not put back, as PostgreSQL's are not.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from services.gallery.apps import App
from services.gallery.ingest import OUTCOMES, IngestJob
from services.gallery.records import FaceRow, FaceWritten, Group, Match
from shared.errors import ERRORS, FaceError
from shared.models import require_same_model
from shared.settings import GateLevel

DIM = 512  # faces.embedding and identities.embedding are vector(512)


class IntegrityError(Exception):
    """A write PostgreSQL's constraints would refuse (a unique key taken, a row referring to
    nothing, a vector of another dimension). Not a FaceError: psycopg's errors are not either,
    and the core never expects one."""


@dataclass
class GroupRow:
    id: int
    app: int
    name: str
    tag: str
    model: int
    face_count: int = 0
    indexed: bool = False
    quality: GateLevel | None = None

    def record(self) -> Group:
        return Group(self.id, self.name, self.tag, self.model, self.face_count, self.indexed,
                     self.quality)


@dataclass
class FaceEntry:
    id: int
    app: int
    group_id: int
    user_id: int | None
    model: int
    vector: np.ndarray
    box: list[int]
    quality: float | None
    tag: str
    sha256: bytes | None
    request_key: str | None
    thumbnail: bytes | None
    created_at: datetime
    updated_at: datetime
    region: bytes | None = None


@dataclass
class UserRow:
    id: int
    app: int
    uid: str
    user_info: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class IdentityRow:
    id_card_number: str
    name: str
    model: int
    vector: np.ndarray


@dataclass
class ItemRow:
    index: int
    key: str | None  # None once its face is deleted
    tag: str
    image: bytes | None
    url: str | None
    status: str | None = None  # None while pending
    face_id: int | None = None
    created: bool | None = None
    error: dict | None = None
    person: str | None = None


@dataclass
class ChunkRow:
    start: int
    stop: int
    sent_at: datetime
    done_at: datetime | None = None
    worker: str | None = None


@dataclass
class JobRow:
    id: uuid.UUID
    app: int
    group: str
    chunk_size: int
    created_at: datetime
    total: int = 0
    next_start: int = 0
    state: str = "running"
    error: dict | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    created: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    items: list[ItemRow] = field(default_factory=list)
    chunks: dict[int, ChunkRow] = field(default_factory=dict)  # by start
    quality: GateLevel | None = None

    def record(self, in_flight: int = 0) -> IngestJob:
        return IngestJob(str(self.id), self.app, self.group, self.total, self.state, self.done,
                         {k: v for k, v in self.counts.items() if v}, self.created,
                         self.created_at, self.started_at, self.finished_at, self.error,
                         in_flight, self.quality)


@dataclass
class ClusterMeta:
    representative: int | None = None
    name: str | None = None


@dataclass
class RunRow:
    id: uuid.UUID
    app: int
    group_id: int
    score: float
    total: int
    created_at: datetime
    state: str = "queued"
    done: int = 0
    clusters: int | None = None
    next_cluster: int = 0
    error: dict | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    placed: dict[int, int] = field(default_factory=dict)  # face_clusters: face id -> cluster
    meta: dict[int, ClusterMeta] = field(default_factory=dict)  # clusters: by cluster id


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """1 - pgvector's cosine distance (`<=>`): the vectors' cosine, whatever their lengths."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


def stored_vector(vector: np.ndarray) -> np.ndarray:
    """A vector as a vector(512) column keeps it: float32, the dimension checked."""
    stored = np.array(vector, np.float32).reshape(-1)
    if stored.shape != (DIM,):
        raise IntegrityError(f"expected {DIM} dimensions, not {stored.shape[0]}")
    return stored


class Tables:
    def __init__(self) -> None:
        self._sequences: dict[str, int] = {}
        self._clock = datetime.now(UTC)
        self.apps: dict[int, App] = {}
        self.groups: dict[int, GroupRow] = {}
        self.faces: dict[int, FaceEntry] = {}
        self.users: dict[int, UserRow] = {}
        self.members: set[tuple[int, int]] = set()  # group_users: (group id, user id)
        self.identities: dict[tuple[int, str], IdentityRow] = {}
        self.jobs: dict[uuid.UUID, JobRow] = {}
        self.runs: dict[uuid.UUID, RunRow] = {}
        self.not_persons: set[tuple[int, int]] = set()  # face_not_person: (face id, user id)
        # as the first migration leaves it: the default app, with no credentials
        self.apps[self.next_id("apps")] = App(1, "default", None, None, None, None, None,
                                              self.now())

    # bookkeeping ------------------------------------------------------------------------
    def next_id(self, table: str) -> int:
        self._sequences[table] = self._sequences.get(table, 0) + 1
        return self._sequences[table]

    def now(self) -> datetime:
        """The wall clock, never twice the same instant (rows ordered by time stay ordered)."""
        self._clock = max(datetime.now(UTC), self._clock + timedelta(microseconds=1))
        return self._clock

    _STATE = ("apps", "groups", "faces", "users", "members", "identities", "jobs", "runs",
              "not_persons")

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction (or a savepoint, nested): all of it, or none of it."""
        saved = copy.deepcopy({name: getattr(self, name) for name in self._STATE})
        try:
            yield
        except BaseException:
            for name, value in saved.items():
                setattr(self, name, value)
            raise

    def require_app(self, app: int) -> None:
        if app not in self.apps:
            raise IntegrityError(f"no app {app}")

    # deletions and their cascades ----------------------------------------------------------
    def drop_faces(self, face_ids: list[int]) -> None:
        for face_id in face_ids:
            del self.faces[face_id]
            self.not_persons = {(f, u) for f, u in self.not_persons if f != face_id}
            for run in self.runs.values():
                run.placed.pop(face_id, None)
                for meta in run.meta.values():
                    if meta.representative == face_id:
                        meta.representative = None  # ON DELETE SET NULL
        self.erase_face_traces(set(face_ids))

    def erase_face_traces(self, face_ids: set[int]) -> None:
        """services/gallery/erasure.py: the faces' ingestion items keep their outcome, not
        their key, tag, URL or face; a cluster with no representative takes its smallest face,
        or goes with its name when it has none."""
        for job in self.jobs.values():
            for item in job.items:
                if item.face_id in face_ids:
                    item.key, item.tag, item.url, item.image, item.face_id = \
                        None, "", None, None, None
        for run in self.runs.values():
            for cluster, meta in list(run.meta.items()):
                if meta.representative is None:
                    members = [f for f, c in run.placed.items() if c == cluster]
                    if members:
                        meta.representative = min(members)
                    else:
                        del run.meta[cluster]

    def drop_group(self, group_id: int) -> None:
        self.drop_faces([f.id for f in self.faces.values() if f.group_id == group_id])
        members = {u for g, u in self.members if g == group_id}
        self.members = {(g, u) for g, u in self.members if g != group_id}
        for user_id in members - {u for _, u in self.members}:  # in no group left: erased
            self.drop_user(user_id)
        for run_id in [r.id for r in self.runs.values() if r.group_id == group_id]:
            del self.runs[run_id]
        del self.groups[group_id]

    def drop_user(self, user_id: int) -> None:
        self.drop_faces([f.id for f in self.faces.values() if f.user_id == user_id])
        self.members = {(g, u) for g, u in self.members if u != user_id}
        self.not_persons = {(f, u) for f, u in self.not_persons if u != user_id}
        del self.users[user_id]

    # the connection-level functions of services/gallery/faces.py -----------------------------
    def group_row(self, app: int, name: str) -> GroupRow | None:
        return next((g for g in self.groups.values() if g.app == app and g.name == name), None)

    def lock_group(self, app: int, name: str) -> Group:
        row = self.group_row(app, name)
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        return row.record()

    def new_group(self, app: int, name: str, tag: str, model: int,
                  quality: GateLevel | None = None) -> GroupRow:
        self.require_app(app)
        if self.group_row(app, name) is not None:
            raise IntegrityError(f"group {name} exists")
        row = GroupRow(self.next_id("groups"), app, name, tag, model, quality=quality)
        self.groups[row.id] = row
        return row

    def open_group(self, app: int, name: str, model: int) -> Group:
        """The group, made on first use; its model must be `model`."""
        if self.group_row(app, name) is None:
            self.new_group(app, name, "", model)
        group = self.lock_group(app, name)
        require_same_model(group.model, model, f"group {name}")
        return group

    def insert_face_once(self, app: int, group: Group, face: FaceRow, tag: str,
                         request_key: str | None, user_id: int | None = None) -> FaceWritten:
        require_same_model(group.model, face.model, f"group {group.name}")
        if request_key:
            found = next((f.id for f in self.faces.values()
                          if f.group_id == group.id and f.request_key == request_key), None)
            if found is not None:
                return FaceWritten(found, False)
        face_id = self.insert_face(app, group, face, tag, request_key, user_id)
        group.face_count += 1
        return FaceWritten(face_id, True)

    def insert_face(self, app: int, group: Group, face: FaceRow, tag: str,
                    request_key: str | None = None, user_id: int | None = None) -> int:
        """A face row, and the group's count in the table (not in `group`)."""
        if request_key is not None and any(
                f.group_id == group.id and f.request_key == request_key
                for f in self.faces.values()):
            raise IntegrityError(f"request key {request_key!r} taken in group {group.name}")
        if face.box is None:
            raise IntegrityError("faces.box is NOT NULL")
        now = self.now()
        entry = FaceEntry(self.next_id("faces"), app, group.id, user_id, face.model,
                          stored_vector(face.vector), list(face.box), face.quality, tag,
                          face.sha256, request_key, face.thumbnail, now, now, face.region)
        self.faces[entry.id] = entry
        self.groups[group.id].face_count += 1
        return entry.id

    def person_in_group(self, app: int, group: Group, person_id: str) -> int:
        found = next((u.id for u in self.users.values() if u.app == app and u.uid == person_id
                      and (group.id, u.id) in self.members), None)
        if found is None:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"person {person_id} in group {group.name}")
        return found

    def require_faces(self, group: Group, face_ids: list[int]) -> None:
        missing = [f for f in face_ids
                   if f not in self.faces or self.faces[f].group_id != group.id]
        if missing:
            raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {missing[0]} in group {group.name}")

    def unplace_faces(self, group_id: int, face_ids: list[int]) -> None:
        for run in self.runs.values():
            if run.group_id == group_id and run.state == "done":
                for face_id in face_ids:
                    run.placed.pop(face_id, None)

    def owners(self, run: RunRow) -> dict[int, int]:
        """clusters._owners: each cluster's person, the one most of its faces are."""
        counts: dict[int, dict[int, int]] = {}
        for face_id, cluster in run.placed.items():
            user_id = self.faces[face_id].user_id
            if user_id is not None:
                counts.setdefault(cluster, {})
                counts[cluster][user_id] = counts[cluster].get(user_id, 0) + 1
        return {c: min(by.items(), key=lambda kv: (-kv[1], kv[0]))[0]
                for c, by in counts.items()}

    def delete_user_faces(self, group_id: int, user_id: int) -> int:
        gone = [f.id for f in self.faces.values()
                if f.group_id == group_id and f.user_id == user_id]
        self.drop_faces(gone)
        self.groups[group_id].face_count -= len(gone)
        return len(gone)

    def copy_user_faces(self, target_id: int, source_id: int, user_id: int) -> int:
        sources = [f for f in self.faces.values()
                   if f.group_id == source_id and f.user_id == user_id]
        for face in sources:
            now = self.now()
            copied = copy.deepcopy(face)
            copied.id, copied.group_id, copied.request_key = self.next_id("faces"), target_id, None
            copied.created_at = copied.updated_at = now
            self.faces[copied.id] = copied
        self.groups[target_id].face_count += len(sources)
        return len(sources)

    def delete_group_if_empty(self, group_id: int) -> bool:
        """As faces.py: not a group with an index (its index cannot be dropped in a
        transaction), nor one with users."""
        group = self.groups[group_id]
        if group.face_count or group.indexed or any(g == group_id for g, _ in self.members):
            return False
        self.drop_group(group_id)
        return True

    def user_has_image(self, group_id: int, user_id: int, sha256: bytes | None) -> bool:
        # `image_sha256 = NULL` is never true in SQL: a face without a hash matches nothing
        return sha256 is not None and any(
            f.group_id == group_id and f.user_id == user_id and f.sha256 == sha256
            for f in self.faces.values())

    def search_on(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
        """Exact, by cosine, ties by id (PostgreSQL leaves their order open; a group with an
        HNSW index is searched approximately there)."""
        faces = [f for f in self.faces.values() if f.group_id == group.id]
        ranked = sorted(((cosine(f.vector, vector), f) for f in faces),
                        key=lambda pair: (-pair[0], pair[1].id))[:top_n]
        return [Match(f.id, c, f.tag, f.user_id) for c, f in ranked]
