"""Start and stop the whole stack on one host: Redis and PostgreSQL (embedded unless URLs are
given), Celery workers and the gateway, each worker and the gateway a child process.

`facegate run` uses it, and so does the test suite, so tests start the service the way users do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from services.cli.processes import die_with_parent
from shared.settings import Settings, worker_threads
from shared.tasks import QUEUES, make_celery

ROOT = Path(__file__).resolve().parents[2]
def worker_args(settings: Settings, concurrency: int | None = None) -> list[str]:
    """python arguments for one Celery worker on every queue, in the order they are served
    (shared/tasks.py; thread pool: see workers/).

    Without gossip and mingle: facegate's workers never talk to each other, and gossip's
    restart after a broker reconnect is where kombu's Redis transport crashed the worker for
    good ("Unrecoverable error: AttributeError ... 'hostname'") when Redis restarted."""
    # --quiet: no banner printed to stdout (the logs are JSON lines: shared/logs.py)
    return ["-m", "celery", "-A", "workers.main", "--quiet", "worker", "--pool", "threads",
            "--concurrency", str(concurrency or worker_threads(settings)),
            "-Q", ",".join(QUEUES), "--loglevel", settings.log_level,
            "--without-gossip", "--without-mingle"]


def gateway_args(settings: Settings, port: int) -> list[str]:
    """python arguments for the gateway, wherever it runs (`facegate run`, `facegate gateway`,
    the container). uvicorn's own access log is off: it writes each request's query string,
    where Baidu's clients send `access_token` and the token request its `client_secret`; the
    gateway writes its own, path only (gateway/observe.py). X-Forwarded-For is believed from
    FACEGATE_TRUSTED_PROXIES only."""
    args = ["-m", "uvicorn", "gateway.app:create_app", "--factory", "--host", settings.host,
            "--port", str(port), "--no-access-log"]
    if not settings.trusted_proxies:
        return [*args, "--no-proxy-headers"]
    proxies = ",".join(item if item == "*" else str(ipaddress.ip_network(item, strict=False))
                       for item in settings.trusted_proxies)
    return [*args, "--proxy-headers", "--forwarded-allow-ips", proxies]


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    redis: EmbeddedRedis | None = None
    postgres: EmbeddedPostgres | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    gateway: subprocess.Popen | None = None
    extra: list[subprocess.Popen] = field(default_factory=list)  # start_extra_gateway
    redis_url: str = ""
    database_url: str = ""
    base_url: str = ""
    _worker_count: int = 0
    _starts: dict[int, tuple] = field(default_factory=dict)  # worker pid -> how it was started

    def start_services(self) -> None:
        data = self.settings.data_dir
        self.log_dir = self.log_dir or data / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.redis_url = self.settings.redis_url
        if not self.redis_url:
            self.redis = EmbeddedRedis(data / "redis")
            self.redis_url = self.redis.url
        self.database_url = self.settings.database_url
        if not self.database_url:
            self.postgres = EmbeddedPostgres(data / "postgres")
            self.database_url = self.postgres.url
        self.env = {**os.environ, **self.env, "FACEGATE_REDIS_URL": self.redis_url,
                    "FACEGATE_DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1"}

    def _spawn(self, args: list[str], log_name: str,
               env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / log_name, "ab")  # noqa: SIM115 - handed to the child
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})},
                                stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent)

    def start_worker(self, concurrency: int | None = None) -> subprocess.Popen:
        self._worker_count += 1
        name = f"worker{self._worker_count}"
        # each worker on this host serves its metrics on its own port: base, base + 1, ...
        base = self.settings.worker_metrics_port
        env = ({"FACEGATE_WORKER_METRICS_PORT": str(base + self._worker_count - 1)}
               if base else None)
        process = self._spawn([*worker_args(self.settings, concurrency), "-n", f"{name}@%h"],
                              f"{name}.log", env)
        self.workers.append(process)
        self._starts[process.pid] = (name, concurrency, env)
        return process

    def restart_dead(self) -> list[str]:
        """Start again every worker and the gateway that exited (what compose's restart policy
        and Kubernetes do for their containers): `facegate run` calls this every second.
        Returns what it restarted. A redelivered task is the workers' business (acks_late)."""
        restarted = []
        for index, process in enumerate(self.workers):
            if process.poll() is None:
                continue
            name, concurrency, env = self._starts.pop(process.pid)
            fresh = self._spawn([*worker_args(self.settings, concurrency), "-n", f"{name}@%h"],
                                f"{name}.log", env)
            self.workers[index] = fresh
            self._starts[fresh.pid] = (name, concurrency, env)
            restarted.append(name)
        if self.gateway is not None and self.gateway.poll() is not None:
            port = int(self.base_url.rsplit(":", 1)[1])
            self.gateway, _ = self._launch_gateway(port, "gateway.log")
            restarted.append("gateway")
        return restarted

    def start_gateway(self, port: int | None = None) -> None:
        port = port if port is not None else self.settings.port
        self.gateway, self.base_url = self._launch_gateway(port or free_port(), "gateway.log")

    def start_extra_gateway(self, env: dict[str, str] | None = None) -> str:
        """Another gateway process on the same Redis and PostgreSQL (gateways are stateless;
        tests use this to show what they share), with `env` over the stack's environment.
        Returns its base URL."""
        process, url = self._launch_gateway(free_port(), f"gateway{len(self.extra) + 2}.log",
                                            env)
        self.extra.append(process)
        return url

    def _launch_gateway(self, port: int, log_name: str, env: dict[str, str] | None = None
                        ) -> tuple[subprocess.Popen, str]:
        process = self._spawn(
            [*gateway_args(self.settings, port), "--log-level", self.settings.log_level.lower()],
            log_name, env)
        url = f"http://{self.settings.host}:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return process, url
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start, see {self.log_dir}/{log_name}")
            time.sleep(0.2)

    def wait_for_workers(self, timeout: float = 180.0) -> None:
        """Until every worker has loaded its models and listens on the queue."""
        probe = make_celery(self.settings.changed(redis_url=self.redis_url), "facegate-probe")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [w for w in self.workers if w.poll() is None]
            if not alive:
                raise RuntimeError(f"workers exited, see {self.log_dir}")
            replies = probe.control.ping(timeout=1.0) or []
            if len(replies) >= len(alive):
                return
            time.sleep(0.5)
        raise RuntimeError(f"workers not ready after {timeout:.0f} s, see {self.log_dir}")

    def kill_worker(self, process: subprocess.Popen) -> None:
        """SIGKILL, no chance to clean up: what a crash or an OOM kill looks like."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        children = [p for p in [self.gateway, *self.extra, *self.workers] if p is not None]
        for process in children:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in children:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.postgres:
            self.postgres.stop()
        if self.redis:
            self.redis.stop()


@contextlib.contextmanager
def started(env: dict[str, str]) -> Iterator[Stack]:
    """The whole stack (one worker, the gateway on a free port), with `env` over the process's
    environment until it stops: what the tests and the benchmarks run against."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    stack = Stack(Settings())
    try:
        stack.start_services()
        stack.start_worker()
        stack.wait_for_workers()
        stack.start_gateway(port=0)
        yield stack
    finally:
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
