"""Re-embedding a group into another model from the face regions stored at enrolment, as a job:
a model change without re-enrolling.

    gateway (submit): the group, a model of shared/models.py other than the group's, a job with
      a staging row per face (services/gallery/reembed.py), one chunk task per
      FACEGATE_INGEST_CHUNK faces on the bulk queue -> 202 with the job id
    any worker, per chunk (run_chunk): the chunk's faces still pending; each stored region
      through the face pipeline with the new model's embedder (the worker loads it on first
      use: workers/engine.py pipeline_for): detected again, the subject face aligned as that
      embedder wants, embedded; the vectors staged, or the face counted as no_face
    the chunk that leaves none pending (finish): the swap, one transaction; a face enrolled or
      changed during the job is embedded first (LATE_CHUNK) and the swap tried again
    GET /v1/jobs/{id}: progress, and the faces skipped (no region stored, no face found)
    POST /v1/jobs/{id}/cancel: the job ends `cancelled`, its staged vectors go, no swap

Until the swap the group serves its old vectors with its old model. A group holds one model,
so faces that cannot be re-embedded (enrolled before regions were kept, or whose region shows
no face) refuse the swap: the job fails naming them and the group is as it was, unless the
job was asked to drop them (`drop_faces`), in which case they are deleted in the swap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np

from services.gallery.reembed import LATE_CHUNK, ReembedJob, ReembedRuns
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError
from shared.job_metrics import JOBS_FINISHED
from shared.models import MODELS
from shared.tasks import ReembedChunk

__all__ = ["ReembedJob", "model_name"]
log = logging.getLogger("facegate.worker")
# Regions and the embedder's name -> each region's new vector, None where no face was found.
EmbedRegions = Callable[[list[bytes], str], Awaitable[list[np.ndarray | None]]]
_STAGE_EVERY = 32  # faces embedded between two writes of progress
_SWAP_TRIES = 5  # swaps a group that keeps changing gets before the job gives up


def model_name(code: int) -> str:
    """The embedder name (shared/models.py) of a model code."""
    return next(name for name, spec in MODELS.items() if spec.code == code)


def runs_of(gallery: object) -> ReembedRuns:
    """The gallery's re-embedding repository (PostgreSQL's: the swap is its own)."""
    runs = getattr(gallery, "reembeds", None)
    if runs is None:
        raise FaceError(ERRORS.NOT_SUPPORTED, "re-embedding needs the PostgreSQL gallery")
    return runs


async def submit(ctx: Recognition, app: int, group_name: str, model: str,
                 drop_faces: bool = False) -> ReembedJob:
    """A re-embedding of the group into `model`, queued for the workers."""
    if model not in MODELS:
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    group = await ctx.gallery.groups.group(app, group_name)
    if group.model == MODELS[model].code:
        raise FaceError(ERRORS.PARAM_INVALID, f"group {group_name} holds model {model} already")
    runs = runs_of(ctx.gallery)
    job = await runs.create(app, group, MODELS[model].code, drop_faces,
                            ctx.settings.ingest_chunk)
    try:
        # an empty group has one chunk all the same: its task makes the swap
        for chunk in range(max(job.chunks, 1)):
            ctx.queue.send_reembed_chunk(ReembedChunk(job_id=job.id, chunk=chunk))
    except Exception as exc:  # never a job left queued that no task will take
        await runs.fail(job.id, FaceError(ERRORS.SYSTEM_BUSY, "queue unreachable"))
        raise exc
    return job


def _runs(ctx: Recognition) -> ReembedRuns | None:
    """The deployment's re-embeddings (none without PostgreSQL)."""
    return None if ctx.database is None else getattr(ctx.database, "reembeds", None)


async def reembed_job(ctx: Recognition, app: int, job_id: str) -> ReembedJob | None:
    """The re-embedding a job id names, if it is one of this app's."""
    runs = _runs(ctx)
    return None if runs is None else await runs.job(job_id, app)


