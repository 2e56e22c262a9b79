"""The worker's Celery app and its task.

Run: celery -A workers.celery_app worker --pool threads --concurrency 16 -Q facegate.interactive
(`facegate worker` does this with the settings applied). Thread pool on purpose: the tasks of one
process share its models and its batchers; scale out with more processes or hosts.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from celery.signals import worker_init

from services.gallery import enrol
from shared import canonical, logs, quality_gate
from shared.errors import ERRORS, FaceError
from shared.quality_gate import GATE_FIELDS
from shared.settings import get_settings
from shared.tasks import BULK_ENROL_TASK, STATS_TASK, VISION_TASK, make_celery
from workers import metrics
from workers.engine import get_engine

log = logging.getLogger("facegate.worker")
settings = get_settings()
app = make_celery(settings, "facegate-worker")


@worker_init.connect
def _load_models(**_: object) -> None:
    # Before the worker consumes anything: a worker that cannot load its models takes no task.
    logs.configure(settings.log_level, settings.log_json)
    seconds = get_engine(settings).warm_up()
    metrics.serve(settings.worker_metrics_port)
    log.info("models warm in %.2f s", seconds)


@app.task(name=VISION_TASK, acks_late=True, reject_on_worker_lost=True)
def run_vision(request: dict) -> dict:
    """Idempotent: the same request gives the same result, so a redelivered task is harmless."""
    try:
        result = get_engine(settings).run(request)
        metrics.TASKS.labels("vision", "ok").inc()
        return result
    except FaceError as exc:
        metrics.TASKS.labels("vision", exc.kind.name).inc()
        return {"error": exc.to_dict()}
    except Exception as exc:
        log.exception("vision task failed", extra={"request_id": request.get("request_id")})
        metrics.TASKS.labels("vision", "exception").inc()
        return {"error": FaceError(ERRORS.ENGINE, type(exc).__name__).to_dict()}


@app.task(name=STATS_TASK)
def worker_stats() -> dict:
    """Batching figures of the worker that runs it: how many passes, how many items each."""
    engine = get_engine(settings)
    return {name: {"batches": b.stats.batches, "items": b.stats.items,
                   "mean_batch": b.stats.mean_batch, "busy_s": b.stats.busy_s,
                   "recent_sizes": b.stats.sizes}
            for name, b in (("detect", engine.detect_batcher), ("embed", engine.embed_batcher),
                            ("analyse", engine.analyse_batcher)) if b is not None}


@app.task(name=BULK_ENROL_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def bulk_enrol(self, request: dict) -> dict:
    """Enrol many images into one group. Images go through the engine a chunk at a time (so
    they share forward passes); each face is its own transaction with an idempotency key, so a
    task redelivered after a crash, or a client's retry, enrols nothing twice."""
    engine = get_engine(settings)
    model = engine.embedder.spec.code
    app_id, group, items = request["app"], request["group"], request["items"]
    outcomes: list[dict] = []
    try:
        with enrol.connect(settings.database_url) as conn:
            enrol.check_group(conn, app_id, group, model)
            for start in range(0, len(items), settings.batch_max):
                chunk = items[start:start + settings.batch_max]
                analyse = GATE_FIELDS if settings.quality_gate else ()
                result = engine.run({"images": [canonical.image_spec(
                    item["data"], canonical.LARGEST, rotate=True, embed=True, analyse=analyse)
                    for item in chunk]})
                for item, image in zip(chunk, result["images"], strict=True):
                    outcomes.append(_enrol_one(conn, app_id, group, model, item, image))
                self.update_state(state="PROGRESS",
                                  meta={"done": len(outcomes), "total": len(items)})
            # A group that has grown large gets its HNSW index now, on the bulk queue.
            enrol.index_large_groups(settings.database_url, settings.hnsw_min_faces)
    except FaceError as exc:
        metrics.TASKS.labels("bulk_enrol", exc.kind.name).inc()
        return {"error": exc.to_dict()}
    metrics.TASKS.labels("bulk_enrol", "ok").inc()
    return {"items": outcomes}


def _enrol_one(conn, app_id: int, group: str, model: int, item: dict, image: dict) -> dict:
    outcome = {"index": item["index"], "key": item["key"]}
    if "error" in image:
        return {**outcome, "status": "bad_image", "error": image["error"]}
    if not image["faces"]:
        return {**outcome, "status": "no_face"}
    face = image["faces"][0]
    analysis = face.get("analysis") or {}
    try:
        quality_gate.check(face["box"], analysis, image["rotation"], settings)
    except FaceError as exc:
        return {**outcome, "status": "low_quality", "error": exc.to_dict()}
    face_id, created = enrol.enrol(
        conn, app_id, group, model, np.frombuffer(face["embedding"], "<f4"), face["box"],
        quality_gate.quality_score(analysis, face["prob"]), item.get("tag", ""),
        hashlib.sha256(item["data"]).digest(), item["key"])
    return {**outcome, "status": "enrolled", "face_id": face_id, "created": created}
