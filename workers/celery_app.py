"""The worker's Celery app and its tasks, built from settings (create_worker_app).

Run: `facegate worker`, i.e. celery -A workers.main worker --pool threads -Q facegate.interactive
(workers/main.py builds the app from the environment). Thread pool on purpose: the tasks of one
process share its models and its batchers; scale out with more processes or hosts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import types
from collections.abc import Callable

import psycopg
from celery import Celery
from celery.app import trace as celery_trace
from celery.apps import worker as celery_worker_app
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init
from kombu.exceptions import OperationalError

from shared import logs, tracing
from shared.errors import ERRORS, FaceError
from shared.job_metrics import JOBS_FINISHED
from shared.settings import Settings
from shared.tasks import (
    CLUSTER_TASK,
    COPY_KEY_FIELD,
    INGEST_CHUNK_TASK,
    REEMBED_TASK,
    STATS_TASK,
    VISION_TASK,
    Chunk,
    make_celery,
    read_chunk,
    read_cluster,
    read_reembed,
    read_vision,
    send_ingest_chunk,
)
from workers import metrics
from workers.batching import at_priority
from workers.broker import BrokerPulse, lease_interval, transport_for
from workers.deliveries import Deliveries
from workers.engine import Engine
from workers.ingest import GalleryTasks
from workers.memory import Recycler, ceiling

log = logging.getLogger("facegate.worker")
# How long a synchronous call's result stays in Redis when no gateway reads it (gateway/
# dispatch.py deletes the ones it reads, at once): it holds embeddings and thumbnails.
CALL_RESULT_KEEP_S = 60


def say_as_json(message: str, stream: object = None) -> None:
    """Celery's safe_say, writing a JSON line to stderr in one os.write."""
    line = json.dumps({"ts": round(time.time(), 3), "level": "warning",
                       "logger": "celery.apps.worker", "msg": message.strip()})
    os.write(2, line.encode() + b"\n")


def answer_vision(engine: Engine, payload: object) -> dict:
    """What the vision task returns: the engine's result, or {"error": ...} for a FaceError
    (the request's fault, or a payload that breaks the contract: shared/tasks.py) or any other
    failure (ENGINE, logged). Idempotent: the same request gives the same result, so a
    redelivered task is harmless."""
    request_id = None
    try:
        request = read_vision(payload)
        request_id = request.request_id
        result = engine.run(request).sent()  # the declared result, as the queue carries it
        metrics.TASKS.labels("vision", "ok").inc()
        return result
    except FaceError as exc:
        metrics.TASKS.labels("vision", exc.kind.name).inc()
        return {"error": exc.to_dict()}
    except Exception as exc:
        log.exception("vision task failed", extra={"request_id": request_id})
        metrics.TASKS.labels("vision", "exception").inc()
        return {"error": FaceError(ERRORS.ENGINE, type(exc).__name__).to_dict()}


