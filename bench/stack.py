"""A private stack for a benchmark run (embedded Redis and PostgreSQL in a temporary folder),
or an existing deployment when --url is given.

Requests speak as an app: for a private stack one is made (named `bench`, no rate limit) and
its credentials put in FACEGATE_APP_ID / FACEGATE_APP_SECRET for the run; for a deployment,
set those two variables to an app made there. auth_headers() reads them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

import psycopg

from services.cli.stack import Stack, started
from services.client import Facegate
from services.gallery.apps import create_app


@contextlib.contextmanager
def bench_stack(url: str | None = None, **env: str) -> Iterator[tuple[str, Stack | None]]:
    if url:
        yield url.rstrip("/"), None
        return
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as data_dir, started({
            "FACEGATE_DATA_DIR": data_dir, "FACEGATE_REDIS_URL": "", "FACEGATE_DATABASE_URL": "",
            "FACEGATE_LOG_LEVEL": "WARNING", "FACEGATE_RATE_LIMIT": "0", **env}) as stack:
        try:
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                made = create_app(conn, "bench")
            os.environ.update(FACEGATE_APP_ID=made.app.api_key, FACEGATE_APP_SECRET=made.secret)
            yield stack.base_url, stack
        finally:
            os.environ.clear()
            os.environ.update(saved)


def client_for(base_url: str, timeout: float = 600.0) -> Facegate:
    """The typed client (services/client) as the run's app."""
    headers = auth_headers()
    return Facegate(base_url, headers["app_id"], headers["app_secret"], timeout=timeout)


def auth_headers() -> dict[str, str]:
    """CloudWalk / native credential headers of the run's app."""
    return {"app_id": os.environ.get("FACEGATE_APP_ID", ""),
            "app_secret": os.environ.get("FACEGATE_APP_SECRET", "")}
