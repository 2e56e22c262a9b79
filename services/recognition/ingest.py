"""Ingestion: many photos into one group, as a job stored in PostgreSQL and worked off in chunks.

    gateway: cheap checks (the group exists, each inline image's header), the job's quality
      level decided (enrolment.level: the request's, the group's, the service's) and stored
      with its items (services.gallery.ingest), the first chunks handed out -> 202 with the
      job id
    any worker, per chunk (run_chunk): items still pending; keys already enrolled in the group
      skip the model (a resumed load); URLs fetched here, by the worker, under the same safety
      rules as a request's (shared/urlfetch.py); the engine on the rest; each image judged by
      the one enrolment rule (enrolment.ingest_outcome) at the job's level; faces and
      outcomes written in one transaction; the next chunks handed out; the group's index built
      once, by the chunk that completes the job
    GET /v1/jobs/{id}: done/total, rate, ETA, counts; the items page by page

Each item has an idempotency key (the client's, or the SHA-256 of its image, or of its URL):
resubmitting a load enrols nothing twice, and a chunk delivered twice changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable

from services.gallery.ingest import IngestJob, ItemOutcome, NewItem, PendingItem
from services.recognition import enrolment, people, vision
from services.recognition.context import Recognition
from services.recognition.gallery_port import GalleryPort
from shared import quality_gate
from shared.errors import ERRORS, FaceError
from shared.images import native_limit, probe
from shared.job_metrics import INGEST_ITEMS, JOBS_FINISHED
from shared.models import BY_CODE, MODELS, ModelSpec
from shared.quality_gate import GateLevel
from shared.results import ImageError, ImageResult
from shared.settings import Settings
from shared.tasks import Chunk
from shared.urlfetch import fetch_image

# image specs (and, for a group of another model than the worker's, the embedder to run: a
# second argument) -> what the engine made of each
Analyse = Callable[..., Awaitable[list[ImageResult | ImageError]]]
Send = Callable[[Chunk], None]  # queue one chunk task
_FETCHES = 8  # URLs one chunk fetches at once
log = logging.getLogger("facegate.worker")


async def submit(ctx: Recognition, app: int, group: str,
                 batches: AsyncIterable[list[NewItem]], quality: GateLevel | None = None
                 ) -> tuple[str, int]:
    """Store the job, its items taken batch by batch as `batches` yields them (nothing is
    stored if it raises), and hand out its first chunks; (the job id, how many items). The
    job's level is fixed now: a group default changed during a load does not change it."""
    gallery = ctx.gallery
    held = await gallery.groups.group(app, group)  # 12357 now, not in the job
    at = enrolment.level(quality, held.quality, ctx.settings.quality_gate)
    job_id, total = await gallery.ingest.create(app, group, batches, at)
    await gallery.ingest.feed(app, ctx.queue.send_chunk)
    return job_id, total


async def run_chunk(gallery: GalleryPort, settings: Settings, model: ModelSpec, analyse: Analyse,
                    chunk: Chunk, send: Send, worker: str = "",
                    abandoned: FaceError | None = None) -> IngestJob | None:
    """One chunk, start to end (idempotent). Returns the job after it (None if it had ended).
    `abandoned`: the workers that ran this chunk died (FACEGATE_MAX_DELIVERIES): its items
    still pending fail with that error without reaching the models, and the job goes on."""
    job, pending = await gallery.ingest.pending(chunk)
    outcomes: list[ItemOutcome] = []
    if job is not None and pending:
        known = await gallery.ingest.known_keys(job.app, job.group, [p.key for p in pending])
        outcomes = [ItemOutcome(p.index, "enrolled", face_id=known[p.key])
                    for p in pending if p.key in known]
        rest = [p for p in pending if p.key not in known]
        if abandoned is not None:
            outcomes += [ItemOutcome(p.index, "failed", abandoned.to_dict()) for p in rest]
        else:
            try:
                # a job stored before levels has none: the service's, as it had then
                at = job.quality or settings.quality_gate
                held, name = await _group_model(gallery, job.app, job.group, model)

                async def run(specs: list[dict]) -> list[ImageResult | ImageError]:
                    # the model named only where it is not the worker's own
                    return await (analyse(specs) if name is None else analyse(specs, name))

                outcomes += await _judge(settings, held, run, rest, at)
            except Exception as exc:  # the engine broke on them: reported, not retried
                log.exception("ingestion chunk %s:%d failed", chunk.job_id, chunk.start)
                error = FaceError(ERRORS.ENGINE, type(exc).__name__).to_dict()
                outcomes += [ItemOutcome(p.index, "failed", error) for p in rest]
    keys = {p.index: p.key for p in pending}
    tags = {p.index: p.tag for p in pending}
    after, group = await gallery.ingest.complete_chunk(chunk, keys, tags, outcomes, worker)
    if after is None:
        return None
    for outcome in outcomes:
        INGEST_ITEMS.labels(outcome.status).inc()
    if job is not None and job.state == "running" and after.state == "failed":
        JOBS_FINISHED.labels("ingest", "failed").inc()
    if group is not None and any(o.face is not None for o in outcomes):
        # a clustered group: this chunk's new faces join its clusters now, on the worker,
        # rather than all at once in the gateway when the clusters are next read
        await people.join_new_faces(gallery, group)
    if after.state == "running" and after.done >= after.total:
        # The chunk that completes the job builds the group's index, once for the whole load
        # (a redelivery of it finds the index there and only marks the job done).
        held = group or await gallery.groups.group(after.app, after.group)
        await gallery.indexes.ensure_index(held)
        if await gallery.ingest.finish(after.id):
            after.state = "done"
            JOBS_FINISHED.labels("ingest", "done").inc()
    await gallery.ingest.feed(after.app, send)
    return after if job is not None else None


async def _group_model(gallery: GalleryPort, app: int, group: str, model: ModelSpec
                       ) -> tuple[ModelSpec, str | None]:
    """The model the group holds (a re-embedded group's may not be the worker's `model`) and
    the embedder name to ask for (None: the worker's own); the worker's for a group gone (the
    write reports that)."""
    try:
        held = BY_CODE[(await gallery.groups.group(app, group)).model]
    except FaceError:
        return model, None
    if held == model:
        return model, None
    return held, next(name for name, spec in MODELS.items() if spec == held)


async def _judge(settings: Settings, model: ModelSpec, analyse: Callable[
                     [list[dict]], Awaitable[list[ImageResult | ImageError]]],
                 items: list[PendingItem], at: GateLevel) -> list[ItemOutcome]:
    if not items:
        return []
    gate = quality_gate.level_limits(settings, at)
    fetches = asyncio.Semaphore(_FETCHES)
    size = native_limit(settings)  # ingestion takes what the native API takes

    async def image(item: PendingItem) -> bytes | FaceError:
        if item.image is not None:
            return item.image
        try:
            async with fetches:
                data = await fetch_image(item.url, settings)
            probe(data, size)
            return data
        except FaceError as exc:
            return exc

    data = await asyncio.gather(*(image(item) for item in items))
    outcomes = [ItemOutcome(item.index, "bad_image", got.to_dict())
                for item, got in zip(items, data, strict=True) if isinstance(got, FaceError)]
    readable = [(item, got) for item, got in zip(items, data, strict=True)
                if not isinstance(got, FaceError)]
    if readable:
        results = await analyse([vision.enrol_spec(got, gate is not None,
                                                   settings.thumbnail_size,
                                                   settings.keep_regions)
                                 for _, got in readable])
        outcomes += [enrolment.ingest_outcome(item.index, result, got, model, gate)
                     for (item, got), result in zip(readable, results, strict=True)]
    return outcomes
