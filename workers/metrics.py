"""A worker's Prometheus metrics, served on FACEGATE_WORKER_METRICS_PORT when it is set:
batch sizes and model time per stage (detect, embed, analyse), and tasks by outcome; and its
health check, /healthz on the same port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


Health = Callable[[], tuple[bool, str]]  # healthy?, and why in a few words


def serve(port: int, health: Health) -> bool:
    """Serve /metrics and /healthz (200 or 503 with `health`'s reason) on `port`, from a
    daemon thread; a port already taken is logged, never fatal: models are what matter."""
    if port <= 0:
        return False

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                status, kind, body = 200, CONTENT_TYPE_LATEST, generate_latest()
            elif path == "/healthz":
                ok, reason = health()
                status, kind, body = (200 if ok else 503), "text/plain", reason.encode()
            else:
                status, kind, body = 404, "text/plain", b"/metrics or /healthz"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # probes every few seconds: no log
            return

    try:
        server = ThreadingHTTPServer(("", port), Handler)
    except OSError as exc:
        logging.getLogger("facegate.worker").warning("metrics port %d: %s", port, exc)
        return False
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return True
