"""A private stack for a benchmark run (embedded Redis and PostgreSQL in a temporary folder),
or an existing deployment when --url is given."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from services.ops.stack import Stack
from shared.settings import Settings


@contextlib.contextmanager
def bench_stack(url: str | None = None, **env: str) -> Iterator[tuple[str, Stack | None]]:
    if url:
        yield url.rstrip("/"), None
        return
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="facegate-bench-") as data_dir:
        os.environ.update({"FACEGATE_DATA_DIR": data_dir, "FACEGATE_REDIS_URL": "",
                           "FACEGATE_DATABASE_URL": "", "FACEGATE_LOG_LEVEL": "WARNING", **env})
        stack = Stack(Settings())
        try:
            stack.start_services()
            stack.start_worker()
            stack.wait_for_workers()
            stack.start_gateway(port=0)
            yield stack.base_url, stack
        finally:
            stack.stop()
            os.environ.clear()
            os.environ.update(saved)
