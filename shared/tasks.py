"""The contract between gateway and workers: task names, queues, every task's payload as a
model, and the Celery configuration both sides share. The gateway sends tasks by name; it never
imports worker code.

Payloads travel as msgpack maps (image bytes raw, never base64). The sender builds them from
these models, and the worker reads each one through them before it does anything (read_vision,
read_chunk): a malformed message is refused there, with a log line naming the task and what is
wrong, not deep in a model.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, TypeVar

from celery import Celery
from kombu import Queue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.broker_internals import queue_lists
from shared.canonical import ALL
from shared.errors import ERRORS, FaceError
from shared.models import EmbedderName
from shared.results import ANALYSIS_FIELDS
from shared.settings import Settings

log = logging.getLogger("facegate.tasks")

VISION_TASK = "facegate.vision.run"
STATS_TASK = "facegate.worker.stats"
INGEST_CHUNK_TASK = "facegate.ingest.chunk"  # args: [Chunk]
CLUSTER_TASK = "facegate.cluster.run"  # args: [ClusterRequest]
REEMBED_TASK = "facegate.reembed.chunk"  # args: [ReembedChunk]
# Three queues, served in this order (every priority of one before the next: PRIORITIES):
# synchronous calls, then asynchronous jobs, then bulk work (ingestion chunks, clustering).
INTERACTIVE_QUEUE = "facegate.interactive"
JOBS_QUEUE = "facegate.jobs"
BULK_QUEUE = "facegate.bulk"
QUEUES = (INTERACTIVE_QUEUE, JOBS_QUEUE, BULK_QUEUE)
# kombu's Redis transport keeps a list per queue and priority step (the queue's own name for 0,
# then "<queue>\x06\x16<step>") and a worker's BRPOP asks them lowest step first, every queue at
# one step before any at the next. With one step per priority, 0-3 are calls, 4-6 jobs, 7-8
# bulk work: within a band an app with less work already queued goes first (gateway/shares.py),
# and no job is taken while a call waits.
PRIORITY_STEPS = tuple(range(10))
CALL_PRIORITIES = (0, 1, 2, 3)
JOB_PRIORITIES = (4, 5, 6)
CHUNK_PRIORITY = 7
CLUSTER_PRIORITY = 8
REEMBED_PRIORITY = 8  # bulk work, after ingestion chunks: a group keeps serving meanwhile
JOB_KEY_PREFIX = "facegate:job:"
# A job's request, kept by the gateway until a worker starts the task (gateway/dispatch.py);
# the request names its copy in this field, and the worker deletes it when it starts.
JOB_REQUEST_PREFIX = "facegate:job-request:"
COPY_KEY_FIELD = "copy_key"
# What an app has in the queue (gateway/shares.py): a sorted set per app; the worker removes a
# task's member when the task ends.
SHARE_PREFIX = "facegate:share:"
# How many times each task was handed to a worker (workers/deliveries.py).
DELIVERIES_PREFIX = "facegate:deliveries:"


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s messages, one per priority step, first served first."""
    return queue_lists(queue, PRIORITY_STEPS)


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The map that crosses the queue (bytes stay bytes: msgpack carries them raw)."""
        return self.model_dump(exclude_none=True)


AnalysisField = Literal[ANALYSIS_FIELDS]  # type: ignore[valid-type]


class ImageSpec(_Payload):
    """One image's request to a worker (shared/canonical.py describes the result)."""

    # The encoded image; one that does not decode is that image's error, not the task's.
    data: bytes = Field(strict=True)
    faces: Literal["all", "largest"] = ALL  # "largest": the photo's subject only
    rotate: bool = False  # no upright face found: also look at it turned 90/180/270 degrees
    embed: bool = False
    crops: bool = False  # each face's pixels, as JPEG
    analyse: tuple[AnalysisField, ...] = ()
    thumbnail: Annotated[int, Field(ge=0, le=512)] = 0  # side of each face's thumbnail; 0: none
    region: bool = False  # each face's region as JPEG (services/vision/align.py face_region)
    clean: bool = False  # remove an ID photo's mesh before detecting
    remove_mesh: bool = False  # only remove the mesh: the result is {"cleaned": JPEG}


def image_spec(data: bytes, faces: str = ALL, rotate: bool = False, embed: bool = False,
               crops: bool = False, analyse: tuple[str, ...] | list[str] = (),
               thumbnail: int = 0, region: bool = False) -> dict[str, Any]:
    """One image's request, as it travels (ImageSpec's fields); `thumbnail`: the side in pixels
    of a small upright picture of each face (0: none); `region`: each face's stored region.
    Checked once, with the whole request, where it is sent (vision_payload) and where it is
    read (read_vision), not here."""
    return {"data": data, "faces": faces, "rotate": rotate, "embed": embed, "crops": crops,
            "analyse": tuple(analyse), "thumbnail": thumbnail, "region": region}


