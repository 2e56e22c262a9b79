"""The worker's Celery app and its task.

Run: celery -A workers.celery_app worker --pool threads --concurrency 16 -Q facegate.interactive
(`facegate worker` does this with the settings applied). Thread pool on purpose: the tasks of one
process share its models and its batchers; scale out with more processes or hosts.
"""

from __future__ import annotations

import logging

from celery.signals import worker_init

from shared.errors import ERRORS, FaceError
from shared.settings import get_settings
from shared.tasks import STATS_TASK, VISION_TASK, make_celery
from workers.engine import get_engine

log = logging.getLogger("facegate.worker")
settings = get_settings()
app = make_celery(settings, "facegate-worker")


@worker_init.connect
def _load_models(**_: object) -> None:
    # Before the worker consumes anything: a worker that cannot load its models takes no task.
    seconds = get_engine(settings).warm_up()
    log.info("models warm in %.2f s", seconds)


@app.task(name=VISION_TASK, acks_late=True, reject_on_worker_lost=True)
def run_vision(request: dict) -> dict:
    """Idempotent: the same request gives the same result, so a redelivered task is harmless."""
    try:
        return get_engine(settings).run(request)
    except FaceError as exc:
        return {"error": exc.to_dict()}
    except Exception as exc:
        log.exception("vision task failed")
        return {"error": FaceError(ERRORS.ENGINE, type(exc).__name__).to_dict()}


@app.task(name=STATS_TASK)
def worker_stats() -> dict:
    """Batching figures of the worker that runs it: how many passes, how many items each."""
    engine = get_engine(settings)
    return {name: {"batches": b.stats.batches, "items": b.stats.items,
                   "mean_batch": b.stats.mean_batch, "busy_s": b.stats.busy_s,
                   "recent_sizes": b.stats.sizes}
            for name, b in (("detect", engine.detect_batcher), ("embed", engine.embed_batcher))}
