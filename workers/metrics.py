"""A worker's Prometheus metrics, served on FACEGATE_WORKER_METRICS_PORT when it is set:
batch sizes and model time per stage (detect, embed, analyse), and tasks by outcome."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

BATCH_SIZE = Histogram("facegate_batch_size", "Items in one model pass", ["stage"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
MODEL_SECONDS = Histogram("facegate_model_seconds", "Time of one model pass", ["stage"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                   2.5, 5))
TASKS = Counter("facegate_tasks_total", "Tasks a worker finished", ["task", "outcome"])


def observer(stage: str):
    """The callback a MicroBatcher calls after each pass."""
    sizes, seconds = BATCH_SIZE.labels(stage), MODEL_SECONDS.labels(stage)

    def observe(size: int, elapsed: float) -> None:
        sizes.observe(size)
        seconds.observe(elapsed)

    return observe


def serve(port: int) -> bool:
    """Serve /metrics; a port already taken is logged, never fatal: models are what matter."""
    if port <= 0:
        return False
    try:
        start_http_server(port)
    except OSError as exc:
        logging.getLogger("facegate.worker").warning("metrics port %d: %s", port, exc)
        return False
    return True
