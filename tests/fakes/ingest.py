"""Ingestion jobs in memory: services/gallery/ingest.py, method for method: items stored with the
job, chunks handed out per app up to the in-flight cap and round-robin over its running jobs, a
chunk's faces and outcomes written together, a second delivery writing nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Callable
from datetime import timedelta

from services.gallery.ingest import (
    OUTCOMES,
    IngestJob,
    ItemOutcome,
    NewItem,
    PendingItem,
    job_uuid,
)
from services.gallery.records import Group
from shared.errors import ERRORS, FaceError, job_not_found
from shared.settings import GateLevel
from shared.tasks import Chunk
from tests.fakes.tables import ChunkRow, ItemRow, JobRow, Tables


class FakeIngestJobs:
    def __init__(self, tables: Tables, chunk_size: int = 32, in_flight: int = 4,
                 retention_s: int = 7 * 86400, stale_s: float = 600.0) -> None:
        self.t = tables
        self.chunk_size = chunk_size
        self.in_flight = in_flight
        self.retention_s = retention_s
        self.stale_s = stale_s

    async def create(self, app: int, group: str, batches: AsyncIterable[list[NewItem]],
                     quality: GateLevel | None = None) -> tuple[str, int]:
        # Read to the end before writing: nothing else may run between the copy and a
        # rollback (PostgreSQL would hold the transaction open instead).
        items = [item async for batch in batches for item in batch]
        with self.t.atomic():
            now = self.t.now()
            for old in [j for j in self.t.jobs.values() if j.finished_at is not None
                        and j.finished_at < now - timedelta(seconds=self.retention_s)]:
                del self.t.jobs[old.id]
            self.t.require_app(app)
            job = JobRow(uuid.uuid4(), app, group, self.chunk_size, now, quality=quality)
            job.items = [ItemRow(i, item.key, item.tag, item.image, item.url, item.status,
                                 error=item.error, person=item.person)
                         for i, item in enumerate(items)]
            held = self.t.group_row(app, group)
            for item in items:
                if item.person is not None and (held is None or not any(
                        u.uid == item.person and u.app == app and (held.id, u.id)
                        in self.t.members for u in self.t.users.values())):
                    raise FaceError(ERRORS.USER_NOT_FOUND,
                                    f"person {item.person} in group {group}")
            judged = sum(bool(item.status) for item in items)
            job.total, job.done = len(items), judged
            job.counts["bad_image"] = judged
            self.t.jobs[job.id] = job
        return str(job.id), job.total

    async def feed(self, app: int, send: Callable[[Chunk], None]) -> list[Chunk]:
        with self.t.atomic():
            now = self.t.now()
            running = sorted((j for j in self.t.jobs.values()
                              if j.app == app and j.state == "running"),
                             key=lambda j: j.created_at)
            chunks = []
            for job in running:
                for row in job.chunks.values():
                    if row.done_at is None and row.sent_at < now - timedelta(
                            seconds=self.stale_s):
                        row.sent_at = now
                        chunks.append(Chunk(job_id=str(job.id), start=row.start, stop=row.stop))
            free = self.in_flight - sum(row.done_at is None for job in running
                                        for row in job.chunks.values())
            jobs = [job for job in running if job.next_start < job.total]
            while free > 0 and jobs:
                for job in list(jobs):
                    if free == 0:
                        break
                    start = job.next_start
                    stop = min(start + job.chunk_size, job.total)
                    if start not in job.chunks:  # ON CONFLICT DO NOTHING
                        job.chunks[start] = ChunkRow(start, stop, now)
                    chunks.append(Chunk(job_id=str(job.id), start=start, stop=stop))
                    job.next_start = stop
                    free -= 1
                    if stop >= job.total:
                        jobs.remove(job)
            for chunk in chunks:
                send(chunk)
        return chunks

    def _job_row(self, app: int, job_id: str) -> JobRow:
        job = self.t.jobs.get(job_uuid(job_id))
        if job is None or job.app != app:
            raise job_not_found(job_id)
        return job

    async def job(self, app: int, job_id: str) -> IngestJob:
        job = self._job_row(app, job_id)
        return job.record(sum(row.done_at is None for row in job.chunks.values()))

    async def recent(self, app: int, limit: int) -> list[IngestJob]:
        mine = sorted((j for j in self.t.jobs.values() if j.app == app),
                      key=lambda j: j.created_at, reverse=True)
        return [j.record() for j in mine[:limit]]

    async def exists(self, job_id: str) -> bool:
        try:
            return job_uuid(job_id) in self.t.jobs
        except FaceError:
            return False

    async def items(self, app: int, job_id: str, offset: int, limit: int,
                    status: str | None = None) -> list[dict]:
        job = self._job_row(app, job_id)
        rows = [i for i in job.items if i.index >= offset and (
            not status or (i.status is None if status == "pending" else i.status == status))]
        return [{"index": i.index, "key": i.key, "tag": i.tag, "status": i.status or "pending",
                 "face_id": i.face_id, "created": i.created, "error": i.error}
                for i in rows[:limit]]

    async def cancel(self, app: int, job_id: str) -> tuple[IngestJob, bool]:
        with self.t.atomic():
            job = self._job_row(app, job_id)
            ended = job.state == "running"
            if ended:
                self._close(job, "cancelled")
        return await self.job(app, job_id), ended

    async def pending(self, chunk: Chunk) -> tuple[IngestJob | None, list[PendingItem]]:
        job = self.t.jobs.get(job_uuid(chunk.job_id))
        if job is None or job.state != "running":
            return None, []
        return job.record(), [PendingItem(i.index, i.key, i.tag, i.image, i.url)
                              for i in job.items[chunk.start:chunk.stop] if i.status is None]

    async def known_keys(self, app: int, group: str, keys: list[str]) -> dict[str, int]:
        row = self.t.group_row(app, group)
        return {} if row is None else {
            f.request_key: f.id for f in self.t.faces.values()
            if f.group_id == row.id and f.request_key in keys}

    async def complete_chunk(self, chunk: Chunk, keys: dict[int, str], tags: dict[int, str],
                             outcomes: list[ItemOutcome], worker: str = ""
                             ) -> tuple[IngestJob | None, Group | None]:
        key = job_uuid(chunk.job_id)
        with self.t.atomic():
            job = self.t.jobs.get(key)
            if job is None:  # deleted meanwhile (its app was, or it expired)
                return None, None
            group = None
            if job.state == "running":
                open_items = {i.index for i in job.items[chunk.start:chunk.stop]
                              if i.status is None}
                todo = [o for o in outcomes if o.index in open_items]
                if todo:
                    try:
                        with self.t.atomic():  # a savepoint
                            job = self.t.jobs[key]
                            group = self.t.lock_group(job.app, job.group)
                            self._write(job, group, todo, keys, tags)
                    except FaceError as exc:  # the group was deleted, or re-made under
                        job = self.t.jobs[key]  # another model: the savepoint is undone
                        self._close(job, "failed", exc)
                        group = None
            row = job.chunks.get(chunk.start)
            if row is not None:
                row.done_at = row.done_at or self.t.now()
                row.worker = row.worker if row.worker is not None else worker
            return job.record(), group

    def _write(self, job: JobRow, group: Group, todo: list[ItemOutcome],
               keys: dict[int, str], tags: dict[int, str]) -> None:
        counts = dict.fromkeys(OUTCOMES, 0)
        created = 0
        for outcome in todo:
            face_id, made = outcome.face_id, None
            person = job.items[outcome.index].person
            try:
                user_id = (None if person is None
                           else self.t.person_in_group(job.app, group, person))
            except FaceError as exc:  # deleted since the job was submitted
                outcome = ItemOutcome(outcome.index, "failed", exc.to_dict())
                user_id = None
            if outcome.face is not None:
                written = self.t.insert_face_once(job.app, group, outcome.face,
                                                  tags[outcome.index], keys[outcome.index],
                                                  user_id)
                face_id, made = written.face_id, written.created
            elif face_id is not None:
                made = False
            counts[outcome.status] += 1
            created += bool(made)
            item = job.items[outcome.index]
            item.status, item.face_id, item.created = outcome.status, face_id, made
            item.error, item.image = outcome.error, None
        job.done += len(todo)
        # as the SQL has it: every outcome counted but `cancelled`, which a worker never
        # reports (a job's cancelled items are counted where it is closed)
        for status in ("enrolled", "no_face", "low_quality", "bad_image", "failed"):
            job.counts[status] += counts[status]
        job.created += created
        job.started_at = job.started_at or self.t.now()

    def _close(self, job: JobRow, state: str, error: FaceError | None = None) -> None:
        left = 0
        for item in job.items:
            if item.status is None:
                item.status, item.image = "cancelled", None
                left += 1
        job.state, job.finished_at = state, self.t.now()
        job.error = error.to_dict() if error else None
        job.counts["cancelled"] += left
        job.done += left

    async def finish(self, job_id: str) -> bool:
        job = self.t.jobs.get(job_uuid(job_id))
        if job is None or job.state != "running" or job.done < job.total:
            return False
        job.state, job.finished_at = "done", self.t.now()
        return True
