"""/v1 ingestion: many photos into one group as a job (services/recognition/ingest.py).

POST /v1/groups/{group}/faces/bulk   any form of bulk_inputs.py -> 202 {job_id, poll, items};
                                     ?quality= (or a field of the JSON or form) for every
                                     item
GET  /v1/jobs/{id}                   status, progress (done/total, rate, ETA), counts; with
                                     every item's outcome inline while the job has at most
                                     INLINE_ITEMS items
GET  /v1/jobs/{id}/items             ?offset=0&limit=500&status=enrolled: a page of outcomes
POST /v1/jobs/{id}/cancel            items not yet done become `cancelled` (a re-embedding
                                     is cancelled here too: reembed.py)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from pydantic import Field
from starlette.requests import Request

from gateway.contract import CallbackUrl, Offset, declare, quality_level
from gateway.dialects.native import reembed as reembed_routes
from gateway.dialects.native.archives import ArchiveLimits
from gateway.dialects.native.bulk_inputs import BulkInput, items_from
from gateway.dialects.native.codes import describe
from gateway.dialects.native.paths import GroupPath, JobPath
from services.recognition import catalogue, ingest, jobs, webhooks
from services.recognition.catalogue import OUTCOMES, IngestJob, NewItem, rate
from services.recognition.context import Recognition
from shared.answers import JobAccepted, JobItems, JobStatus, ReembedStatus
from shared.errors import ERRORS, FaceError
from shared.images import native_limit
from shared.quality_gate import GateLevel

INLINE_ITEMS = 1000  # a job this small reports every item in GET /v1/jobs/{id}
# Ingestion bodies one gateway process reads at once (each holds a database connection and a
# thread while its archive inflates); more are answered busy, and the client retries.
READERS_AT_ONCE = 2
READERS = threading.BoundedSemaphore(READERS_AT_ONCE)
BATCH_ITEMS, BATCH_BYTES = 256, 8 * 2**20  # what one COPY batch holds
PAGE_MAX = 5000
OP = "bulk_enrol"


class Bulk(BulkInput, GroupPath):
    callback_url: CallbackUrl | None = None
    quality: GateLevel | None = quality_level(
        "the group's default, else the service's setting (FACEGATE_QUALITY_GATE); the level "
        "is the job's, for every item")


@declare(Bulk, statuses=(202,), max_body_setting="ingest_max_body_bytes")
async def bulk_enrol(ctx: Recognition, request: Request, params: Bulk
                     ) -> tuple[JobAccepted, int]:
    """Many photos into a group as an ingestion job (archive, JSON items, JSON lines or a CSV
    of URLs)."""
    group, app = params.group, request.state.app_id
    await catalogue.group(ctx, app, group)  # 12357 before reading any image
    await webhooks.check_room(ctx, app, params.callback_url)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    items = items_from(params, content_type, ctx.settings.ingest_max_items,
                       native_limit(ctx.settings), ArchiveLimits.of(ctx.settings))
    if not READERS.acquire(blocking=False):
        raise FaceError(ERRORS.SYSTEM_BUSY, f"this gateway is reading {READERS_AT_ONCE} "
                        "ingestion uploads already; retry in a few seconds")
    try:
        job_id, total = await ingest.submit(ctx, app, group, in_batches(items),
                                            params.quality)
    finally:
        READERS.release()
    await webhooks.watch(ctx, app, "ingest", job_id, params.callback_url)
    return {"job_id": job_id, "status": "queued", "total": total,
            "poll": f"/v1/jobs/{job_id}", "items": f"/v1/jobs/{job_id}/items"}, 202


async def in_batches(items: Iterator[NewItem]) -> AsyncIterator[list[NewItem]]:
    """The items, read (an archive inflated, each photo's header probed) on a thread rather
    than the event loop, a batch at a time as the database takes them: the gateway holds the
    body and one batch, never the whole inflated load."""

    def next_batch() -> list[NewItem]:
        batch, size = [], 0
        for item in items:
            batch.append(item)
            size += len(item.image or b"")
            if len(batch) >= BATCH_ITEMS or size >= BATCH_BYTES:
                break
        return batch

    while batch := await asyncio.to_thread(next_batch):
        yield batch


def _outcome(item: dict) -> dict:
    out = {"index": item["index"], "key": item["key"], "tag": item["tag"],
           "status": item["status"]}
    if item["status"] == "enrolled" and item["face_id"] is not None:  # None: face deleted
        out.update(face_id=item["face_id"], created=item["created"])
    if item["error"]:
        out["error"] = describe(FaceError.from_dict(item["error"]))
    return out


def job_summary(job: IngestJob) -> dict:
    """An ingestion job's status, progress and counts (no items)."""
    per_s, left = rate(job)
    status = "running" if job.state == "running" else job.state
    body = {"job_id": job.id, "op": OP, "status": status, "group": job.group,
            "created": job.created_at.timestamp(),
            "progress": {"done": job.done, "total": job.total,
                         "percent": round(100 * job.done / job.total, 1) if job.total else 100,
                         "rate_per_s": round(per_s, 2),
                         "eta_s": None if left is None else round(left, 1),
                         "chunks_in_flight": job.in_flight},
            "counts": job.counts, "faces_created": job.created,
            "items": f"/v1/jobs/{job.id}/items"}
    if job.quality:
        body["quality"] = job.quality
    if job.finished_at:
        body["finished"] = job.finished_at.timestamp()
    if job.error:
        body["error"] = describe(FaceError.from_dict(job.error))
    return body


async def job_view(ctx: Recognition, app: int, job: IngestJob) -> dict:
    """The summary, and every item's outcome once a small job has ended."""
    body = job_summary(job)
    if job.state != "running" and job.total <= INLINE_ITEMS:
        page = await catalogue.job_items(ctx, app, job.id, 0, INLINE_ITEMS)
        body["result"] = {"total": job.total, "counts": job.counts,
                          "items": [_outcome(item) for item in page]}
    return body


Outcome = Literal[(*OUTCOMES, "pending")]  # type: ignore[valid-type]


class ItemsQuery(JobPath):
    offset: Offset = 0
    limit: int = Field(500, ge=1, le=PAGE_MAX)
    status: Outcome | None = None


@declare(ItemsQuery)
async def job_items(ctx: Recognition, request: Request, params: ItemsQuery
                    ) -> tuple[JobItems, int]:
    """A page of an ingestion job's item outcomes, filterable by outcome."""
    job_id, app = params.job_id, request.state.app_id
    offset, limit, status = params.offset, params.limit, params.status
    page = await catalogue.job_items(ctx, app, job_id, offset, limit, status)
    body = {"job_id": job_id, "offset": offset, "items": [_outcome(item) for item in page]}
    if len(page) == limit:
        body["next"] = (f"/v1/jobs/{job_id}/items?offset={page[-1]['index'] + 1}&limit={limit}"
                        + (f"&status={status}" if status else ""))
    return body, 200


@declare(JobPath)
async def cancel_job(ctx: Recognition, request: Request, params: JobPath
                     ) -> tuple[JobStatus | ReembedStatus, int]:
    """Cancels an ingestion job (items not yet done become `cancelled`) or a re-embedding
    (no swap: the group keeps its model and vectors)."""
    job = await jobs.cancel(ctx, request.state.app_id, params.job_id)
    if isinstance(job, IngestJob):
        return await job_view(ctx, request.state.app_id, job), 200
    return reembed_routes.job_view(job), 200


ROUTES = [
    ("/groups/{group}/faces/bulk", bulk_enrol, "POST"),
    ("/jobs/{job_id}/items", job_items, "GET"),
    ("/jobs/{job_id}/cancel", cancel_job, "POST"),
]
