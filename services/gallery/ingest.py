"""Ingestion jobs: the only writer of `ingest_jobs`, `ingest_chunks` and `ingest_items`.

A job's items (inline image bytes or a URL, a key, a tag) are stored when the job is created;
the broker carries only chunk references (job id, item range). Chunks are handed out by
`feed`: at most `in_flight` unfinished chunks per app, shared round-robin among the app's
running jobs, so one app's million-photo load neither floods the queue nor starves its own
smaller jobs or other apps. A chunk's outcome is written in one transaction with its faces
(`complete_chunk`); items still pending are the only ones it touches, so a chunk delivered
twice enrols nothing twice and counts nothing twice.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.gallery.faces import insert_face_once, lock_group, person_in_group
from services.gallery.records import FaceRow, Group
from shared.errors import ERRORS, FaceError, job_not_found
from shared.settings import GateLevel
from shared.tasks import Chunk

OUTCOMES = ("enrolled", "no_face", "low_quality", "bad_image", "cancelled", "failed")
_FEED_LOCK = 0x494E4753  # "INGS": with the app id, one feeder per app at a time
# an item's person the job's group does not have (the first, if any)
_MISSING_PERSONS = (
    "SELECT i.person FROM ingest_items i WHERE i.job_id = %s AND i.person IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM users u JOIN group_users gu ON gu.user_id = u.id "
    "JOIN groups g ON g.id = gu.group_id WHERE u.app_id = %s AND g.app_id = u.app_id "
    "AND g.name = %s AND u.uid = i.person) LIMIT 1")


@dataclass
class NewItem:
    key: str
    tag: str
    image: bytes | None = None
    url: str | None = None
    status: str | None = None  # bad_image: judged at the gateway (not an image at all)
    error: dict | None = None
    person: str | None = None  # the group's person (a users.uid) its face joins


@dataclass
class PendingItem:
    index: int
    key: str
    tag: str
    image: bytes | None
    url: str | None


@dataclass
class ItemOutcome:
    index: int
    status: str  # one of OUTCOMES
    error: dict | None = None  # FaceError.to_dict()
    face: FaceRow | None = None  # enrolled: the face to write
    face_id: int | None = None  # enrolled earlier under the same key (found before the model)


@dataclass
class IngestJob:
    id: str
    app: int
    group: str
    total: int
    state: str
    done: int
    counts: dict[str, int]
    created: int  # enrolled items that made a new face
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: dict | None
    in_flight: int = 0
    quality: GateLevel | None = None  # the level it enrols at; None: stored before levels


_JOB_COLUMNS = ("id, app_id, group_name, total, state, done, enrolled, no_face, low_quality, "
                "bad_image, cancelled, failed, created, created_at, started_at, finished_at, "
                "error, quality")


def _job(row) -> IngestJob:
    counts = dict(zip(OUTCOMES, row[6:12], strict=True))
    return IngestJob(str(row[0]), row[1], row[2], row[3], row[4], row[5],
                     {k: v for k, v in counts.items() if v}, *row[12:17], quality=row[17])


def job_uuid(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise job_not_found(job_id) from None


class IngestJobs:
    def __init__(self, pool: AsyncConnectionPool, chunk_size: int = 32, in_flight: int = 4,
                 retention_s: int = 7 * 86400, stale_s: float = 600.0) -> None:
        self.pool = pool
        self.chunk_size = chunk_size
        self.in_flight = in_flight  # unfinished chunks per app
        self.retention_s = retention_s
        self.stale_s = stale_s  # a chunk unfinished this long is sent again

    async def create(self, app: int, group: str, batches: AsyncIterable[list[NewItem]],
                     quality: GateLevel | None = None) -> tuple[str, int]:
        """The job, enrolling at level `quality`, and its items in one transaction (COPY), the
        items taken batch by batch as they come (an archive read as it is stored); old
        finished jobs are swept. An error raised by `batches` rolls everything back. Returns
        (job id, items)."""
        job_id = uuid.uuid4()
        total = judged = 0
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM ingest_jobs WHERE finished_at < now() - "
                               "make_interval(secs => %s)", (self.retention_s,))
            await conn.execute("INSERT INTO ingest_jobs (id, app_id, group_name, total, "
                               "chunk_size, quality) VALUES (%s, %s, %s, 0, %s, %s)",
                               (job_id, app, group, self.chunk_size, quality))
            async with conn.cursor().copy("COPY ingest_items (job_id, idx, key, tag, image, url, "
                                          "status, error, person) FROM STDIN") as copy:
                async for batch in batches:
                    for item in batch:
                        await copy.write_row((job_id, total, item.key, item.tag, item.image,
                                              item.url, item.status,
                                              json.dumps(item.error) if item.error else None,
                                              item.person))
                        total += 1
                        judged += bool(item.status)
            missing = await (await conn.execute(_MISSING_PERSONS,
                                                (job_id, app, group))).fetchone()
            if missing:  # everything rolls back: nothing of the job is stored
                raise FaceError(ERRORS.USER_NOT_FOUND, f"person {missing[0]} in group {group}")
            await conn.execute("UPDATE ingest_jobs SET total = %s, done = %s, bad_image = %s "
                               "WHERE id = %s", (total, judged, judged, job_id))
        return str(job_id), total

    async def feed(self, app: int, send: Callable[[Chunk], None]) -> list[Chunk]:
        """Hands out chunks up to the app's in-flight cap, round-robin over its running jobs,
        and sends again any chunk unfinished for `stale_s` (its message was lost). `send` is
        called inside the transaction: a failed send hands out nothing."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_FEED_LOCK, app))
            stale = await (await conn.execute(
                "UPDATE ingest_chunks c SET sent_at = now() FROM ingest_jobs j "
                "WHERE j.id = c.job_id AND j.app_id = %s AND j.state = 'running' "
                "AND c.done_at IS NULL AND c.sent_at < now() - make_interval(secs => %s) "
                "RETURNING c.job_id, c.start, c.stop", (app, self.stale_s))).fetchall()
            in_flight = (await (await conn.execute(
                "SELECT count(*) FROM ingest_chunks c JOIN ingest_jobs j ON j.id = c.job_id "
                "WHERE j.app_id = %s AND j.state = 'running' AND c.done_at IS NULL",
                (app,))).fetchone())[0]
            jobs = [list(row) for row in await (await conn.execute(
                "SELECT id, next_start, total, chunk_size FROM ingest_jobs WHERE app_id = %s "
                "AND state = 'running' AND next_start < total ORDER BY created_at",
                (app,))).fetchall()]
            chunks = [Chunk(job_id=str(job_id), start=start, stop=stop)
                      for job_id, start, stop in stale]
            free = self.in_flight - in_flight
            moved: dict = {}
            while free > 0 and jobs:
                for job in list(jobs):
                    if free == 0:
                        break
                    job_id, start, total, size = job
                    stop = min(start + size, total)
                    await conn.execute("INSERT INTO ingest_chunks (job_id, start, stop) "
                                       "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                                       (job_id, start, stop))
                    chunks.append(Chunk(job_id=str(job_id), start=start, stop=stop))
                    job[1] = moved[job_id] = stop
                    free -= 1
                    if stop >= total:
                        jobs.remove(job)
            for job_id, start in moved.items():
                await conn.execute("UPDATE ingest_jobs SET next_start = %s WHERE id = %s",
                                   (start, job_id))
            for chunk in chunks:
                send(chunk)
        return chunks

    async def job(self, app: int, job_id: str) -> IngestJob:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE id = %s AND app_id = %s",
                (job_uuid(job_id), app))).fetchone()
            if row is None:
                raise job_not_found(job_id)
            job = _job(row)
            job.in_flight = (await (await conn.execute(
                "SELECT count(*) FROM ingest_chunks WHERE job_id = %s AND done_at IS NULL",
                (job_uuid(job_id),))).fetchone())[0]
        return job

    async def recent(self, app: int, limit: int) -> list[IngestJob]:
        """The app's latest jobs, newest first (in_flight not counted)."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM ingest_jobs WHERE app_id = %s "
                "ORDER BY created_at DESC LIMIT %s", (app, limit))).fetchall()
        return [_job(row) for row in rows]

    async def exists(self, job_id: str) -> bool:
        try:
            key = job_uuid(job_id)
        except FaceError:
            return False
        async with self.pool.connection() as conn:
            return await (await conn.execute("SELECT 1 FROM ingest_jobs WHERE id = %s",
                                             (key,))).fetchone() is not None

    async def items(self, app: int, job_id: str, offset: int, limit: int,
                    status: str | None = None) -> list[dict]:
        """Items in index order from `offset`; pending ones have status None."""
        await self.job(app, job_id)
        query = ("SELECT idx, key, tag, status, face_id, created, error FROM ingest_items "
                 "WHERE job_id = %s AND idx >= %s")
        values: list = [job_uuid(job_id), offset]
        if status == "pending":
            query += " AND status IS NULL"
        elif status:
            query += " AND status = %s"
            values.append(status)
        query += " ORDER BY idx LIMIT %s"
        values.append(limit)
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(query, values)).fetchall()
        return [{"index": idx, "key": key, "tag": tag, "status": status or "pending",
                 "face_id": face_id, "created": created, "error": error}
                for idx, key, tag, status, face_id, created, error in rows]

    async def cancel(self, app: int, job_id: str) -> tuple[IngestJob, bool]:
        """Items not yet done become `cancelled`; a chunk in a worker's hands writes nothing
        once it sees the job cancelled (complete_chunk locks the job row). (the job, whether
        this call ended it)."""
        key = job_uuid(job_id)
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(
                "SELECT state FROM ingest_jobs WHERE id = %s AND app_id = %s FOR UPDATE",
                (key, app))).fetchone()
            if row is None:
                raise job_not_found(job_id)
            ended = row[0] == "running"
            if ended:
                await self._close(conn, key, "cancelled")
        return await self.job(app, job_id), ended

    async def pending(self, chunk: Chunk) -> tuple[IngestJob | None, list[PendingItem]]:
        """The chunk's job (None once it is no longer running) and its items still to do."""
        key = job_uuid(chunk.job_id)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs "
                                            "WHERE id = %s", (key,))).fetchone()
            if row is None or row[4] != "running":
                return None, []
            rows = await (await conn.execute(
                "SELECT idx, key, tag, image, url FROM ingest_items WHERE job_id = %s "
                "AND idx >= %s AND idx < %s AND status IS NULL ORDER BY idx",
                (key, chunk.start, chunk.stop))).fetchall()
        return _job(row), [PendingItem(*r) for r in rows]

    async def known_keys(self, app: int, group: str, keys: list[str]) -> dict[str, int]:
        """Face ids already enrolled in the group under these keys (a resumed load skips the
        model for them)."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT f.request_key, f.id FROM faces f JOIN groups g ON g.id = f.group_id "
                "WHERE g.app_id = %s AND g.name = %s AND f.request_key = ANY(%s)",
                (app, group, keys))).fetchall()
        return dict(rows)

    async def complete_chunk(self, chunk: Chunk, keys: dict[int, str], tags: dict[int, str],
                             outcomes: list[ItemOutcome], worker: str = ""
                             ) -> tuple[IngestJob | None, Group | None]:
        """One transaction: the chunk's faces (insert_face_once: a key seen before is the
        face it made), its items' outcomes, the job's counts, the chunk marked done. Items
        already done (a second delivery) and a cancelled job write nothing. Returns the job
        after it and the group (for the index once the job is complete)."""
        key = job_uuid(chunk.job_id)
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs "
                                            "WHERE id = %s FOR UPDATE", (key,))).fetchone()
            if row is None:  # deleted meanwhile (its app was, or it expired)
                return None, None
            job = _job(row)
            group = None
            if job.state == "running":
                open_items = {r[0] for r in await (await conn.execute(
                    "SELECT idx FROM ingest_items WHERE job_id = %s AND idx >= %s AND idx < %s "
                    "AND status IS NULL", (key, chunk.start, chunk.stop))).fetchall()}
                todo = [o for o in outcomes if o.index in open_items]
                if todo:
                    try:
                        async with conn.transaction():  # a savepoint
                            group = await lock_group(conn, job.app, job.group)
                            await self._write(conn, key, job.app, group, todo, keys, tags)
                    except FaceError as exc:  # the group was deleted, or re-made under
                        await self._close(conn, key, "failed", exc)  # another model
                        group = None
            await conn.execute("UPDATE ingest_chunks SET done_at = coalesce(done_at, now()), "
                               "worker = coalesce(worker, %s) WHERE job_id = %s AND start = %s",
                               (worker, key, chunk.start))
            return await self._reread(conn, key), group

    async def _write(self, conn, key: uuid.UUID, app: int, group: Group, todo: list[ItemOutcome],
                     keys: dict[int, str], tags: dict[int, str]) -> None:
        counts = dict.fromkeys(OUTCOMES, 0)
        created = 0
        rows = []
        persons = await self._persons(conn, key, app, group, todo)
        for outcome in todo:
            face_id, made = outcome.face_id, None
            person = persons.get(outcome.index)
            if isinstance(person, FaceError):  # deleted since the job was submitted
                outcome = ItemOutcome(outcome.index, "failed", person.to_dict())
            elif outcome.face is not None:
                face = outcome.face
                written = await insert_face_once(conn, app, group, face, tags[outcome.index],
                                                 keys[outcome.index], person)
                face_id, made = written.face_id, written.created
            elif face_id is not None:
                made = False
            counts[outcome.status] += 1
            created += bool(made)
            rows.append((outcome.status, face_id, made,
                         Jsonb(outcome.error) if outcome.error else None, key, outcome.index))
        async with conn.cursor() as cur:
            await cur.executemany("UPDATE ingest_items SET status = %s, face_id = %s, "
                                  "created = %s, error = %s, image = NULL "
                                  "WHERE job_id = %s AND idx = %s", rows)
        await conn.execute(
            "UPDATE ingest_jobs SET done = done + %s, enrolled = enrolled + %s, "
            "no_face = no_face + %s, low_quality = low_quality + %s, "
            "bad_image = bad_image + %s, failed = failed + %s, created = created + %s, "
            "started_at = coalesce(started_at, now()) WHERE id = %s",
            (len(todo), counts["enrolled"], counts["no_face"], counts["low_quality"],
             counts["bad_image"], counts["failed"], created, key))

    async def _persons(self, conn, key: uuid.UUID, app: int, group: Group,
                       todo: list[ItemOutcome]) -> dict[int, int | FaceError]:
        """The users row of each item's person (by item index), or why it has none."""
        rows = await (await conn.execute(
            "SELECT idx, person FROM ingest_items WHERE job_id = %s AND idx = ANY(%s) "
            "AND person IS NOT NULL", (key, [o.index for o in todo]))).fetchall()
        found: dict[int, int | FaceError] = {}
        for index, person in rows:
            try:
                found[index] = await person_in_group(conn, app, group, person)
            except FaceError as exc:
                found[index] = exc
        return found

    async def _close(self, conn, key: uuid.UUID, state: str,
                     error: FaceError | None = None) -> None:
        """The job ends in `state` (cancelled, or failed with its error); its pending items
        become `cancelled`."""
        left = (await conn.execute("UPDATE ingest_items SET status = 'cancelled', image = NULL "
                                   "WHERE job_id = %s AND status IS NULL", (key,))).rowcount
        await conn.execute("UPDATE ingest_jobs SET state = %s, error = %s, finished_at = now(), "
                           "cancelled = cancelled + %s, done = done + %s WHERE id = %s",
                           (state, Jsonb(error.to_dict()) if error else None, left, left, key))

    async def _reread(self, conn, key: uuid.UUID) -> IngestJob:
        return _job(await (await conn.execute(f"SELECT {_JOB_COLUMNS} FROM ingest_jobs "
                                              "WHERE id = %s", (key,))).fetchone())

    async def finish(self, job_id: str) -> bool:
        """Marks a job whose items are all done as done (after its group's index); False if
        it was not running or not complete."""
        async with self.pool.connection() as conn:
            return (await conn.execute(
                "UPDATE ingest_jobs SET state = 'done', finished_at = now() "
                "WHERE id = %s AND state = 'running' AND done >= total",
                (job_uuid(job_id),))).rowcount == 1


def rate(job: IngestJob, now: float | None = None) -> tuple[float, float | None]:
    """Items per second since the job was created, and the seconds left at that rate."""
    end = job.finished_at.timestamp() if job.finished_at else (now or time.time())
    elapsed = max(1e-3, end - job.created_at.timestamp())
    per_s = job.done / elapsed
    left = None if per_s <= 0 or job.finished_at else (job.total - job.done) / per_s
    return per_s, left
