"""Re-embeddings of a group into another model: the only writer of `reembed_jobs` and
`reembed_faces`, and, at the swap, of a group's model and its faces' vectors.

A job is created with one staging row per face of the group (its chunk, `no_region` for a face
enrolled before regions were kept); workers fill the rows chunk by chunk with the new model's
vectors while the group goes on serving its old ones. The swap (`swap`) is one transaction on
the group's locked row: every face's vector and model, the group's model, the job done; a
reader sees the old model or the new one, never a mix. A face enrolled or changed during the job
is staged again before the swap (`restage`), so none is left with the old model.

The group's HNSW index is dropped just before the swap (CONCURRENTLY: no lock on other groups;
the group is searched exactly, correct and slower, meanwhile) so the swap's updates do not grow
a graph of old and new vectors together, and built afresh CONCURRENTLY after it when the group
is big enough; all of it under the group's index lock (indexes.py), so no other process builds
it in between.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.gallery import sql
from services.gallery.erasure import erase_face_traces_sync
from services.gallery.indexes import connect
from services.gallery.records import Group
from shared.errors import ERRORS, FaceError

# the states of a staged face: still to embed, embedded, no region stored, no face found in it
PENDING, DONE, NO_REGION, NO_FACE = "pending", "done", "no_region", "no_face"
SKIPPED = (NO_REGION, NO_FACE)
# a face staged again at the swap (enrolled or changed during the job)
LATE_CHUNK = -1

_COLUMNS = ("j.id, j.app_id, j.group_id, g.name, j.from_model, j.model, j.drop_faces, j.state, "
            "j.chunks, j.total, j.done, j.no_region, j.no_face, j.dropped, j.error, "
            "j.created_at, j.started_at, j.finished_at")
_LIVE_COUNTS = ("SELECT count(*), count(*) FILTER (WHERE state <> 'pending'), "
                "count(*) FILTER (WHERE state = 'no_region'), "
                "count(*) FILTER (WHERE state = 'no_face') FROM reembed_faces WHERE job_id = %s")


@dataclass
class ReembedJob:
    id: str
    app: int
    group_id: int
    group: str
    from_model: int
    model: int
    drop_faces: bool
    state: str  # queued, running, done, failed, cancelled
    chunks: int
    total: int
    done: int
    no_region: int  # faces enrolled before regions were kept
    no_face: int  # faces whose region the detector found no face in
    dropped: int  # of those, deleted at the swap (drop_faces)
    error: dict | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def skipped(self) -> int:
        return self.no_region + self.no_face


@dataclass
class StagedFace:
    face_id: int
    region: bytes
    seen: datetime  # the face's updated_at when staged: a vector is kept only for that face


def job_uuid(job_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


def _job(row: tuple) -> ReembedJob:
    return ReembedJob(str(row[0]), *row[1:])


class ReembedRuns:
    def __init__(self, pool: AsyncConnectionPool, database_url: str, min_faces: int) -> None:
        self.pool = pool
        self.database_url = database_url
        self.min_faces = min_faces  # FACEGATE_HNSW_MIN_FACES: a group this big gets an index

    async def create(self, app: int, group: Group, model: int, drop_faces: bool,
                     chunk_size: int) -> ReembedJob:
        """The job and a staging row per face of the group now, or nothing; PARAM_INVALID
        while another re-embedding of the group is queued or running."""
        key = uuid.uuid4()
        async with self.pool.connection() as conn, conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO reembed_jobs (id, app_id, group_id, from_model, model, "
                    "drop_faces) VALUES (%s, %s, %s, %s, %s, %s)",
                    (key, app, group.id, group.model, model, drop_faces))
            except psycopg.errors.UniqueViolation:
                raise FaceError(ERRORS.PARAM_INVALID, f"group {group.name} is being "
                                "re-embedded already: wait for that job") from None
            await conn.execute(
                "INSERT INTO reembed_faces (job_id, face_id, chunk, state, seen) "
                "SELECT %s, id, (row_number() OVER (ORDER BY id) - 1) / %s, "
                "CASE WHEN region IS NULL THEN 'no_region' ELSE 'pending' END, updated_at "
                "FROM faces WHERE group_id = %s", (key, chunk_size, group.id))
            row = await (await conn.execute(
                "WITH c AS (SELECT count(*) AS n, coalesce(max(chunk) + 1, 0) AS chunks, "
                "count(*) FILTER (WHERE state = 'no_region') AS bare FROM reembed_faces "
                "WHERE job_id = %s), j AS (UPDATE reembed_jobs SET total = c.n, "
                "chunks = c.chunks, done = c.bare, no_region = c.bare FROM c WHERE id = %s "
                "RETURNING reembed_jobs.*) "
                f"SELECT {_COLUMNS} FROM j JOIN groups g ON g.id = j.group_id",
                (key, key))).fetchone()
        return _job(row)

    async def job(self, job_id: str, app: int | None = None) -> ReembedJob | None:
        """A job by id, its counts as they are now (None if there is none, or it is another
        app's)."""
        key = job_uuid(job_id)
        if key is None:
            return None
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {_COLUMNS} FROM reembed_jobs j JOIN groups g ON g.id = j.group_id "
                "WHERE j.id = %s", (key,))).fetchone()
            if row is None or (app is not None and row[1] != app):
                return None
            job = _job(row)
            if job.state in ("queued", "running"):  # the staging rows hold the live counts
                job.total, job.done, job.no_region, job.no_face = await (await conn.execute(
                    _LIVE_COUNTS, (key,))).fetchone()
        return job

    async def start(self, job_id: str) -> ReembedJob | None:
        """The job marked running (from queued, or again by a redelivered chunk); None once it
        has ended or is gone."""
        key = job_uuid(job_id)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "WITH j AS (UPDATE reembed_jobs SET state = 'running', "
                "started_at = coalesce(started_at, now()) "
                "WHERE id = %s AND state IN ('queued', 'running') RETURNING *) "
                f"SELECT {_COLUMNS} FROM j JOIN groups g ON g.id = j.group_id",
                (key,))).fetchone()
        return None if row is None else _job(row)

    async def pending(self, job_id: str, chunk: int) -> list[StagedFace]:
        """The chunk's faces still to embed, with their regions."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT f.id, f.region, s.seen FROM reembed_faces s "
                "JOIN faces f ON f.id = s.face_id "
                "WHERE s.job_id = %s AND s.chunk = %s AND s.state = 'pending' "
                "AND f.region IS NOT NULL ORDER BY f.id",
                (uuid.UUID(job_id), chunk))).fetchall()
        return [StagedFace(face_id, bytes(region), seen) for face_id, region, seen in rows]

    async def stage(self, job_id: str, faces: list[StagedFace],
                    vectors: list[np.ndarray | None]) -> None:
        """Each face's new vector, or None where its region showed no face; not for a face
        staged again since its region was read (a second delivery changes nothing)."""
        key = uuid.UUID(job_id)
        rows = [(DONE, np.asarray(v, np.float32), key, f.face_id, f.seen)
                for f, v in zip(faces, vectors, strict=True) if v is not None]
        blank = [(key, f.face_id, f.seen) for f, v in zip(faces, vectors, strict=True)
                 if v is None]
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if rows:
                await cur.executemany(
                    "UPDATE reembed_faces SET state = %s, embedding = %s WHERE job_id = %s "
                    "AND face_id = %s AND seen = %s AND state = 'pending'", rows)
            if blank:
                await cur.executemany(
                    "UPDATE reembed_faces SET state = 'no_face' WHERE job_id = %s "
                    "AND face_id = %s AND seen = %s AND state = 'pending'", blank)

    async def remaining(self, job_id: str) -> int:
        """Faces of the job still to embed, in any chunk."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT count(*) FROM reembed_faces WHERE job_id = %s AND state = 'pending'",
                (uuid.UUID(job_id),))).fetchone()
        return row[0]

    async def restage(self, job_id: str) -> int:
        """Faces of the group enrolled or changed since they were staged, staged again in
        LATE_CHUNK; how many."""
        async with self.pool.connection() as conn, conn.transaction():
            return await _restage(conn, uuid.UUID(job_id))

    async def cancel(self, job_id: str, app: int) -> tuple[ReembedJob, bool] | None:
        """The app's job ended `cancelled` if it was queued or running (else as it was): its
        staged vectors go, the group keeps its model and vectors and may be re-embedded
        again. The swap holds the job's row, so a cancel lands before it (no swap) or after
        it (the job is done). (the job, whether this call ended it); None when the app has
        no such job."""
        key = job_uuid(job_id)
        if key is None:
            return None
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(  # another app's job: not even locked
                "SELECT state FROM reembed_jobs WHERE id = %s AND app_id = %s FOR UPDATE",
                (key, app))).fetchone()
            if row is None:
                return None
            ended = row[0] in ("queued", "running")
            if ended:
                await _end(conn, key, "cancelled", None)
        job = await self.job(job_id, app)
        return None if job is None else (job, ended)

    async def fail(self, job_id: str, error: FaceError) -> bool:
        """The job failed with `error`, if it had not ended: whether this call ended it."""
        key = uuid.UUID(job_id)
        async with self.pool.connection() as conn, conn.transaction():
            return await _end(conn, key, "failed", error)

    def swap(self, job_id: str) -> str:
        """The swap, synchronously (run it in a thread: an index build takes minutes): 'done';
        'again' when faces still wait for their new vector (enrolled or changed meanwhile,
        now staged); 'refused' when faces could not be re-embedded and the job was not asked
        to drop them (the job failed, the group as it was); 'ended' when the job had ended."""
        key = uuid.UUID(job_id)
        with connect(self.database_url) as conn:
            row = conn.execute("SELECT group_id, state FROM reembed_jobs WHERE id = %s",
                               (key,)).fetchone()
            if row is None or row[1] != "running":
                return "ended"
            group_id = int(row[0])
            # one holder of the group's index at a time: a build elsewhere waits for the swap
            conn.execute("SELECT pg_advisory_lock(%s, %s)", (sql.INDEX_LOCK, group_id))
            try:
                outcome = self._swap_locked(conn, key, group_id)
                if outcome != "again":  # the next try drops it again: no build in between
                    self._build_index(conn, group_id)
                return outcome
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", (sql.INDEX_LOCK, group_id))

    def _swap_locked(self, conn: psycopg.Connection, key: uuid.UUID, group_id: int) -> str:
        refusal = _refusal(conn, key)
        if refusal is not None:  # before the index goes: nothing changes
            with conn.transaction():
                _end(conn, key, "failed", refusal)
            return "refused"
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS faces_hnsw_g{group_id}")
        conn.execute("UPDATE groups SET indexed = false WHERE id = %s", (group_id,))
        with conn.transaction():
            # the group's row, as every enrolment into it takes it: none lands mid-swap
            conn.execute("SELECT id FROM groups WHERE id = %s FOR UPDATE", (group_id,))
            job = conn.execute("SELECT state, model, drop_faces FROM reembed_jobs "
                               "WHERE id = %s FOR UPDATE", (key,)).fetchone()
            if job is None or job[0] != "running":
                return "ended"
            _, model, drop_faces = job
            late = _restage(conn, key)
            waiting = conn.execute("SELECT count(*) FROM reembed_faces WHERE job_id = %s "
                                   "AND state = 'pending'", (key,)).fetchone()[0]
            if late or waiting:
                return "again"  # the late faces are staged (committed) for the workers
            refusal = _refusal(conn, key)
            if refusal is not None:
                _end(conn, key, "failed", refusal)
                return "refused"
            _count(conn, key)
            dropped = 0
            if drop_faces:
                gone = [row[0] for row in conn.execute(
                    "DELETE FROM faces f USING reembed_faces s WHERE s.job_id = %s "
                    "AND s.face_id = f.id AND s.state IN ('no_region', 'no_face') "
                    "RETURNING f.id", (key,)).fetchall()]
                dropped = len(gone)
                if dropped:
                    conn.execute(sql.COUNT_UP, (-dropped, group_id))
                    erase_face_traces_sync(conn, gone)
            conn.execute(
                "UPDATE faces f SET embedding = s.embedding, model = %s FROM reembed_faces s "
                "WHERE s.job_id = %s AND s.face_id = f.id AND s.state = 'done'", (model, key))
            mixed = conn.execute("SELECT count(*) FROM faces WHERE group_id = %s "
                                 "AND model <> %s", (group_id, model)).fetchone()[0]
            if mixed:  # cannot happen under the group's lock; never commit a mixed group
                raise RuntimeError(f"{mixed} faces of group {group_id} kept their old model")
            conn.execute("UPDATE groups SET model = %s, indexed = false, updated_at = now() "
                         "WHERE id = %s", (model, group_id))
            _end(conn, key, "done", None, dropped)
        return "done"

    def _build_index(self, conn: psycopg.Connection, group_id: int) -> None:
        """The group's index over the vectors it now holds, if it is big enough (the caller
        holds the group's index lock)."""
        count = conn.execute("SELECT face_count FROM groups WHERE id = %s",
                             (group_id,)).fetchone()
        if count is not None and count[0] >= self.min_faces:
            conn.execute(sql.HNSW_INDEX.format(id=group_id))
            conn.execute(sql.MARK_INDEXED, (group_id,))