async def cancel(ctx: Recognition, app: int, job_id: str) -> ReembedJob | None:
    """The app's re-embedding cancelled (services/gallery/reembed.py ReembedRuns.cancel): a
    chunk in a worker's hands stages nothing more and no swap follows. None when the id is
    not one of the app's re-embeddings."""
    runs = _runs(ctx)
    cancelled = None if runs is None else await runs.cancel(job_id, app)
    if cancelled is None:
        return None
    job, ended = cancelled
    if ended:
        JOBS_FINISHED.labels("reembed", "cancelled").inc()
    return job


async def run_chunk(gallery: object, embed: EmbedRegions, request: ReembedChunk,
                    abandoned: FaceError | None = None) -> ReembedJob | None:
    """One chunk, start to end, on a worker (idempotent: only faces still pending are
    embedded, and a vector is staged only for the face as it was read). The chunk that leaves
    no face pending makes the swap. The job after it; None if it had ended or is gone.
    `abandoned`: the chunk's workers died too often (FACEGATE_MAX_DELIVERIES): the job fails."""
    runs = runs_of(gallery)
    job = await runs.start(request.job_id)
    if job is None:
        return None
    if abandoned is not None:
        await _fail(runs, job, abandoned)
        return await runs.job(job.id)
    name = model_name(job.model)
    try:
        await _embed_chunk(runs, embed, job, request.chunk, name)
        if await runs.remaining(job.id) == 0:
            await finish(gallery, embed, job, name)
    except FaceError as exc:
        await _fail(runs, job, exc)
    return await runs.job(job.id)


async def finish(gallery: object, embed: EmbedRegions, job: ReembedJob, name: str) -> str:
    """The swap, after faces enrolled or changed during the job are embedded too; its outcome
    (services/gallery/reembed.py ReembedRuns.swap)."""
    runs = runs_of(gallery)
    for _ in range(_SWAP_TRIES):
        if await runs.restage(job.id):
            await _embed_chunk(runs, embed, job, LATE_CHUNK, name)
        try:
            outcome = await asyncio.to_thread(runs.swap, job.id)
        except Exception as exc:  # the swap rolled back: the group is as it was
            log.exception("re-embedding %s: the swap failed", job.id)
            raise FaceError(ERRORS.ENGINE, f"the swap failed: {type(exc).__name__}") from exc
        if outcome != "again":
            log.info("re-embedding %s of group %s into %s: %s", job.id, job.group, name, outcome)
            if outcome != "ended":  # this call ended it
                JOBS_FINISHED.labels("reembed", "done" if outcome == "done" else "failed").inc()
            else:  # cancelled (or its group deleted) after an earlier try dropped the index
                await _index_again(gallery, job)
            return outcome
        await _embed_chunk(runs, embed, job, LATE_CHUNK, name)
    await _fail(runs, job, FaceError(ERRORS.SYSTEM_BUSY, (
        f"group {job.group} kept changing during the swap; re-embed it again")))
    await _index_again(gallery, job)
    return "failed"


async def _index_again(gallery: object, job: ReembedJob) -> None:
    """The group's index, which a swap that found faces still waiting dropped, built again
    over the vectors the group holds (nothing when the group is gone or already indexed)."""
    try:
        group = await gallery.groups.group(job.app, job.group)  # type: ignore[attr-defined]
    except FaceError:
        return
    await gallery.indexes.ensure_index(group)  # type: ignore[attr-defined]


async def _embed_chunk(runs: ReembedRuns, embed: EmbedRegions, job: ReembedJob, chunk: int,
                       name: str) -> None:
    faces = await runs.pending(job.id, chunk)
    for at in range(0, len(faces), _STAGE_EVERY):
        part = faces[at:at + _STAGE_EVERY]
        vectors = await embed([face.region for face in part], name)
        await runs.stage(job.id, part, vectors)


async def _fail(runs: ReembedRuns, job: ReembedJob, error: FaceError) -> None:
    if await runs.fail(job.id, error):  # not counted twice, nor after a cancel
        JOBS_FINISHED.labels("reembed", "failed").inc()