class VisionRequest(_Payload):
    """The facegate.vision.run task's one argument."""

    images: list[ImageSpec] = Field(min_length=1, max_length=1000)
    # The embedder to run (shared/models.py's names): a group's own model where it is not the
    # worker's FACEGATE_EMBEDDER (a re-embedding, services/recognition/reembed.py); None: that.
    model: EmbedderName | None = None
    request_id: str | None = Field(None, max_length=200)  # the gateway's, for log lines
    # The gateway span's W3C trace context, when traces are on (shared/tracing.py)
    traceparent: str | None = Field(
        None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
    # A job's spare copy in Redis (gateway/dispatch.py), deleted by the worker that starts it.
    copy_key: str | None = Field(None, pattern=r"^facegate:job-request:[0-9a-f-]{36}$")
    # Its queue priority (0 first; calls 0-3, jobs 4-6): the worker's model passes serve
    # waiting images in the same order (workers/batching.py).
    priority: int = Field(0, ge=0, le=9)
    # The app's share of the queue this task holds (gateway/shares.py), given back by the
    # worker when the task ends.
    share_key: str | None = Field(None, pattern=r"^facegate:share:\d{1,19}$")
    share_member: str | None = Field(None, pattern=r"^[cj]\|[0-9a-f-]{36}\|\d{1,12}$")


_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Chunk(_Payload):
    """The facegate.ingest.chunk task's one argument: items [start, stop) of an ingestion job,
    a reference to rows in PostgreSQL, a few hundred bytes."""

    job_id: str = Field(pattern=_UUID)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Chunk:
        if self.stop <= self.start:
            raise ValueError(f"stop ({self.stop}) must be greater than start ({self.start})")
        return self


class ClusterRequest(_Payload):
    """The facegate.cluster.run task's one argument: a clustering run stored in PostgreSQL
    (services/gallery/clusters.py), queued by the gateway."""

    run_id: str = Field(pattern=_UUID)


class ReembedChunk(_Payload):
    """The facegate.reembed.chunk task's one argument: one chunk of a group's re-embedding
    (services/gallery/reembed.py), its faces' regions in PostgreSQL."""

    job_id: str = Field(pattern=_UUID)
    chunk: int = Field(ge=0)


P = TypeVar("P", bound=_Payload)


def read(model: type[P], payload: object, task: str) -> P:
    """A task's argument as `model`, or FaceError(ENGINE) after a log line that names the task
    and each field that is wrong (never the image bytes)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                             for e in exc.errors(include_input=False))
        log.error("refused a malformed %s task: %s", task, problems)
        raise FaceError(ERRORS.ENGINE, f"malformed {task} task: {problems}") from None


def read_vision(payload: object) -> VisionRequest:
    return read(VisionRequest, payload, VISION_TASK)


def read_chunk(payload: object) -> Chunk:
    return read(Chunk, payload, INGEST_CHUNK_TASK)


def read_cluster(payload: object) -> ClusterRequest:
    return read(ClusterRequest, payload, CLUSTER_TASK)


def read_reembed(payload: object) -> ReembedChunk:
    return read(ReembedChunk, payload, REEMBED_TASK)


def vision_payload(request: VisionRequest | dict, **fields: Any) -> dict[str, Any]:
    """What the gateway sends: the request and `fields`, checked against the contract (a
    mistake is the sender's: FaceError(ENGINE) and a log line, and nothing is sent)."""
    if isinstance(request, VisionRequest):
        request = request.wire()
    return read(VisionRequest, {**request, **fields}, VISION_TASK).wire()


def send_ingest_chunk(celery: Celery, chunk: Chunk) -> None:
    """One ingestion chunk on the bulk queue."""
    celery.send_task(INGEST_CHUNK_TASK, args=[chunk.wire()], queue=BULK_QUEUE,
                     priority=CHUNK_PRIORITY)


def send_cluster_run(celery: Celery, request: ClusterRequest) -> None:
    """One clustering run on the bulk queue (a worker's CPU or GPU time, not the gateway's)."""
    celery.send_task(CLUSTER_TASK, args=[request.wire()], queue=BULK_QUEUE,
                     priority=CLUSTER_PRIORITY)


def send_reembed_chunk(celery: Celery, chunk: ReembedChunk) -> None:
    """One chunk of a re-embedding on the bulk queue."""
    celery.send_task(REEMBED_TASK, args=[chunk.wire()], queue=BULK_QUEUE,
                     priority=REEMBED_PRIORITY)


def make_celery(settings: Settings, name: str = "facegate") -> Celery:
    app = Celery(name, broker=settings.redis_url, backend=settings.redis_url)
    visibility = settings.visibility_timeout_s
    redelivery = {
        "visibility_timeout": visibility,
        # kombu sweeps for abandoned tasks every interval x throttle seconds, 100 s by
        # default; with these a dead worker's task is back within visibility + 10 s at most.
        "unacked_restore_interval": max(1, min(10, visibility // 4)),
        "unacked_restore_throttle": 1,
        # Strict order: calls, then jobs, then bulk work (the queue list above and the
        # priority bands); kombu's default round robin would serve a job between two calls.
        "priority_steps": list(PRIORITY_STEPS),
        "queue_order_strategy": "priority",
    }
    app.conf.update(
        # Images and embeddings are binary: msgpack carries them without base64 inflation.
        task_serializer="msgpack",
        result_serializer="msgpack",
        accept_content=["msgpack", "json"],  # json: Celery's own control messages (ping)
        result_accept_content=["msgpack"],
        # A task is acknowledged only when it is done, so a worker that dies mid-task leaves it
        # on the broker, and Redis hands it to another worker once the worker's lease on it
        # (renewed while it lives: workers/broker.py) is older than the visibility timeout.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=redelivery,
        result_backend_transport_options={"visibility_timeout": visibility},
        result_expires=settings.result_ttl_s,
        task_track_started=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=INTERACTIVE_QUEUE,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # forever: a long Redis outage must not end a worker
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    # Control messages (ping, inspect) and the workers' replies in JSON, not msgpack (Celery
    # would use the task serializer): Flower and Celery's own command line accept only JSON.
    app.control.mailbox.serializer = "json"
    return app
