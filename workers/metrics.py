"""A worker's Prometheus metrics, served on FACEGATE_WORKER_METRICS_PORT when it is set:
batch sizes and model time per stage (detect, embed, analyse), tasks by outcome and the build's
version; and its probes on the same port.

/healthz is liveness: it answers 200 as soon as it is served, which is after the models are
loaded and warm, for as long as the process lives; its text says whether the consumer reaches
the broker. A Redis outage, however long, must not fail it and get every worker restarted:
a restart reloads the models (a minute on a GPU) and cures nothing, and the consumer
reconnects by itself (workers/broker.py). /readyz answers 503 while the broker is not
reached, for people and dashboards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from shared.build import build_info

BATCH_SIZE = Histogram("facegate_batch_size", "Items in one model pass", ["stage"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
MODEL_SECONDS = Histogram("facegate_model_seconds", "Time of one model pass", ["stage"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                   2.5, 5))
TASKS = Counter("facegate_tasks_total", "Tasks a worker finished", ["task", "outcome"])
BUILD = build_info("worker")


def observer(stage: str):
    """The callback a MicroBatcher calls after each pass."""
    sizes, seconds = BATCH_SIZE.labels(stage), MODEL_SECONDS.labels(stage)

    def observe(size: int, elapsed: float) -> None:
        sizes.observe(size)
        seconds.observe(elapsed)

    return observe


Health = Callable[[], tuple[bool, str]]  # the broker reached?, and why in a few words


def probe(path: str, health: Health) -> tuple[int, str]:
    """The status and text of /healthz (always 200: the process and its models live) or
    /readyz (503 while `health` says the broker is not reached)."""
    ok, reason = health()
    if path == "/readyz":
        return (200 if ok else 503), reason
    return 200, reason if ok else f"ok: models loaded; {reason}"


def serve(port: int, health: Health) -> bool:
    """Serve /metrics, /healthz and /readyz (see the module's text) on `port`, from a daemon
    thread; a port already taken is logged, never fatal: models are what matter."""
    if port <= 0:
        return False

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = generate_latest() + generate_latest(BUILD)
                status, kind = 200, CONTENT_TYPE_LATEST
            elif path in ("/healthz", "/readyz"):
                status, reason = probe(path, health)
                kind, body = "text/plain", reason.encode()
            else:
                status, kind, body = 404, "text/plain", b"/metrics, /healthz or /readyz"
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