def _restage(conn, key: uuid.UUID):
    """Faces of the job's group that have no staging row, or changed since theirs was made,
    staged (again) in LATE_CHUNK while the job runs (none for a cancelled one): the row
    count, or a coroutine of it on an async connection."""
    statement = (
        "INSERT INTO reembed_faces (job_id, face_id, chunk, state, seen) "
        "SELECT j.id, f.id, %s, CASE WHEN f.region IS NULL THEN 'no_region' ELSE 'pending' END, "
        "f.updated_at FROM reembed_jobs j JOIN faces f ON f.group_id = j.group_id "
        "LEFT JOIN reembed_faces s ON s.job_id = j.id AND s.face_id = f.id "
        "WHERE j.id = %s AND j.state = 'running' "
        "AND (s.face_id IS NULL OR s.seen < f.updated_at) "
        "ON CONFLICT (job_id, face_id) DO UPDATE SET chunk = excluded.chunk, "
        "state = excluded.state, seen = excluded.seen, embedding = NULL")
    if isinstance(conn, psycopg.AsyncConnection):
        async def run() -> int:
            return (await conn.execute(statement, (LATE_CHUNK, key))).rowcount
        return run()
    return conn.execute(statement, (LATE_CHUNK, key)).rowcount


def _refusal(conn: psycopg.Connection, key: uuid.UUID) -> FaceError | None:
    """Why the swap may not happen: faces that could not be re-embedded, in a job not asked to
    drop them (they would leave the group holding two models)."""
    row = conn.execute(
        "SELECT j.drop_faces, count(*) FILTER (WHERE s.state = 'no_region'), "
        "count(*) FILTER (WHERE s.state = 'no_face') FROM reembed_jobs j "
        "LEFT JOIN reembed_faces s ON s.job_id = j.id WHERE j.id = %s GROUP BY j.drop_faces",
        (key,)).fetchone()
    if row is None:  # gone with its group: the swap finds it ended
        return None
    drop, no_region, no_face = row
    if drop or not (no_region or no_face):
        return None
    return FaceError(ERRORS.PROCESSING, (
        f"{no_region} faces have no stored region (enrolled before regions were kept, or with "
        f"FACEGATE_KEEP_REGIONS=false) and "
        f"{no_face} regions showed no face: a group holds one model, so the swap was refused "
        "and the group keeps its vectors; re-embed with drop_faces true to drop those faces, "
        "or enrol them again"))


