"""Request ids, access logs and Prometheus metrics for every request, whatever the dialect.

An ASGI middleware around the whole app: it takes the caller's X-Request-Id or makes one (a
63-bit number, so Baidu's log_id can be the same value), sets it for the request's logs and
tasks, returns it in the X-Request-Id header, and when the response is sent counts it
(facegate_requests_total by dialect, route and HTTP status; facegate_request_seconds),
counts dialect errors by code (facegate_errors_total), and writes one access-log line.
GET /metrics renders the process's metrics, with the queue depths read from Redis and the
release it runs (facegate_build_info{version, component}, 1: dashboards show rollouts).
"""

from __future__ import annotations

import logging
import secrets
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

from shared import tracing
from shared.build import build_info
from shared.logs import REQUEST_ID
from shared.tasks import QUEUES, queue_keys

log = logging.getLogger("facegate.access")

REQUESTS = Counter("facegate_requests_total", "HTTP requests answered",
                   ["dialect", "route", "status"])
LATENCY = Histogram("facegate_request_seconds", "Time to answer a request", ["dialect", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
ERRORS = Counter("facegate_errors_total", "Requests answered with an error, by its code",
                 ["dialect", "code"])
QUEUE_DEPTH = Gauge("facegate_queue_depth", "Tasks waiting in a queue", ["queue"])
BUILD = build_info("gateway")


def dialect_of(path: str) -> str:
    if path.startswith("/face/"):
        return "cloudwalk"
    if path.startswith(("/rest/2.0/", "/oauth/")):
        return "baidu"
    if path.startswith("/v1/"):
        return "native"
    return "service"


def new_request_id() -> str:
    return str(secrets.randbits(63))


class Observe:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode()[:64]
        request_id = given or new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = [500]

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        token = REQUEST_ID.set(request_id)
        headers = dict(scope.get("headers") or [])
        caller = headers.get(b"traceparent", b"").decode("latin-1")[:64] or None
        try:
            with tracing.span(f"{scope['method']} {scope['path']}", caller, server=True,
                              **{"http.request.method": scope["method"],
                                 "facegate.request_id": request_id}) as current:
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    if current is not None:  # named by its route once the route is known
                        route = scope.get("route")
                        if hasattr(route, "path"):
                            current.update_name(
                                f"{scope['method']} {scope.get('root_path', '')}{route.path}")
                        current.set_attribute("http.response.status_code", status[0])
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            # a dialect's routes are relative to its Mount: the label is the whole path
            label = (scope.get("root_path", "") + route.path if hasattr(route, "path")
                     else "unmatched")
            dialect = dialect_of(scope["path"])
            REQUESTS.labels(dialect, label, str(status[0])).inc()
            LATENCY.labels(dialect, label).observe(elapsed)
            code = state.get("error_code")
            if code is not None:
                ERRORS.labels(dialect, str(code)).inc()
            if label not in ("/healthz", "/readyz", "/metrics"):
                log.info("request", extra={"fields": {
                    "dialect": dialect, "method": scope["method"], "path": scope["path"],
                    "status": status[0], "code": code, "app": state.get("app_id"),
                    "ms": round(1000 * elapsed, 2)}})
            REQUEST_ID.reset(token)


def record_error(request: Request, code: int) -> None:
    """The dialect's own error number, for facegate_errors_total and the access log."""
    request.state.error_code = code


async def metrics(request: Request) -> Response:
    redis = request.app.state.dispatcher.redis  # the top-level app (gateway/app.py)
    async with redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            for key in queue_keys(queue):  # one list per priority step
                pipe.llen(key)
        lengths = await pipe.execute()
    steps = len(lengths) // len(QUEUES)
    for k, queue in enumerate(QUEUES):
        QUEUE_DEPTH.labels(queue).set(sum(lengths[k * steps:(k + 1) * steps]))
    return Response(generate_latest() + generate_latest(BUILD),
                    media_type=CONTENT_TYPE_LATEST)
