"""Ingestion at scale, in one run: the in-process enrolment rate, then LFW photos loaded
through the whole service (POST /v1/groups/{group}/faces/bulk as tar archives -> PostgreSQL ->
chunk tasks on Redis -> Celery workers -> faces) with 1, then 2 worker processes.

    .venv/bin/python -m bench.ingest --photos 20000 [--workers 1,2] [--batch 1000]
        [--kill-at 0.3 --visibility 30] [--env FACEGATE_BULK_BATCH_MAX=16]
        [--lfw ../shared/datasets/lfw-view1]

LFW's photos repeat to reach --photos, each with its own key (`r<repeat>/<path>`), so every
one is a new face. For each worker count, on a fresh private stack:
- identify p50/p95 on a small group with the service idle, then the same probe (one request
  every 0.5 s) while the load runs;
- faces/s end to end (first upload to the last job done, its group's HNSW index included) and
  its ratio to the in-process rate, per worker process;
- Redis: peak used memory and the largest message seen on the queues (LRANGE and the
  `unacked` hash, sampled every second);
- with --kill-at F: one worker SIGKILLed when a fraction F of the photos are done and started
  again; then every photo must be enrolled exactly once (faces == photos == distinct keys).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import redis

from bench.stack import bench_stack, client_for
from services.cli.ingest import Photo, submit_photos
from services.client import Facegate
from services.recognition import vision
from shared.broker_internals import UNACKED_KEY
from shared.settings import Settings
from shared.tasks import BULK_QUEUE, INTERACTIVE_QUEUE
from workers.engine import Engine

PROBE_EVERY_S = 0.5


def lfw_photos(root: Path, count: int) -> list[Photo]:
    files = sorted(root.rglob("*.jpg"))
    photos = []
    for i in range(count):
        path = files[i % len(files)]
        name = str(path.relative_to(root))
        photos.append(Photo(f"r{i // len(files)}/{name}", path.read_bytes(), tag=name[:128],
                            key=f"r{i // len(files)}/{name}"))
    return photos


def in_process_rate(photos: list[Photo], chunk: int, in_flight: int) -> float:
    """The worker's Engine in this process, `in_flight` threads each running a chunk of
    enrolment specs at a time: what the models do with no HTTP, broker or database."""
    settings = Settings()
    engine = Engine(settings)
    engine.warm_up()
    chunks = [photos[i:i + chunk] for i in range(0, len(photos), chunk)]

    def run(part: list[Photo]) -> None:
        engine.run({"images": [vision.enrol_spec(p.data, True, settings.thumbnail_size)
                               for p in part]})

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(run, chunks))
    return len(photos) / (time.perf_counter() - started)


class Probe:
    """identify on a small group, one request every PROBE_EVERY_S, latencies in ms."""

    def __init__(self, client: Facegate, group: str, image: bytes) -> None:
        self.client, self.group = client, group
        self.body = {"groupId": group, "img": base64.b64encode(image).decode()}
        self.latencies: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def once(self) -> None:
        started = time.perf_counter()
        answer = self.client.cloudwalk("/face/recog/group/identify", **self.body)
        if answer.get("result") != 0:
            self.failures += 1
        self.latencies.append(1000 * (time.perf_counter() - started))

    def run_for(self, count: int) -> list[float]:
        self.latencies = []
        for _ in range(count):
            self.once()
            time.sleep(PROBE_EVERY_S)
        return self.latencies

    def run_until_stopped(self) -> None:
        while not self.stop.is_set():
            self.once()
            self.stop.wait(PROBE_EVERY_S)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class BrokerWatch:
    """Redis memory and the largest message on the queues, every second."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url)
        self.peak_memory = 0
        self.largest = {BULK_QUEUE: 0, INTERACTIVE_QUEUE: 0}  # bytes, by queue
        self.longest_queue = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_memory = max(self.peak_memory, self.redis.info("memory")["used_memory"])
            for queue in (BULK_QUEUE, INTERACTIVE_QUEUE):
                messages = self.redis.lrange(queue, 0, -1)
                self.longest_queue = max(self.longest_queue, len(messages))
                self.largest[queue] = max([self.largest[queue], *map(len, messages)])
            for held in self.redis.hvals(UNACKED_KEY):  # [message, exchange, routing key]
                queue = BULK_QUEUE if BULK_QUEUE.encode() in held[-64:] else INTERACTIVE_QUEUE
                self.largest[queue] = max(self.largest[queue], len(held))
            self.stop.wait(1.0)


