"""One app attacks within its own limits while another measures its own latency.

    .venv/bin/python -m bench.hostile_tenant                      # every phase, 20 s each
    .venv/bin/python -m bench.hostile_tenant --phases idle,async --seconds 10

A private stack (one worker, the default settings but for the trusted proxy below) holds two
apps. The honest app sends a synchronous /v1/detect (a 640 x 480 portrait) and a /v1 identify
against its own 2-face group, one request every 0.25 s in turn, and reports p50 / p95 per
phase. The attacker, in each phase:

- idle: nothing (the baseline);
- async: /v1/jobs detect of a 1600 x 1200 photo at its rate limit (100/s) for 4 s;
- ingest: one ingestion of 2,000 photos (JSON lines, a key each), cancelled when the phase ends;
- bombs: a zip with one `a.jpg` entry that inflates to 3 GB, a tar.gz of the same, and a zip
  of 200,000 empty photos, to POST /v1/groups/{group}/faces/bulk;
- png: 10000 x 10000 RGBA PNGs (380 KB each, 100 megapixels: within the native API's limit),
  three at a time, to /v1/detect;
- logins: wrong secrets, 50 a second, for made-up app keys and for the honest app's key, from
  a third address;
- logins-shared: wrong secrets for its own app only, 50 a second, from the address the honest
  app uses too (two tenants behind one NAT, or a proxy the gateway was not told to trust);
- all: every attack above at once.

Clients are told apart by X-Forwarded-For (the gateway trusts 127.0.0.1 as a proxy, as behind
nginx): the attacker is 203.0.113.7 (192.0.2.66 for wrong secrets), the honest app
198.51.100.9. Printed per phase: the honest
app's p50 / p95 and failures, the attacker's answers by status, the gateway's and the worker's
memory (before, peak, after the backlog drained) and whether every process is still alive;
at the end, whether the honest app's faces are all there. Traffic goes to 127.0.0.1 only,
bounded in count and time. Tests assert none of the timings (tests/faults/test_hostile_tenant.py
checks the rest on a short run).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import tarfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psycopg
import redis
from PIL import Image

from bench.inputs import _letterbox, portraits_640x480
from services.cli.stack import Stack
from services.gallery.apps import NewApp, create_app
from shared.broker_internals import UNACKED_KEY
from tests.support.faces import fetch

PHASES = ("idle", "async", "ingest", "bombs", "png", "logins", "logins-shared", "all")
HONEST_ADDRESS, ATTACKER_ADDRESS = "198.51.100.9", "203.0.113.7"
GUESSER_ADDRESS = "192.0.2.66"  # where the attacker's wrong secrets come from (a botnet's)
CACHE = Path(".cache/bench/hostile")
QUEUES = ("facegate.interactive", "facegate.jobs", "facegate.bulk")


# --- what the attacker sends -------------------------------------------------------------
def photo_1600x1200() -> bytes:
    group = Image.open(fetch()["t1.jpg"]).convert("RGB")
    buffer = io.BytesIO()
    _letterbox(group.resize((1600, 1108)), 1600, 1200).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def big_png(side: int = 10000) -> bytes:
    path = CACHE / f"rgba-{side}.png"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((side, side, 4), np.uint8)
        pixels[..., 0] = 200
        pixels[..., 3] = 255
        Image.fromarray(pixels, "RGBA").save(path, optimize=False, compress_level=9)
    return path.read_bytes()


def _zeros(total: int, chunk: int = 1 << 24):
    left = total
    while left > 0:
        yield bytes(min(chunk, left))
        left -= chunk


def zip_bomb(inflated: int = 3 << 30) -> bytes:
    """A zip whose one entry, a.jpg, inflates to `inflated` bytes of zeros (about 3 MB)."""
    path = CACHE / f"bomb-{inflated}.zip"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
                archive.open("a.jpg", "w", force_zip64=True) as entry:
            for block in _zeros(inflated):
                entry.write(block)
    return path.read_bytes()


def tar_gz_bomb(inflated: int = 3 << 30) -> bytes:
    path = CACHE / f"bomb-{inflated}.tar.gz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        raw = io.BytesIO()
        info = tarfile.TarInfo("a.jpg")
        info.size = inflated
        header = info.tobuf(format=tarfile.GNU_FORMAT)
        squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
        raw.write(squeeze.compress(header))
        for block in _zeros(inflated):
            raw.write(squeeze.compress(block))
        raw.write(squeeze.compress(bytes(1024)))  # the end-of-archive blocks
        raw.write(squeeze.flush())
        path.write_bytes(raw.getvalue())
    return path.read_bytes()


def many_entries_zip(count: int = 200_000) -> bytes:
    path = CACHE / f"entries-{count}.zip"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for k in range(count):
                archive.writestr(f"{k}.jpg", b"")
    return path.read_bytes()


# --- measuring ------------------------------------------------------------------------------
def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Memory:
    """RSS of the stack's gateway and worker processes, sampled while a phase runs."""

    stack: Stack
    peak: dict[str, float] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        found = {"gateway": self.stack.gateway.pid}
        found.update({f"worker{k + 1}": w.pid for k, w in enumerate(self.stack.workers)})
        return found

    def now(self) -> dict[str, float | None]:
        return {name: rss_mb(pid) for name, pid in self.pids().items()}

    def sample(self) -> None:
        for name, mb in self.now().items():
            if mb is not None:
                self.peak[name] = max(self.peak.get(name, 0.0), mb)

    def alive(self) -> dict[str, bool]:
        processes = {"gateway": self.stack.gateway,
                     **{f"worker{k + 1}": w for k, w in enumerate(self.stack.workers)}}
        return {name: process.poll() is None for name, process in processes.items()}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Honest:
    """The honest app's synchronous calls, one every `every` seconds, in turn."""

    def __init__(self, base: str, app: NewApp, portrait: bytes, probe: bytes,
                 every: float = 0.25) -> None:
        self.base, self.portrait, self.probe, self.every = base, portrait, probe, every
        self.headers = {"app_id": app.app.api_key, "app_secret": app.secret,
                        "x-forwarded-for": HONEST_ADDRESS}
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.failures: collections.Counter = collections.Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.latencies.clear()
        self.failures.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _loop(self) -> None:
        calls = [("detect", "/v1/detect", self.portrait),
                 ("identify", "/v1/groups/staff/identify", self.probe)]
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=180) as http:
            turn = 0
            while not self._stop.is_set():
                kind, path, image = calls[turn % 2]
                turn += 1
                started = time.perf_counter()
                try:
                    answer = http.post(path, files={"image": ("p.jpg", image, "image/jpeg")})
                    status = answer.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                took = time.perf_counter() - started
                if status == 200:
                    self.latencies[kind].append(took)
                else:
                    self.failures[f"{kind} {status}"] += 1
                self._stop.wait(max(0.0, self.every - took))

    def summary(self) -> dict:
        out = {}
        for kind, values in sorted(self.latencies.items()):
            out[kind] = {"n": len(values), "p50_s": _round(percentile(values, 0.5)),
                         "p95_s": _round(percentile(values, 0.95)),
                         "max_s": _round(max(values) if values else None)}
        out["failures"] = dict(self.failures)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Attacker:
    """The hostile app's attacks; every answer counted by status (and native error code)."""

    def __init__(self, base: str, app: NewApp, honest_key: str) -> None:
        self.base, self.app, self.honest_key = base, app, honest_key
        self.headers = {"app_id": app.app.api_key, "app_secret": app.secret,
                        "x-forwarded-for": ATTACKER_ADDRESS}
        self.answers: collections.Counter = collections.Counter()
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.ingest_jobs: list[str] = []

    def _count(self, what: str, answer: httpx.Response | Exception) -> None:
        if isinstance(answer, Exception):
            label = f"{what} {type(answer).__name__}"
        else:
            code = ""
            try:
                body = answer.json()
                code = (body.get("error") or {}).get("code", "") if isinstance(body, dict) else ""
            except ValueError:
                pass
            label = f"{what} {answer.status_code}{' ' + code if code else ''}"
        with self._lock:
            self.answers[label] += 1
            if self.answers[label] == 1 and not isinstance(answer, Exception) \
                    and answer.status_code >= 500:  # what the busy answer said, once
                self.notes.append(f"{label}: {answer.text[:300]}")

    def _post(self, http: httpx.Client, what: str, path: str, **kwargs) -> httpx.Response | None:
        try:
            answer = http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            self._count(what, exc)
            return None
        self._count(what, answer)
        return answer

    def async_flood(self, photo: bytes, rate: float = 100.0, seconds: float = 4.0,
                    senders: int = 8) -> None:
        """POST /v1/jobs at `rate` per second for `seconds`, spread over `senders` threads."""
        total = int(rate * seconds)
        start = time.monotonic()

        def send(first: int) -> None:
            with httpx.Client(base_url=self.base, headers=self.headers, timeout=60) as http:
                for k in range(first, total, senders):
                    if self.stop.is_set():
                        return
                    wait = start + k / rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    self._post(http, "async", "/v1/jobs", data={"op": "detect"},
                               files={"image": ("big.jpg", photo, "image/jpeg")})

        threads = [threading.Thread(target=send, args=(k,), daemon=True) for k in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def ingest(self, photos: list[bytes], count: int = 2000) -> None:
        import base64

        encoded = [base64.b64encode(p).decode() for p in photos]
        lines = "\n".join(json.dumps({"image": encoded[k % len(encoded)], "key": f"loot-{k}",
                                      "tag": f"loot {k}"}) for k in range(count))
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=600) as http:
            http.post("/v1/groups", json={"name": "loot"})
            answer = self._post(http, "ingest", "/v1/groups/loot/faces/bulk",
                                content=lines.encode(),
                                headers={"content-type": "application/x-ndjson"})
            if answer is not None and answer.status_code == 202:
                self.ingest_jobs.append(answer.json()["job_id"])

    def cancel_ingestion(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=60) as http:
            for job_id in self.ingest_jobs:
                http.post(f"/v1/jobs/{job_id}/cancel")
        self.ingest_jobs.clear()

    def bombs(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=600) as http:
            http.post("/v1/groups", json={"name": "loot"})
            for what, body, kind in (("zip bomb", zip_bomb(), "application/zip"),
                                     ("tar.gz bomb", tar_gz_bomb(), "application/gzip"),
                                     ("200k entries", many_entries_zip(), "application/zip")):
                started = time.perf_counter()
                answer = self._post(http, what, "/v1/groups/loot/faces/bulk", content=body,
                                    headers={"content-type": kind})
                note = f"{what} ({len(body) / 1e6:.1f} MB sent): "
                if answer is None:
                    note += "no answer"
                else:
                    note += f"HTTP {answer.status_code} in {time.perf_counter() - started:.1f} s"
                    if answer.status_code == 202:
                        self.ingest_jobs.append(answer.json()["job_id"])
                    else:
                        note += f": {answer.text[:160]}"
                self.notes.append(note)

    def pngs(self, png: bytes, at_once: int = 3, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds

        def send() -> None:
            with httpx.Client(base_url=self.base, headers=self.headers, timeout=300) as http:
                while time.monotonic() < deadline and not self.stop.is_set():
                    self._post(http, "png", "/v1/detect",
                               files={"image": ("big.png", png, "image/png")})

        threads = [threading.Thread(target=send, daemon=True) for _ in range(at_once)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def logins(self, rate: float = 50.0, seconds: float = 20.0, shared: bool = False) -> None:
        """Wrong secrets: `shared`, for its own app from the honest app's address; else from
        a third address, for made-up keys and the honest app's key in turn (from its own, the
        guard would refuse its other attacks too)."""
        deadline = time.monotonic() + seconds
        address = HONEST_ADDRESS if shared else GUESSER_ADDRESS
        with httpx.Client(base_url=self.base, timeout=30,
                          headers={"x-forwarded-for": address}) as http:
            k = 0
            while time.monotonic() < deadline and not self.stop.is_set():
                if shared:
                    key = self.app.app.api_key
                else:
                    key = self.honest_key if k % 2 else f"made-up-{k}"
                self._post(http, "login", "/v1/detect",
                           headers={"app_id": key, "app_secret": f"guess-{k}"},
                           data={"image": "x"})
                k += 1
                time.sleep(1 / rate)


# --- the run --------------------------------------------------------------------------------
def queues_empty(client: redis.Redis) -> bool:
    keys = [key for queue in QUEUES for key in client.keys(queue + "*")]
    waiting = sum(client.llen(key) for key in keys)
    return waiting == 0 and client.hlen(UNACKED_KEY) == 0


def drain(stack: Stack, limit_s: float) -> float:
    """Seconds until no task waits or runs (at most limit_s)."""
    client = redis.Redis.from_url(stack.redis_url)
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if queues_empty(client):
            return time.monotonic() - started
        time.sleep(1.0)
    return limit_s


def run_phase(name: str, stack: Stack, honest: Honest, attacker: Attacker, seconds: float,
              inputs: dict, drain_s: float) -> dict:
    memory = Memory(stack)
    before = memory.now()
    attacker.answers.clear()
    attacker.notes.clear()
    attacker.stop.clear()
    plans = {
        "async": lambda: attacker.async_flood(inputs["photo"]),
        "ingest": lambda: attacker.ingest(inputs["portraits"]),
        "bombs": attacker.bombs,
        "png": lambda: attacker.pngs(inputs["png"], seconds=seconds),
        "logins": lambda: attacker.logins(seconds=seconds),
        "logins-shared": lambda: attacker.logins(seconds=seconds, shared=True),
    }
    chosen = ([p for p in plans if p != "logins-shared"] if name == "all"
              else [name] if name in plans else [])
    honest.start()
    threads = [threading.Thread(target=plans[p], daemon=True) for p in chosen]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while time.monotonic() - started < seconds:
        memory.sample()
        time.sleep(0.25)
    honest.stop()
    attacker.stop.set()
    for thread in threads:
        while thread.is_alive():
            memory.sample()
            thread.join(0.25)
    attacker.cancel_ingestion()
    drained = drain(stack, drain_s)
    time.sleep(2.0)
    memory.sample()
    return {"phase": name, "honest": honest.summary(), "attacker": dict(attacker.answers),
            "notes": list(attacker.notes), "rss_mb_before": _mb(before),
            "rss_mb_peak": _mb(memory.peak), "rss_mb_after": _mb(memory.now()),
            "alive": memory.alive(), "drained_s": round(drained, 1)}


def _mb(values: dict) -> dict:
    return {k: None if v is None else round(v) for k, v in values.items()}


def make_apps(stack: Stack) -> tuple[NewApp, NewApp]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        return create_app(conn, "honest"), create_app(conn, "attacker")


def enrol_honest(base: str, app: NewApp) -> int:
    faces = fetch()
    headers = {"app_id": app.app.api_key, "app_secret": app.secret,
               "x-forwarded-for": HONEST_ADDRESS}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        http.post("/v1/groups", json={"name": "staff"}).raise_for_status()
        for name in ("obama.jpg", "biden.jpg"):
            http.post("/v1/groups/staff/faces", data={"tag": name},
                      files={"image": (name, faces[name].read_bytes())}).raise_for_status()
        return http.get("/v1/groups/staff/faces").json()["total"]


def honest_faces(base: str, app: NewApp) -> int:
    headers = {"app_id": app.app.api_key, "app_secret": app.secret,
               "x-forwarded-for": HONEST_ADDRESS}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        return http.get("/v1/groups/staff/faces").json()["total"]


def run(stack: Stack, phases: list[str], seconds: float, drain_s: float = 300.0,
        report=print) -> dict:
    honest_app, attacker_app = make_apps(stack)
    enrolled = enrol_honest(stack.base_url, honest_app)
    faces = fetch()
    inputs = {"photo": photo_1600x1200(), "png": big_png(), "portraits": portraits_640x480()}
    honest = Honest(stack.base_url, honest_app, inputs["portraits"][0],
                    faces["obama2.jpg"].read_bytes())
    attacker = Attacker(stack.base_url, attacker_app, honest_app.app.api_key)
    results = []
    for name in phases:
        result = run_phase(name, stack, honest, attacker, seconds, inputs, drain_s)
        report(json.dumps(result))
        results.append(result)
    kept = honest_faces(stack.base_url, honest_app)
    return {"phases": results, "honest_faces_before": enrolled, "honest_faces_after": kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=300.0,
                        help="longest wait for the attacker's backlog after a phase")
    parser.add_argument("--out", default="bench/out/hostile_tenant.json")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose among {PHASES}")
    from bench.stack import bench_stack

    # the default rate limit (100/s per app) and guard; 127.0.0.1 is the trusted proxy
    with bench_stack(FACEGATE_RATE_LIMIT="100", FACEGATE_LOG_LEVEL="WARNING",
                     FACEGATE_TRUSTED_PROXIES="127.0.0.1") as (_, stack):
        summary = run(stack, phases, args.seconds, args.drain)
    print(json.dumps({k: v for k, v in summary.items() if k != "phases"}))
    _table(summary["phases"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))


def _table(results: list[dict]) -> None:
    print("| phase | honest detect p50 / p95 s | identify p50 / p95 s | honest failures | "
          "gateway MB before / peak / after | worker MB before / peak / after | alive | "
          "drained s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        h = r["honest"]

        def pair(kind: str, h=h) -> str:
            got = h.get(kind) or {}
            return f"{got.get('p50_s')} / {got.get('p95_s')}"

        def mem(name: str, r=r) -> str:
            return " / ".join(str(r[k].get(name)) for k in ("rss_mb_before", "rss_mb_peak",
                                                             "rss_mb_after"))

        print(f"| {r['phase']} | {pair('detect')} | {pair('identify')} | "
              f"{sum(h['failures'].values())} | {mem('gateway')} | {mem('worker1')} | "
              f"{all(r['alive'].values())} | {r['drained_s']} |")
    for r in results:
        print(f"{r['phase']}: attacker answers {r['attacker']}; {'; '.join(r['notes'])}")


if __name__ == "__main__":
    main()
