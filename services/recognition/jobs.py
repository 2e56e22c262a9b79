"""Jobs: an operation queued now and read later (GET /v1/jobs/{id}).

A job record keeps its op name and options; the result is finished (vision.py) when it is
read. Bulk enrolment is an ingestion job instead, kept in PostgreSQL (ingest.py), and a
clustering is a run of its own (people.py); all three share one id space for the client.

The rule for all three lives here: a job belongs to the app that submitted it, and another
app's read of it answers JOB_NOT_FOUND, as for an id that names no job. A queued operation's
record keeps its app (submit_owned) and `owned` checks it; ingestion jobs and clustering runs
are read through the app from the gallery. Dialects only translate what `owned` gives them.
"""

from __future__ import annotations

from services.gallery.clusters import ClusterRun
from services.gallery.ingest import IngestJob
from services.gallery.reembed import ReembedJob
from services.recognition import catalogue, people, reembed, vision
from services.recognition.context import Recognition
from services.recognition.ports import JobState
from shared.errors import job_not_found

# The option under which a queued operation's record keeps its app. Records in Redis already
# hold it under this name: renaming it orphans the jobs in flight.
OWNER = "app"

OwnedJob = IngestJob | ClusterRun | ReembedJob | JobState


async def submit_owned(ctx: Recognition, app: int, op: vision.Operation, images: list[bytes],
                       options: dict) -> str:
    """Queues `op` on `images` as a job of `app`; its id."""
    return await vision.submit(ctx.queue, op, images, {**options, OWNER: app})


async def owned(ctx: Recognition, app: int, job_id: str) -> OwnedJob:
    """The app's job of that id: an ingestion job, a clustering run or a queued operation's
    state. JOB_NOT_FOUND when there is none, it has expired, or it is another app's."""
    ingestion = await catalogue.ingest_job(ctx, app, job_id)  # another app's: JOB_NOT_FOUND
    if ingestion is not None:
        return ingestion
    clustering = await people.clustering_job(ctx, app, job_id)
    if clustering is not None:
        return clustering
    reembedding = await reembed.reembed_job(ctx, app, job_id)
    if reembedding is not None:
        return reembedding
    state = await ctx.queue.job(job_id)
    if state.options.get(OWNER) != app:
        # word for word the unknown id's answer (the queue's): nothing tells another app
        # that the id exists
        raise job_not_found(job_id)
    return state


async def cancel(ctx: Recognition, app: int, job_id: str) -> IngestJob | ReembedJob:
    """Cancels the app's ingestion job or re-embedding; JOB_NOT_FOUND for any other id (a
    clustering and a queued operation run to their end)."""
    reembedding = await reembed.cancel(ctx, app, job_id)
    if reembedding is not None:
        return reembedding
    return await catalogue.cancel_job(ctx, app, job_id)


def job_result(op: str, result: dict, options: dict) -> object:
    """A finished job's canonical result."""
    return vision.JOB_OPERATIONS[op].finish(result, options)
