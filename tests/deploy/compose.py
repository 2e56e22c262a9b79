"""The deployment test's hands on Docker: one compose project, driven with the same commands a
user types (`docker compose -p NAME ...`), its ports published on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.cli.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
# compose.yaml's tags for facegate's own images (FACEGATE_VERSION, default: the package's)
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
GATEWAY_IMAGE, WORKER_IMAGE = f"facegate-gateway:{VERSION}", f"facegate-worker:{VERSION}"


def run(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = 900,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=timeout,
                          input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout.decode(errors='replace')[-3000:]}\n"
                             f"{done.stderr.decode(errors='replace')[-3000:]}")
    return done


@dataclass
class Compose:
    project: str
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_test(cls, project: str) -> Compose:
        """compose.yaml as it is, with loopback ports of the test's own and the monitoring
        profile. Settings a user would put in deploy/facegate.env come from this process's
        environment (none by default: the shipped defaults)."""
        ports = {"FACEGATE_HTTP_PORT": free_port(), "FLOWER_PORT": free_port(),
                 "PROMETHEUS_PORT": free_port()}
        env = {**os.environ, **{k: str(v) for k, v in ports.items()},
               "FACEGATE_HTTP_ADDR": "127.0.0.1", "FACEGATE_ADMIN_ADDR": "127.0.0.1",
               "COMPOSE_PROFILES": "monitoring"}
        return cls(project, env)

    def url(self, port_variable: str) -> str:
        return f"http://127.0.0.1:{self.env[port_variable]}"

    @property
    def gateway(self) -> str:
        return self.url("FACEGATE_HTTP_PORT")

    def __call__(self, *args: str, check: bool = True, timeout: float = 900,
                 input: bytes | None = None) -> subprocess.CompletedProcess:
        return run("docker", "compose", "-p", self.project, *args, env=self.env, check=check,
                   timeout=timeout, input=input)

    def containers(self, service: str | None = None, all_states: bool = False) -> list[dict]:
        """`docker compose ps` rows (Name, Service, State, Health, ...)."""
        args = ["ps", "--format", "json", *(["-a"] if all_states else []),
                *([service] if service else [])]
        out = self(*args).stdout.decode().strip()
        if not out:
            return []
        if out.startswith("["):  # older Compose prints one array
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines()]

    def wait_healthy(self, counts: dict[str, int], timeout: float = 600) -> float:
        """Seconds until each service has exactly `counts[service]` running containers, all
        healthy."""
        started = time.monotonic()
        while True:
            rows = self.containers()
            ready = all(
                len([r for r in rows if r["Service"] == service]) == count and
                all(r["State"] == "running" and r.get("Health") in ("healthy", "")
                    for r in rows if r["Service"] == service)
                for service, count in counts.items())
            if ready:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"not healthy after {timeout:.0f} s: "
                                     f"{[(r['Name'], r['State'], r.get('Health')) for r in rows]}")
            time.sleep(2)

    def exec(self, service: str, *command: str, input: bytes | None = None) -> str:
        return self("exec", "-T", service, *command, input=input).stdout.decode()

    def exec_run(self, service: str, *command: str) -> str:
        """`command`'s output in a one-off container of `service` (no dependencies started)."""
        return self("run", "--rm", "--no-deps", "-T", service, *command).stdout.decode()

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query run by psql in the postgres container, as text."""
        out = self.exec("postgres", "psql", "-U", "postgres", "-d", "facegate", "-At",
                        "-F", "\t", "-c", query)
        return [line.split("\t") for line in out.splitlines() if line]

    def hostnames(self, service: str) -> dict[str, str]:
        """container hostname -> container name, for the running containers of a service."""
        names = [r["Name"] for r in self.containers(service)]
        if not names:
            return {}
        out = run("docker", "inspect", "-f", "{{.Config.Hostname}} {{.Name}}", *names)
        return {host: name.lstrip("/") for host, name in
                (line.split(" ", 1) for line in out.stdout.decode().splitlines())}

    def restarts(self) -> dict[str, int]:
        names = [r["Name"] for r in self.containers(all_states=True)]
        out = run("docker", "inspect", "-f", "{{.Name}} {{.RestartCount}}", *names)
        return {name.lstrip("/"): int(count) for name, count in
                (line.split() for line in out.stdout.decode().splitlines())}

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project that Docker still has."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, args in (("containers", ["ps", "-a", "-q"]),
                           ("networks", ["network", "ls", "-q"]),
                           ("volumes", ["volume", "ls", "-q"])):
            found[kind] = run("docker", *args, "--filter", label).stdout.decode().split()
        return found
