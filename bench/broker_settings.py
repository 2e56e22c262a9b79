"""What Celery's and kombu's own settings do for a worker that dies, a task longer than the
visibility timeout and a Redis restart, next to facegate's leasing transport
(shared/broker_internals.py through workers/broker.py).

    .venv/bin/python -m bench.broker_settings [--visibility 6] [--repeat 1]
                                              [--only kill,long,child,restart]

Everything runs on this machine: an embedded Redis on 127.0.0.1 (services/cli/embedded.py, in a
temporary folder) and Celery worker subprocesses started here, configured as facegate's workers
are (shared/tasks.make_celery: acks_late, reject_on_worker_lost, prefetch 1, the visibility
timeout and a 1 s restore sweep), thread pool unless said. The task only sleeps, and writes
when each run of it starts (`bench:starts`) and ends. Each scenario flushes that Redis first;
only the processes started here are stopped or killed.

- kill: a worker is SIGKILLed 2 s into a 60 s task while a second worker runs; how long after
  the kill the task starts again. "stock" is kombu's Redis transport as shipped, "lease" is
  facegate's. Stock is also run with the visibility timeout raised to the long task's length,
  which is what stock needs to run that task once (below).
- long: one worker (2 threads) runs a task 3 x the visibility timeout long; how many times it
  starts before the first run ends.
- child: the prefork pool, its child SIGKILLed mid-task: what task_reject_on_worker_lost does
  (facegate's workers use threads: there the process that dies is the worker itself). Run
  with 3 x the timeout, so that a quick return is the rejection's, not the sweep's.
- restart: Redis stopped for a few seconds while a task runs, either resuming before the task
  ends ("mid") or with the task ending during the outage ("ack"); whether the worker survives,
  how soon it takes a new task, and whether the interrupted task runs again. Stock is run with
  worker_cancel_long_running_tasks_on_connection_loss off (facegate's setting) and on.

Figures are printed; nothing is asserted (tests/integration/test_broker_internals.py pins the
behaviour facegate relies on).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import celery
import kombu
import redis
from celery import Celery
from celery.signals import worker_ready

from services.cli.embedded import EmbeddedRedis
from services.cli.processes import die_with_parent
from shared.settings import Settings
from shared.tasks import INTERACTIVE_QUEUE, make_celery

ROOT = Path(__file__).resolve().parents[1]
HOLD_TASK = "bench.broker.hold"
STARTS, ENDS, READY = "bench:starts", "bench:ends", "bench:ready"
KILL_AFTER_S = 2.0  # how long the victim holds its task before it is killed
ENV_PREFIX = "BENCH_BROKER_"


def _settings(redis_url: str, visibility: int) -> Settings:
    return Settings().changed(redis_url=redis_url, visibility_timeout_s=visibility)


def _note(client: redis.Redis, key: str, record: dict) -> None:
    # The end of a task that finishes while Redis is away is not written: "no end" says so.
    with contextlib.suppress(redis.RedisError):
        client.rpush(key, json.dumps(record))


def _worker_app() -> Celery:
    """The app a worker subprocess runs, from BENCH_BROKER_* variables."""
    url = os.environ[ENV_PREFIX + "REDIS"]
    visibility = int(os.environ[ENV_PREFIX + "VISIBILITY"])
    app = make_celery(_settings(url, visibility), "bench-broker-worker")
    if os.environ[ENV_PREFIX + "TRANSPORT"] == "lease":
        from workers.broker import BrokerPulse, lease_interval, transport_for

        app.conf.broker_transport = transport_for(BrokerPulse(lease_interval(visibility)))
    app.conf.worker_cancel_long_running_tasks_on_connection_loss = (
        os.environ[ENV_PREFIX + "CANCEL"] == "1")
    client = redis.Redis.from_url(url)

    @app.task(name=HOLD_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
    def hold(self, seconds: float) -> None:
        record = {"id": self.request.id, "pid": os.getpid(), "t": time.time(),
                  "redelivered": bool((self.request.delivery_info or {}).get("redelivered"))}
        _note(client, STARTS, record)
        time.sleep(seconds)
        _note(client, ENDS, {**record, "t": time.time()})

    @worker_ready.connect(weak=False)
    def ready(**_: object) -> None:
        _note(client, READY, {"pid": os.getpid()})

    return app


# `celery -A bench.broker_settings:worker_app` in a worker subprocess; None in the driver.
worker_app = _worker_app() if ENV_PREFIX + "REDIS" in os.environ else None


@dataclass
class Bench:
    data_dir: Path
    visibility: int
    redis: EmbeddedRedis = field(init=False)
    client: redis.Redis = field(init=False)
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)  # worker pid -> its log

    def __post_init__(self) -> None:
        self.redis = EmbeddedRedis(self.data_dir / "redis")
        self.client = redis.Redis.from_url(self.redis.url)

    def close(self) -> None:
        self.stop_workers()
        self.client.close()
        self.redis.stop()

    def worker(self, transport: str, visibility: int | None = None, cancel: bool = False,
               pool: str = "threads", concurrency: int = 1) -> subprocess.Popen:
        """A worker subprocess, returned once it is ready to consume."""
        log_path = self.data_dir / f"worker{len(self.logs) + 1}.log"
        env = {**os.environ, ENV_PREFIX + "REDIS": self.redis.url,
               ENV_PREFIX + "VISIBILITY": str(visibility or self.visibility),
               ENV_PREFIX + "TRANSPORT": transport, ENV_PREFIX + "CANCEL": "1" if cancel else "0"}
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "bench.broker_settings:worker_app",
                 "--quiet", "worker", "--pool", pool, "--concurrency", str(concurrency),
                 "-Q", INTERACTIVE_QUEUE, "--without-gossip", "--without-mingle",
                 "--loglevel", "WARNING"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent)
        self.workers.append(process)
        self.logs[process.pid] = log_path
        deadline = time.monotonic() + 60
        while not any(json.loads(r)["pid"] == process.pid
                      for r in self.client.lrange(READY, 0, -1)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: see {log_path}")
            time.sleep(0.1)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                self.kill(process)  # a bench task may be mid-sleep: no warm shutdown
        self.workers.clear()

    def log_of(self, process: subprocess.Popen) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    @contextlib.contextmanager
    def sender(self, visibility: int | None = None) -> Iterator[Celery]:
        app = make_celery(_settings(self.redis.url, visibility or self.visibility),
                          "bench-broker-sender")
        try:
            yield app
        finally:
            app.close()

    def records(self, key: str, task_id: str) -> list[dict]:
        return [r for r in map(json.loads, self.client.lrange(key, 0, -1)) if r["id"] == task_id]

    def wait_starts(self, task_id: str, count: int, timeout: float,
                    gone: subprocess.Popen | None = None) -> list[dict]:
        """The task's starts once there are `count` of them, or all there are at `timeout`
        (or once the worker `gone` has exited: nothing else would start it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                starts = self.records(STARTS, task_id)
            except redis.RedisError:  # the restart scenario's Redis coming back
                starts = []
            if len(starts) >= count or time.monotonic() > deadline or (
                    gone is not None and gone.poll() is not None):
                return starts
            time.sleep(0.05)

    def fresh(self) -> None:
        self.stop_workers()
        self.client.flushall()


@dataclass
class Outcome:
    """One scenario's figures, and the line main() prints."""

    line: str
    starts: list[float]  # when the task started, seconds after its first start
    again_after_s: float | None = None  # from the kill (or Redis back) to the next start
    worker_alive: bool = True


def _relative(starts: list[dict]) -> list[float]:
    return [round(s["t"] - starts[0]["t"], 1) for s in starts] if starts else []


def scenario_kill(bench: Bench, transport: str, visibility: int) -> Outcome:
    """A worker SIGKILLed 2 s into a 60 s task, a second worker running."""
    bench.fresh()
    workers = [bench.worker(transport, visibility), bench.worker(transport, visibility)]
    with bench.sender(visibility) as app:
        task_id = app.send_task(HOLD_TASK, args=[60.0], queue=INTERACTIVE_QUEUE).id
    first = bench.wait_starts(task_id, 1, 30)[0]
    victim = next(w for w in workers if w.pid == first["pid"])
    time.sleep(max(0.0, first["t"] + KILL_AFTER_S - time.time()))
    bench.kill(victim)
    killed = time.time()
    bound = 3 * visibility + 30
    starts = bench.wait_starts(task_id, 2, bound)
    head = (f"kill    {transport:5} visibility {visibility:3} s: held {killed - first['t']:.1f} s"
            f" when its worker was killed,")
    if len(starts) < 2:
        return Outcome(f"{head} NOT started again within {bound} s", _relative(starts))
    again = starts[1]["t"] - killed
    return Outcome(f"{head} started again {again:5.1f} s after the kill", _relative(starts),
                   again)


def scenario_long(bench: Bench, transport: str, visibility: int) -> Outcome:
    """A task 3 x the visibility timeout long on one healthy worker with 2 threads (a free
    thread takes a copy as soon as one is back on the queue)."""
    bench.fresh()
    bench.worker(transport, visibility, concurrency=2)
    seconds = 3.0 * visibility
    with bench.sender(visibility) as app:
        task_id = app.send_task(HOLD_TASK, args=[seconds], queue=INTERACTIVE_QUEUE).id
    first = bench.wait_starts(task_id, 1, 30)[0]
    deadline = first["t"] + seconds + 2
    while not bench.records(ENDS, task_id) and time.time() < deadline + 10:
        time.sleep(0.2)
    time.sleep(max(0.0, deadline - time.time()))
    starts = _relative(bench.records(STARTS, task_id))
    return Outcome(f"long    {transport:5} visibility {visibility:3} s: a {seconds:.0f} s task on "
                   f"a healthy worker started {len(starts)} time(s), at "
                   f"{', '.join(map(str, starts))} s", starts)


def scenario_child(bench: Bench, visibility: int) -> Outcome:
    """The prefork pool's child SIGKILLed 2 s into a 60 s task (task_reject_on_worker_lost)."""
    bench.fresh()
    bench.worker("stock", visibility, pool="prefork", concurrency=1)
    with bench.sender(visibility) as app:
        task_id = app.send_task(HOLD_TASK, args=[60.0], queue=INTERACTIVE_QUEUE).id
    first = bench.wait_starts(task_id, 1, 30)[0]
    time.sleep(max(0.0, first["t"] + KILL_AFTER_S - time.time()))
    os.kill(first["pid"], signal.SIGKILL)  # the pool's child process, not the worker
    killed = time.time()
    starts = bench.wait_starts(task_id, 2, 3 * visibility + 30)
    head = f"child   stock prefork, visibility {visibility:3} s: child SIGKILLed,"
    if len(starts) < 2:
        return Outcome(f"{head} task NOT started again", _relative(starts))
    again = starts[1]["t"] - killed
    return Outcome(f"{head} task started again {again:4.1f} s later", _relative(starts), again)


def _ended_in(log: str) -> str:
    """The kombu calls in the traceback of the error that ended a worker, outermost first."""
    tail = log[log.index("Unrecoverable error: "):]
    error = re.match(r"Unrecoverable error: (\w+)", tail)
    end = tail.find(f"\n{error[1]}:") if error else -1  # where that traceback ends
    last = tail[tail.rfind("Traceback (most recent call last)", 0, end):end] if end > 0 else ""
    calls = [line.rsplit(" in ", 1)[1] for line in last.splitlines()
             if line.strip().startswith("File") and "/kombu/" in line]
    return " > ".join(dict.fromkeys(calls)) or "?"


def scenario_restart(bench: Bench, transport: str, cancel: bool, phase: str,
                     visibility: int) -> Outcome:
    """`mid`: Redis away 2 s, from 1 s into a 10 s task. `ack`: away 4 s, from 1 s into a 3 s
    task, which ends (and acknowledges) during the outage. The worker has two threads, so the
    probe sent once Redis is back measures whether it consumes again, not the task in hand."""
    seconds, at, down = (10.0, 1.0, 2.0) if phase == "mid" else (3.0, 1.0, 4.0)
    bench.fresh()
    worker = bench.worker(transport, visibility, cancel=cancel, concurrency=2)
    with bench.sender(visibility) as app:
        task_id = app.send_task(HOLD_TASK, args=[seconds], queue=INTERACTIVE_QUEUE).id
    first = bench.wait_starts(task_id, 1, 30)[0]
    time.sleep(max(0.0, first["t"] + at - time.time()))
    bench.redis.restart(down_s=down)
    back = time.time()
    with bench.sender(visibility) as app:
        probe = app.send_task(HOLD_TASK, args=[0.1], queue=INTERACTIVE_QUEUE).id
    probed = bench.wait_starts(probe, 1, 30, gone=worker)
    if worker.poll() is None:  # long enough for a lease to bring the interrupted task back
        time.sleep(max(0.0, max(first["t"] + seconds, back) + visibility + 4 - time.time()))
    starts = bench.records(STARTS, task_id)
    log = bench.log_of(worker)
    alive = worker.poll() is None
    notes = [note for note in ("Couldn't ack", "Failed to cancel") if note in log]
    if "Unrecoverable error" in log:
        notes.append(f"Unrecoverable error in {_ended_in(log)}")
    took = (f"took a new task {probed[0]['t'] - back:4.1f} s after Redis was back" if probed
            else "took no new task")
    relative = _relative(starts)
    again = f" (again at {', '.join(map(str, relative[1:]))} s)" if relative[1:] else ""
    line = (f"restart {phase:3} {transport:5} cancel-on-loss {'on ' if cancel else 'off'}: "
            f"worker {'alive' if alive else 'EXITED'}, {took}; interrupted task started "
            f"{len(starts)} time(s){again}, ended {len(bench.records(ENDS, task_id))} time(s)"
            f"{'; log: ' + '; '.join(notes) if notes else ''}")
    return Outcome(line, relative, probed[0]["t"] - back if probed else None, alive)


def _summary(label: str, outcomes: list[Outcome]) -> str:
    rounds = len(outcomes)
    if label.startswith(("kill", "child")):
        again = [o.again_after_s for o in outcomes if o.again_after_s is not None]
        spread = (f"{min(again):.1f}-{max(again):.1f} s" if len(again) > 1
                  else f"{again[0]:.1f} s" if again else "never")
        return f"{label}: started again after the kill in {spread} ({len(again)}/{rounds})"
    if label.startswith("long"):
        return f"{label}: started {'/'.join(str(len(o.starts)) for o in outcomes)} time(s)"
    exited = sum(not o.worker_alive for o in outcomes)
    runs = "/".join(str(len(o.starts)) for o in outcomes)
    return (f"{label}: worker exited {exited}/{rounds}; interrupted task ran {runs} time(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visibility", type=int, default=6,
                        help="the visibility timeout (s) of the kill, long and child scenarios")
    parser.add_argument("--restart-visibility", type=int, default=15,
                        help="the visibility timeout (s) of the restart scenarios: longer than "
                        "their task and the reconnect, so that stock does not also duplicate")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", default="kill,long,child,restart")
    args = parser.parse_args()
    only = set(args.only.split(","))
    visibility = args.visibility
    started = time.monotonic()
    outcomes: dict[str, list[Outcome]] = {}

    def show(label: str, outcome: Outcome) -> None:
        outcomes.setdefault(label, []).append(outcome)
        print(outcome.line, flush=True)

    print(f"kombu {kombu.__version__}, celery {celery.__version__}, redis-py "
          f"{redis.__version__}; restore sweep every max(1, min(10, timeout // 4)) s; thread "
          f"pool unless said", flush=True)
    with tempfile.TemporaryDirectory(prefix="facegate-broker-bench-") as data_dir:
        bench = Bench(Path(data_dir), visibility)
        try:
            for _ in range(args.repeat):
                if "kill" in only:
                    for transport, timeout in (("stock", visibility),
                                               ("stock", 3 * visibility),
                                               ("lease", visibility)):
                        show(f"kill {transport} {timeout} s",
                             scenario_kill(bench, transport, timeout))
                if "long" in only:
                    for transport in ("stock", "lease"):
                        show(f"long {transport} {visibility} s",
                             scenario_long(bench, transport, visibility))
                if "child" in only:
                    # a long timeout, so a quick return is the rejection, not the sweep
                    show(f"child prefork {3 * visibility} s",
                         scenario_child(bench, 3 * visibility))
                if "restart" in only:
                    for phase in ("mid", "ack"):
                        for transport, cancel in (("stock", False), ("stock", True),
                                                  ("lease", False)):
                            show(f"restart {phase} {transport} cancel-on-loss "
                                 f"{'on' if cancel else 'off'} {args.restart_visibility} s",
                                 scenario_restart(bench, transport, cancel, phase,
                                                  args.restart_visibility))
        finally:
            bench.close()
    print(f"summary of {args.repeat} round(s) (timeout in each label):")
    for label, runs in outcomes.items():
        print("  " + _summary(label, runs))
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