def load(stack, workers: int, photos: list[Photo], batch: int, kill_at: float | None) -> dict:
    client = client_for(stack.base_url)
    for group in ("probe", "load"):
        assert client.cloudwalk("/face/clustering/group/create", groupId=group)["result"] == 0
    sample = [p.data for p in photos[:20]]
    for data in sample[:10]:
        client.cloudwalk("/face/clustering/face/create", groupId="probe",
                         img=base64.b64encode(data).decode())
    probe = Probe(client, "probe", sample[10])
    probe.run_for(5)  # warm
    idle = probe.run_for(40)
    watch = BrokerWatch(stack.redis_url)
    watcher = threading.Thread(target=watch.run, daemon=True)
    prober = threading.Thread(target=probe.run_until_stopped, daemon=True)
    probe.latencies = []
    watcher.start()
    prober.start()
    started = time.perf_counter()
    jobs = [submit_photos(client, "load", photos[i:i + batch])["job_id"]
            for i in range(0, len(photos), batch)]
    uploaded = time.perf_counter() - started
    killed = None
    while True:
        bodies = [client.job(job) for job in jobs]
        done = sum(b["progress"]["done"] for b in bodies)
        if kill_at is not None and killed is None and done >= kill_at * len(photos):
            victim = next(w for w in stack.workers if w.poll() is None)
            stack.kill_worker(victim)
            stack.workers.remove(victim)
            killed = done
            stack.start_worker()
        if all(b["status"] != "running" for b in bodies):
            break
        time.sleep(1.0)
    elapsed = time.perf_counter() - started
    probe.stop.set()
    watch.stop.set()
    prober.join()
    watcher.join()
    counts: dict[str, int] = {}
    for body in bodies:
        for status, count in body["counts"].items():
            counts[status] = counts.get(status, 0) + count
    with psycopg.connect(stack.database_url) as conn:
        faces, keys = conn.execute(
            "SELECT count(*), count(DISTINCT request_key) FROM faces f JOIN groups g "
            "ON g.id = f.group_id WHERE g.name = 'load'").fetchone()
        indexed = conn.execute("SELECT indexed FROM groups WHERE name = 'load'").fetchone()[0]
    return {"workers": workers, "photos": len(photos), "seconds": elapsed,
            "upload_s": uploaded, "rate": len(photos) / elapsed, "counts": counts,
            "faces": faces, "distinct_keys": keys, "indexed": indexed,
            "created": sum(b["faces_created"] for b in bodies),
            "idle_p50": statistics.median(idle), "idle_p95": pct(idle, 0.95),
            "load_p50": statistics.median(probe.latencies) if probe.latencies else float("nan"),
            "load_p95": pct(probe.latencies, 0.95), "probes": len(probe.latencies),
            "probe_failures": probe.failures, "redis_peak_mb": watch.peak_memory / 2**20,
            "largest_chunk_message": watch.largest[BULK_QUEUE],
            "largest_interactive_message": watch.largest[INTERACTIVE_QUEUE],
            "longest_queue": watch.longest_queue,
            "killed_at": killed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=20000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--batch", type=int, default=1000, help="photos per job (request)")
    parser.add_argument("--in-process", type=int, default=1000,
                        help="photos for the in-process rate")
    parser.add_argument("--kill-at", type=float, default=None)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the stack, e.g. FACEGATE_BULK_BATCH_MAX=16")
    parser.add_argument("--visibility", type=int, default=None,
                        help="FACEGATE_VISIBILITY_TIMEOUT for the stack: how soon a killed "
                             "worker's chunks go to another worker")
    parser.add_argument("--lfw", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/datasets/lfw-view1")
    args = parser.parse_args()
    photos = lfw_photos(args.lfw, args.photos)
    settings = Settings()
    base = in_process_rate(photos[:args.in_process], settings.ingest_chunk,
                           settings.ingest_in_flight)
    print(f"in-process enrolment rate: {base:.2f} photos/s ({args.in_process} LFW photos, "
          f"chunks of {settings.ingest_chunk}, {settings.ingest_in_flight} at once, "
          f"{os.cpu_count()} CPU cores)", flush=True)
    for workers in [int(w) for w in args.workers.split(",")]:
        env = {"FACEGATE_WORKERS": str(workers)}
        if args.visibility:
            env["FACEGATE_VISIBILITY_TIMEOUT"] = str(args.visibility)
        env.update(pair.split("=", 1) for pair in args.env)
        with bench_stack(**env) as (_, stack):
            stack.wait_for_workers()
            out = load(stack, workers, photos, args.batch, args.kill_at)
        print(f"\n{workers} worker process(es): {out['photos']} photos in {out['seconds']:.0f} s"
              f" = {out['rate']:.2f} photos/s end to end; ratio to in-process "
              f"{out['rate'] / base:.2f} ({out['rate'] / base / workers:.2f} per worker)")
        print(f"  outcomes {out['counts']}; faces in the group {out['faces']} "
              f"(distinct keys {out['distinct_keys']}, created {out['created']}); "
              f"HNSW index built: {out['indexed']}; upload took {out['upload_s']:.0f} s")
        print(f"  identify p50/p95 idle {out['idle_p50']:.0f}/{out['idle_p95']:.0f} ms, "
              f"during the load {out['load_p50']:.0f}/{out['load_p95']:.0f} ms "
              f"({out['probes']} probes, {out['probe_failures']} failed)")
        print(f"  Redis peak {out['redis_peak_mb']:.1f} MB; largest message: chunk "
              f"{out['largest_chunk_message']} bytes, interactive (the identify probe's image) "
              f"{out['largest_interactive_message']} bytes; longest queue {out['longest_queue']}")
        if out["killed_at"] is not None:
            exact = out["faces"] == out["distinct_keys"] == out["counts"].get("enrolled")
            print(f"  a worker SIGKILLed at {out['killed_at']} done and restarted: every "
                  f"enrolled photo exactly once: {exact}", flush=True)


if __name__ == "__main__":
    main()
