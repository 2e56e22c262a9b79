"""The contract between gateway and workers: task names, queues and the Celery configuration
both sides share. The gateway sends tasks by name; it never imports worker code.
"""

from __future__ import annotations

from dataclasses import asdict

from celery import Celery
from kombu import Queue

from shared.settings import Settings

VISION_TASK = "facegate.vision.run"
STATS_TASK = "facegate.worker.stats"
INGEST_CHUNK_TASK = "facegate.ingest.chunk"  # args: {"job_id", "start", "stop"}
INTERACTIVE_QUEUE = "facegate.interactive"
BULK_QUEUE = "facegate.bulk"
JOB_KEY_PREFIX = "facegate:job:"
# A job's request, kept by the gateway until a worker starts the task (gateway/dispatch.py);
# the request names its copy in this field, and the worker deletes it when it starts.
JOB_REQUEST_PREFIX = "facegate:job-request:"
COPY_KEY_FIELD = "copy_key"


def send_ingest_chunk(celery: Celery, chunk: object) -> None:
    """One ingestion chunk (a dataclass: job_id, start, stop) on the bulk queue: a reference
    to items in PostgreSQL, a few hundred bytes."""
    celery.send_task(INGEST_CHUNK_TASK, args=[asdict(chunk)], queue=BULK_QUEUE)


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