_COUNT = (
    "WITH c AS (SELECT count(*) AS n, count(*) FILTER (WHERE state <> 'pending') AS done, "
    "count(*) FILTER (WHERE state = 'no_region') AS bare, "
    "count(*) FILTER (WHERE state = 'no_face') AS blank FROM reembed_faces WHERE job_id = %s) "
    "UPDATE reembed_jobs SET total = c.n, done = c.done, no_region = c.bare, "
    "no_face = c.blank FROM c WHERE id = %s")


def _count(conn: psycopg.Connection, key: uuid.UUID) -> None:
    """The job's counts from its staging rows (before faces dropped take theirs away)."""
    conn.execute(_COUNT, (key, key))


def _end(conn, key: uuid.UUID, state: str, error: FaceError | None, dropped: int | None = None):
    """The job ended: its final counts (from the staging rows unless `dropped` says they were
    counted before faces were dropped), and the staging rows gone. Whether it had not ended
    before (a coroutine of it on an async connection; None on a synchronous one)."""
    end = ("UPDATE reembed_jobs SET state = %s, error = %s, dropped = %s, finished_at = now() "
           "WHERE id = %s AND state IN ('queued', 'running')")
    params = (state, Jsonb(error.to_dict()) if error else None, dropped or 0, key)
    delete = "DELETE FROM reembed_faces WHERE job_id = %s"
    if isinstance(conn, psycopg.AsyncConnection):
        async def run() -> bool:
            await conn.execute(_COUNT, (key, key))
            ended = (await conn.execute(end, params)).rowcount > 0
            await conn.execute(delete, (key,))
            return ended
        return run()
    if dropped is None:
        _count(conn, key)
    conn.execute(end, params)
    conn.execute(delete, (key,))
    return None