class LazyEngine:
    """The process's one engine (models load once), made on first use."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._lock = threading.Lock()

    def __call__(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.settings)
            return self._engine


def create_worker_app(settings: Settings, engine: Engine | None = None,
                      serve_metrics: bool = True) -> Celery:
    app = make_celery(settings, "facegate-worker")
    logs.configure(settings.log_level, settings.log_json)  # before Celery's first warning
    # Leases on held tasks, a pulse for the health check, and Redis restarts survived
    # (workers/broker.py).
    pulse = BrokerPulse(lease_interval(settings.visibility_timeout_s))
    app.conf.broker_transport = transport_for(pulse)
    get_engine = LazyEngine(settings, engine)

    def health() -> tuple[bool, str]:
        # Served once the models are warm. "Broker reached" feeds /readyz only: /healthz
        # (liveness) no longer fails on it, so a Redis outage restarts no worker.
        if pulse.alive():
            return True, f"ok: models loaded, broker reached {pulse.age():.1f} s ago"
        return False, f"broker not reached for {pulse.age():.0f} s"

    # Celery's "succeeded" line quotes the task's return value: a vision result holds face
    # embeddings, which are no log's business. The line stays, without it. (A module constant of
    # Celery's tracer, read at each call: tests/integration/test_logs_one_format.py pins it.)
    celery_trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss"
    if settings.log_json:
        # Its notices from signal handlers ("worker: Warm shutdown (MainProcess)") are printed
        # with a bare write, not logged (no logging locks in a handler): the same bare write,
        # as a JSON line.
        celery_worker_app.safe_say = say_as_json

    @setup_logging.connect(weak=False)
    def one_log_format(**_: object) -> None:
        # A receiver here keeps Celery from installing its own handlers and format: its lines
        # (task received, succeeded, ...) and kombu's go through shared/logs.py like ours.
        logs.configure(settings.log_level, settings.log_json)

    @task_prerun.connect(weak=False)
    def carry_request_id(args: tuple = (), **_: object) -> None:
        # The gateway's request id (shared/tasks.py) on every line the task's thread logs,
        # Celery's own "succeeded" line included; a task without one (ingestion, clustering)
        # clears the previous task's.
        payload = args[0] if args else None
        request_id = payload.get("request_id") if isinstance(payload, dict) else None
        logs.REQUEST_ID.set(request_id if isinstance(request_id, str) else "")

    @task_postrun.connect(weak=False)
    def short_lived_call_result(sender: object = None, task_id: str | None = None,
                                args: tuple = (), **_: object) -> None:
        # After Celery stored the result (FACEGATE_RESULT_TTL). A call's is read by its gateway
        # as soon as it is published, and deleted; one the gateway gave up on (or died
        # waiting for) would keep a face's embedding and thumbnail that long, outliving the
        # face should it be enrolled and deleted meanwhile. A job's result (its payload names
        # its copy) is read later: it keeps the job's lifetime.
        payload = args[0] if args else None
        if (getattr(sender, "name", None) != VISION_TASK or getattr(sender, "app", None) is not app
                or not task_id or not isinstance(payload, dict) or payload.get(COPY_KEY_FIELD)):
            return
        try:
            app.backend.client.expire(app.backend.get_key_for_task(task_id), CALL_RESULT_KEEP_S)
        except Exception as exc:  # it expires with FACEGATE_RESULT_TTL
            log.debug("result of %s not shortened: %s", task_id, exc)

    @worker_init.connect(sender=None, weak=False)
    def load_models(sender: object = None, **_: object) -> None:
        # Before the worker consumes anything: a worker that cannot load its models takes no
        # task. (The signal is process-wide: answer only for this app's worker.)
        if getattr(sender, "app", None) is not app:
            return
        logs.configure(settings.log_level, settings.log_json)
        tracing.setup("facegate-worker")
        seconds = get_engine().warm_up()
        if serve_metrics:
            metrics.serve(settings.worker_metrics_port, health)
        log.info("models warm in %.2f s", seconds)

    deliveries = Deliveries(lambda: app.backend.client, settings.max_deliveries,
                            settings.result_ttl_s)
    recycler = Recycler(ceiling(settings.worker_max_rss_bytes))

    @contextlib.contextmanager
    def task_life(task_id: str | None, share: tuple[str, str] | None = None):
        """Around every task: its delivery counted (an abandoned task is answered without
        running: `abandoned` is set), its app's share given back and its count dropped when it
        ends, and the worker's memory looked at before the next."""
        state = types.SimpleNamespace(abandoned=deliveries.start(task_id))
        try:
            yield state
        finally:
            if share is not None:
                try:
                    app.backend.client.zrem(*share)
                except Exception as exc:  # the member lapses by itself
                    log.debug("share %s not given back: %s", share, exc)
            deliveries.end(task_id)
            recycler.after_task()

    @app.task(name=VISION_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
    def run_vision(self, request: object) -> dict:
        fields = request if isinstance(request, dict) else {}
        share = (fields["share_key"], fields["share_member"]) if (
            isinstance(fields.get("share_key"), str)
            and isinstance(fields.get("share_member"), str)) else None
        with task_life(self.request.id, share) as life:
            if life.abandoned is not None:
                metrics.TASKS.labels("vision", life.abandoned.kind.name).inc()
                return {"error": life.abandoned.to_dict()}
            copy_key = fields.get(COPY_KEY_FIELD)
            if copy_key:  # a job's spare copy: held by this worker now, its lease covers it
                try:
                    app.backend.client.delete(copy_key)
                except Exception as exc:  # it expires with the job; a resend is harmless
                    log.debug("job copy %s not deleted: %s", copy_key, exc)
            priority = fields.get("priority", 0)
            images = fields.get("images")
            with at_priority(priority if isinstance(priority, int) else 0), tracing.span(
                    "facegate.vision", fields.get("traceparent"),
                    **{"facegate.images": len(images) if isinstance(images, list) else 0,
                       "facegate.priority": priority if isinstance(priority, int) else 0,
                       "facegate.job": bool(copy_key)}):
                answer = answer_vision(get_engine(), request)
            if copy_key:  # an operation job ends here (a call's end is the gateway's)
                JOBS_FINISHED.labels("operation", "failed" if "error" in answer
                                     else "done").inc()
            return answer

    @app.task(name=STATS_TASK)
    def worker_stats() -> dict:
        """Batching figures of the worker that runs it: how many passes, how many items each."""
        engine = get_engine()
        return {name: {"batches": b.stats.batches, "items": b.stats.items,
                       "mean_batch": b.stats.mean_batch, "busy_s": b.stats.busy_s,
                       "recent_sizes": b.stats.sizes}
                for name, b in (("detect", engine.detect_batcher),
                                ("detect_large", engine.large_detect_batcher),
                                ("embed", engine.embed_batcher),
                                ("analyse", engine.analyse_batcher)) if b is not None}

    runner = GalleryTasks(settings, get_engine)

    def send_chunk(chunk: Chunk) -> None:
        send_ingest_chunk(app, chunk)

    # What a job's task does around its work: the deliveries counted (its workers dying too
    # often hands the work `abandoned`), a FaceError answered as the result, the outcome
    # counted under `kind`.
    def run_job(task_id: str | None, kind: str,
                work: Callable[[FaceError | None], dict]) -> dict:
        with task_life(task_id) as life:
            try:
                summary = work(life.abandoned)
            except FaceError as exc:
                metrics.TASKS.labels(kind, exc.kind.name).inc()
                return {"error": exc.to_dict()}
        metrics.TASKS.labels(kind, "ok").inc()
        return summary

    # A job's task is taken again if its worker dies, and retries an outage with backoff.
    job_task = {"bind": True, "acks_late": True, "reject_on_worker_lost": True,
                "autoretry_for": (psycopg.OperationalError, OperationalError, ConnectionError),
                "retry_backoff": 2, "retry_backoff_max": 120, "max_retries": 8}

    # A database or broker outage mid-chunk: the chunk runs again later (idempotent: what it
    # wrote is found by its items' status), for about 10 minutes; after that the job's feeder
    # sends the chunk again once it is stale (services/gallery/ingest.py).
    @app.task(name=INGEST_CHUNK_TASK, **job_task)
    def ingest_chunk(self, payload: object) -> dict:
        """One chunk of an ingestion job (workers/ingest.py); a chunk whose workers died too
        often has its items fail instead, and the job goes on."""
        return run_job(self.request.id, "ingest_chunk", lambda abandoned: runner.run(
            read_chunk(payload), send_chunk, abandoned))

    # A clustering run (services/recognition/people.py) retries an outage as a chunk does;
    # it starts over each time and saves in one transaction.
    @app.task(name=CLUSTER_TASK, **job_task)
    def cluster_run(self, payload: object) -> dict:
        """One clustering run of a group (failed instead when its workers died too often)."""
        return run_job(self.request.id, "cluster", lambda abandoned: runner.cluster(
            read_cluster(payload), abandoned))

    # A chunk of a re-embedding (services/recognition/reembed.py) retries an outage as an
    # ingestion chunk does; it embeds only the faces still pending.
    @app.task(name=REEMBED_TASK, **job_task)
    def reembed_chunk(self, payload: object) -> dict:
        """One chunk of a group's re-embedding (its job failed instead when its workers died
        too often)."""
        return run_job(self.request.id, "reembed", lambda abandoned: runner.reembed(
            read_reembed(payload), abandoned))

    return app
