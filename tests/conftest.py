"""Shared fixtures: real faces from PyPI packages, and the real stack (embedded Redis and
PostgreSQL + pgvector, a Celery worker process, the gateway process) started once per session
by the same code `facegate run` uses."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from services.cli.embedded import free_port
from services.cli.stack import Stack, started
from services.client import Facegate
from services.gallery.apps import NewApp, create_app
from shared.settings import Settings
from tests.support import faces as face_files

# The deployment test (tests/deploy: images built, compose started) runs with `make
# deploy-test`, which sets this; the suite proper does not collect it.
collect_ignore = [] if os.environ.get("FACEGATE_DEPLOY_TEST") else ["deploy"]

# Loopback image servers in tests are allowed; everything else private stays refused.
TEST_ENV = {
    "FACEGATE_URL_ALLOW": "127.0.0.0/8",
    "FACEGATE_WEBHOOK_ALLOW": "127.0.0.0/8",  # the webhook tests' receivers
    "FACEGATE_VISIBILITY_TIMEOUT": "8",  # so the killed-worker test sees redelivery quickly
    "FACEGATE_SYNC_TIMEOUT": "120",
    "FACEGATE_WORKER_CONCURRENCY": "8",
    "FACEGATE_HNSW_MIN_FACES": "4",  # so tests see a group get its own HNSW index
    "FACEGATE_INGEST_CHUNK": "4",  # so a test's small load is many chunks
    # the suite makes many failed sign-ins on purpose, all from 127.0.0.1; the guard has its
    # own test (test_tenancy) on a gateway with a low limit
    "FACEGATE_AUTH_FAILURE_LIMIT": "1000",
    "FACEGATE_AUTH_FAILURE_ADDRESS_LIMIT": "100000",
    # the quality gate stays as shipped (test_analysis checks its defaults)
    # Short-lived OAuth tokens, so the expiry test need not wait long (Baidu's SDK fetches a
    # new token whenever the old one has under 30 s left, so it simply refreshes each call).
    "FACEGATE_TOKEN_TTL": "4",
    "FACEGATE_ADMIN_SECRET": "test-admin-secret",  # the console's Apps page, /v1/admin
    "FACEGATE_REDIS_URL": "",
    "FACEGATE_DATABASE_URL": "",
}


@pytest.fixture(scope="session")
def face_paths() -> dict[str, Path]:
    return face_files.fetch()


@pytest.fixture(scope="session")
def faces(face_paths: dict[str, Path]) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in face_paths.items()}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with started({**TEST_ENV, "FACEGATE_DATA_DIR": str(tmp_path_factory.mktemp("facegate")),
                  "FACEGATE_WORKER_METRICS_PORT": str(free_port())}) as stack:
        yield stack


def make_app(stack: Stack, name: str, qps: int | None = None) -> NewApp:
    """A real app with credentials, made the way `facegate app create` makes one."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        return create_app(conn, name, qps)


def app_headers(app: NewApp) -> dict[str, str]:
    return {"app_id": app.app.api_key, "app_secret": app.secret}


@pytest.fixture(scope="session")
def test_app(stack: Stack) -> NewApp:
    return make_app(stack, "tests")


@pytest.fixture(scope="session")
def client(stack: Stack, test_app: NewApp) -> Iterator[httpx.Client]:
    """Speaks as the `tests` app (CloudWalk / native credential headers)."""
    with httpx.Client(base_url=stack.base_url, timeout=180,
                      headers=app_headers(test_app)) as http:
        yield http


@pytest.fixture(scope="session")
def facegate(stack: Stack, test_app: NewApp) -> Iterator[Facegate]:
    """The typed client (services/client) as the `tests` app."""
    with Facegate(stack.base_url, test_app.app.api_key, test_app.secret, timeout=180) as fg:
        yield fg


@pytest.fixture(scope="session")
def engine():
    """The worker's engine (real models) in the test process, for the in-process dialect tests
    and the embedded Celery worker's."""
    from workers.engine import Engine

    engine = Engine(Settings())
    engine.warm_up()
    return engine


@pytest.fixture(scope="session")
def sdk(stack: Stack, test_app: NewApp):
    """Baidu's own Python SDK (baidu-aip), unchanged but for its host, as the `tests` app."""
    from tests.support.baidu_sdk import facegate_client

    return facegate_client(stack.base_url, "facegate", test_app.app.api_key, test_app.secret)
