"""What the probes answer when a datastore is away: the gateway's /readyz (plain: 503 naming
it; ?degraded=ok, Kubernetes' readiness: 200 with the state in the body) and the worker's
/healthz (always 200 once served: a Redis outage restarts nothing) and /readyz; and the build's
version on both /metrics. Fakes stand in for Redis and PostgreSQL: each datastore's real
outage is driven in tests/faults."""

import asyncio
import contextlib
import socket
import types

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway import app as gateway_app
from gateway import observe
from shared import build
from workers import metrics


class FakeRedis:
    def __init__(self, error: Exception | None = None, hang: bool = False) -> None:
        self.error, self.hang = error, hang

    async def ping(self) -> bool:
        if self.hang:
            await asyncio.sleep(60)
        if self.error:
            raise self.error
        return True


class FakeGallery:
    pgvector = (0, 8, 0)

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.pool = self

    @contextlib.asynccontextmanager
    async def connection(self):
        if self.error:
            raise self.error
        yield types.SimpleNamespace(execute=self._execute)

    async def _execute(self, sql: str) -> None:
        return None


def _client(redis: FakeRedis, gallery: FakeGallery | None) -> TestClient:
    app = Starlette(routes=[Route("/healthz", gateway_app.healthz),
                            Route("/readyz", gateway_app.readyz)])
    app.state.dispatcher = redis
    app.state.gateway = types.SimpleNamespace(
        recognition=types.SimpleNamespace(database=gallery))
    return TestClient(app)


def test_gateway_ready_when_both_answer():
    client = _client(FakeRedis(), FakeGallery())
    for path in ("/readyz", "/readyz?degraded=ok"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ready", "pgvector": "0.8.0"}


@pytest.mark.parametrize(("redis", "gallery", "down"), [
    (FakeRedis(ConnectionError("Connection refused")), FakeGallery(), "redis"),
    (FakeRedis(), FakeGallery(OSError("connection failed")), "postgres"),
])
def test_a_datastore_outage_fails_plain_readiness_only(redis, gallery, down):
    client = _client(redis, gallery)
    plain = client.get("/readyz")
    assert plain.status_code == 503
    assert plain.json()["status"] == "unavailable" and down in plain.json()
    # the load balancer's question: this gateway still serves (busy answers), keep it
    degraded = client.get("/readyz?degraded=ok")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded" and down in degraded.json()
    assert client.get("/healthz").status_code == 200


def test_a_hanging_datastore_is_reported_within_the_probe_timeout(monkeypatch):
    monkeypatch.setattr(gateway_app, "PROBE_TIMEOUT_S", 0.1)
    answer = _client(FakeRedis(hang=True), None).get("/readyz?degraded=ok")
    assert answer.status_code == 200 and answer.json()["redis"] == "TimeoutError"


def test_worker_liveness_survives_a_broker_outage_readiness_reports_it():
    def reached() -> tuple[bool, str]:
        return True, "ok: models loaded, broker reached 1.2 s ago"

    def away() -> tuple[bool, str]:
        return False, "broker not reached for 600 s"

    assert metrics.probe("/healthz", reached) == (200, reached()[1])
    assert metrics.probe("/readyz", reached) == (200, reached()[1])
    status, text = metrics.probe("/healthz", away)
    assert status == 200 and text.startswith("ok: models loaded")  # no restart
    assert "broker not reached for 600 s" in text
    assert metrics.probe("/readyz", away) == (503, "broker not reached for 600 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_serves_probes_and_its_version_over_http():
    port = _free_port()
    assert metrics.serve(port, lambda: (False, "broker not reached for 90 s"))
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert httpx.get(f"{base}/readyz").status_code == 503
    text = httpx.get(f"{base}/metrics").text
    assert f'facegate_build_info{{component="worker",version="{build.version()}"}} 1.0' in text
    assert "facegate_tasks_total" in text  # the default registry still there


def test_gateway_metrics_carry_the_version():
    class Pipe:
        def __init__(self) -> None:
            self.n = 0

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc) -> None:
            return None

        def llen(self, key: str) -> None:
            self.n += 1

        async def execute(self) -> list[int]:
            return [0] * self.n

    redis = types.SimpleNamespace(pipeline=lambda transaction: Pipe())
    app = Starlette(routes=[Route("/metrics", observe.metrics)])
    app.state.dispatcher = types.SimpleNamespace(redis=redis)
    text = TestClient(app).get("/metrics").text
    assert f'facegate_build_info{{component="gateway",version="{build.version()}"}} 1.0' in text
    assert 'facegate_queue_depth{queue="facegate.interactive"} 0.0' in text
