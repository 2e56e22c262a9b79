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

from shared.canonical import ALL, ANALYSIS_FIELDS
from shared.errors import ERRORS, FaceError
from shared.settings import Settings

log = logging.getLogger("facegate.tasks")

VISION_TASK = "facegate.vision.run"
STATS_TASK = "facegate.worker.stats"
INGEST_CHUNK_TASK = "facegate.ingest.chunk"  # args: [Chunk]
CLUSTER_TASK = "facegate.cluster.run"  # args: [ClusterRequest]
INTERACTIVE_QUEUE = "facegate.interactive"
BULK_QUEUE = "facegate.bulk"
JOB_KEY_PREFIX = "facegate:job:"
# A job's request, kept by the gateway until a worker starts the task (gateway/dispatch.py);
# the request names its copy in this field, and the worker deletes it when it starts.
JOB_REQUEST_PREFIX = "facegate:job-request:"
COPY_KEY_FIELD = "copy_key"



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
    clean: bool = False  # remove an ID photo's mesh before detecting
    remove_mesh: bool = False  # only remove the mesh: the result is {"cleaned": JPEG}


def image_spec(data: bytes, faces: str = ALL, rotate: bool = False, embed: bool = False,
               crops: bool = False, analyse: tuple[str, ...] | list[str] = (),
               thumbnail: int = 0) -> dict[str, Any]:
    """One image's request, as it travels (ImageSpec's fields); `thumbnail`: the side in pixels
    of a small upright picture of each face (0: none). Checked once, with the whole request,
    where it is sent (vision_payload) and where it is read (read_vision), not here."""
    return {"data": data, "faces": faces, "rotate": rotate, "embed": embed, "crops": crops,
            "analyse": tuple(analyse), "thumbnail": thumbnail}


class VisionRequest(_Payload):
    """The facegate.vision.run task's one argument."""

    images: list[ImageSpec] = Field(min_length=1, max_length=1000)
    request_id: str | None = Field(None, max_length=200)  # the gateway's, for log lines
    # A job's spare copy in Redis (gateway/dispatch.py), deleted by the worker that starts it.
    copy_key: str | None = Field(None, pattern=r"^facegate:job-request:[0-9a-f-]{36}$")


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


def vision_payload(request: VisionRequest | dict, **fields: Any) -> dict[str, Any]:
    """What the gateway sends: the request and `fields`, checked against the contract (a
    mistake is the sender's: FaceError(ENGINE) and a log line, and nothing is sent)."""
    if isinstance(request, VisionRequest):
        request = request.wire()
    return read(VisionRequest, {**request, **fields}, VISION_TASK).wire()


def send_ingest_chunk(celery: Celery, chunk: Chunk) -> None:
    """One ingestion chunk on the bulk queue."""
    celery.send_task(INGEST_CHUNK_TASK, args=[chunk.wire()], queue=BULK_QUEUE)


def send_cluster_run(celery: Celery, request: ClusterRequest) -> None:
    """One clustering run on the bulk queue (a worker's CPU or GPU time, not the gateway's)."""
    celery.send_task(CLUSTER_TASK, args=[request.wire()], queue=BULK_QUEUE)


def make_celery(settings: Settings, name: str = "facegate") -> Celery:
    app = Celery(name, broker=settings.redis_url, backend=settings.redis_url)
    visibility = settings.visibility_timeout_s
    redelivery = {
        "visibility_timeout": visibility,
        # kombu sweeps for abandoned tasks every interval x throttle seconds, 100 s by
        # default; with these a dead worker's task is back within visibility + 10 s at most.
        "unacked_restore_interval": max(1, min(10, visibility // 4)),
        "unacked_restore_throttle": 1,
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
        task_queues=[Queue(INTERACTIVE_QUEUE), Queue(BULK_QUEUE)],
        task_default_queue=INTERACTIVE_QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    # Control messages (ping, inspect) and the workers' replies in JSON, not msgpack (Celery
    # would use the task serializer): Flower and Celery's own command line accept only JSON.
    app.control.mailbox.serializer = "json"
    return app
