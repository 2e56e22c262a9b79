"""Run bench/locustfile.py's scenarios headless against a private local stack, print their
figures, and (with --sweep) write the results the performance document's plots are drawn from.

    .venv/bin/python -m bench.loadtest [--users 8] [--spawn-rate 2] [--seconds 60]
        [--scenario cloudwalk]              # one run of one scenario, locust's report saved
    .venv/bin/python -m bench.loadtest --url https://facegate.example.com   # a deployment
        (with FACEGATE_APP_ID / FACEGATE_APP_SECRET of an app made there)
    .venv/bin/python -m bench.loadtest --sweep [--sweep-users 1,2,4] [--sweep-seconds 15]
        [--gallery 1000,10000,100000] [--workers 1,2] [--parts users,ingest,gallery,workers]
    .venv/bin/python -m bench.plots load    # the figures, from bench/out/load/results.json

Scenarios (bench/locustfile.py's user classes): cloudwalk, baidu, native (the mix identify 4 :
detect 3 : compare 2 : enrol 1 in each dialect), identify (native identification only), ingest
(one native bulk ingestion job after another, 16 LFW photos each, beside identify users).

Local: embedded Redis and PostgreSQL in a temporary folder, one worker, the gateway on a free
loopback port, an app made for the run. A single run saves locust's HTML and CSV report to
bench/out/locust/ and prints the summary table. --sweep, on one stack, one after another:
1. latency (p50/p95/p99 of all the mix's requests, and of identify) and throughput against
   users for each dialect's mix, every dialect identifying in one shared group of 12 people;
2. identify alone, then identify beside bulk ingestion (same users): the ratio of the p95s and
   the ingestion's photos/s;
3. identify p95 against gallery size: a group per size filled with synthetic 512-d embeddings
   (COPY, as bench/gallery_scale.py loads them; identities whose centres follow the Gaussian of
   real FaceNet embeddings of LFW when bench/lfw_calibrate.py's cache holds them, else uniform),
   plus the real enrolled faces; groups from FACEGATE_HNSW_MIN_FACES (2,000) get their HNSW
   index before they are searched; and the database search alone on each group;
4. throughput against worker processes: a second worker added to the same stack, the native
   mix run again with the same users.
Every run is bounded (--sweep-seconds each) and sends traffic to 127.0.0.1 only. --parts runs
some of the four; the others stay in results.json as the last sweep left them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from bench.stack import bench_stack, client_for
from services.client import ApiError

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "locust"
RESULTS = ROOT / "bench" / "out" / "load" / "results.json"
SCENARIOS = {"cloudwalk": ["CloudWalkUser"], "baidu": ["BaiduUser"], "native": ["NativeUser"],
             "identify": ["NativeIdentifyUser"], "ingest": ["IngestUser", "NativeIdentifyUser"]}
CALIBRATE_CACHE = ROOT / ".cache" / "bench" / "lfw-calibrate" / "facenet-vggface2-m32.npz"
DIM = 512


def run_locust(url: str, scenario: str, users: int, seconds: int, prefix: Path,
               spawn_rate: float | None = None, env: dict[str, str] | None = None,
               html: bool = False) -> dict[str, dict]:
    """One headless locust run; its stats rows by request name (`Aggregated` for all)."""
    command = [sys.executable, "-m", "locust", "-f", "bench/locustfile.py", "--headless",
               "-u", str(users), "-r", str(spawn_rate or users), "-t", f"{seconds}s",
               "--host", url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "30",
               "--loglevel", "WARNING", *(["--html", f"{prefix}.html"] if html else []),
               *SCENARIOS[scenario]]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.log", "w") as log:  # locust's own summary and any errors
        subprocess.run(command, env={**os.environ, **(env or {})}, check=False, cwd=ROOT,
                       stdout=None if html else log, stderr=None if html else log)
    with open(f"{prefix}_stats.csv") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def print_rows(rows: dict[str, dict]) -> None:
    print(f"  {'request':22s} {'count':>6s} {'fail':>5s} {'req/s':>6s} {'p50':>6s} {'p95':>6s} "
          f"{'p99':>6s} ms")
    for row in rows.values():
        print(f"  {row['Name'][:22]:22s} {row['Request Count']:>6s} {row['Failure Count']:>5s} "
              f"{float(row['Requests/s']):6.2f} {row['50%']:>6s} {row['95%']:>6s} "
              f"{row['99%']:>6s}", flush=True)


def figures(rows: dict[str, dict], request: str) -> dict:
    total = rows["Aggregated"]
    row = rows.get(request) or {"Request Count": "0", "50%": "", "95%": "", "99%": "",
                                "Requests/s": "0"}

    def ms(key: str) -> float:
        return float(row[key]) if row[key] not in ("", "N/A") else float("nan")

    return {"request": request, "count": int(row["Request Count"]),
            "failures": int(total["Failure Count"]), "p50": ms("50%"), "p95": ms("95%"),
            "p99": ms("99%"),
            "rps": float(total["Requests/s"]), "request_rps": float(row["Requests/s"]),
            "all_count": int(total["Request Count"]), "all_p50": float(total["50%"]),
            "all_p95": float(total["95%"]), "all_p99": float(total["99%"])}


def centres(rng: np.random.Generator, count: int) -> tuple[np.ndarray, str]:
    """Identity centres: the Gaussian of the real FaceNet embeddings bench/lfw_calibrate.py
    cached (4,992 LFW View 1 faces), or uniform on the sphere when there is no cache."""
    if CALIBRATE_CACHE.is_file():
        saved = np.load(CALIBRATE_CACHE)
        x = saved["vectors"][saved["found"]].astype(np.float64)
        chol = np.linalg.cholesky(np.cov(x, rowvar=False) + 1e-6 * np.eye(DIM))
        z = rng.standard_normal((count, DIM))
        return _unit((x.mean(0) + z @ chol.T).astype(np.float32)), "lfw-facenet"
    return _unit(rng.standard_normal((count, DIM), dtype=np.float32)), "uniform"


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic(rng: np.random.Generator, size: int) -> tuple[np.ndarray, str]:
    """`size` unit vectors in identities of 1-5 faces (bench/gallery_scale.py's recipe)."""
    owners = np.repeat(np.arange(size), rng.integers(1, 6, size=size))[:size]
    middle, kind = centres(rng, int(owners.max()) + 1)
    noise = rng.standard_normal((size, DIM), dtype=np.float32) * 0.035
    return _unit(middle[owners] + noise), kind


def seed_group(database_url: str, group: str, vectors: np.ndarray, min_faces: int
               ) -> tuple[float, float, bool]:
    """The synthetic vectors into the app's group (its model code), by COPY; then its HNSW
    index when it reaches `min_faces`. (seconds to load, seconds to index, indexed)."""
    from services.gallery.indexes import build_index

    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        register_vector(conn)
        pk, app_id, model = conn.execute(
            "SELECT id, app_id, model FROM groups WHERE name = %s", (group,)).fetchone()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY faces (app_id, group_id, model, embedding, tag) FROM STDIN "
                "WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "int8", "int2", "vector", "text"])
            for vector in vectors:
                copy.write_row((app_id, pk, model, vector, "synthetic"))
        conn.execute("UPDATE groups SET face_count = (SELECT count(*) FROM faces "
                     "WHERE group_id = %s) WHERE id = %s", (pk, pk))
        conn.execute("ANALYZE faces")
        loaded = time.perf_counter() - started
        count = conn.execute("SELECT face_count FROM groups WHERE id = %s", (pk,)).fetchone()[0]
        started = time.perf_counter()
        if count >= min_faces:
            build_index(conn, pk)  # False when the gateway's own build holds the lock
            while not conn.execute("SELECT indexed FROM groups WHERE id = %s",
                                   (pk,)).fetchone()[0]:
                time.sleep(1.0)
        indexed = conn.execute("SELECT indexed FROM groups WHERE id = %s", (pk,)).fetchone()[0]
    return loaded, time.perf_counter() - started, indexed


def search_alone(database_url: str, group: str, vectors: np.ndarray, min_faces: int,
                 queries: int = 100) -> tuple[float, float]:
    """(p50, p95) ms of the group's database search alone (services.gallery, the service's
    own query, one client, after a warm pass), for near-copies of its synthetic faces."""
    from services.gallery.database import Gallery

    rng = np.random.default_rng(1)
    picks = vectors[rng.integers(0, len(vectors), size=queries)]
    probes = _unit(picks + rng.standard_normal(picks.shape, dtype=np.float32) * 0.035)

    async def run() -> list[float]:
        gallery = await Gallery.open(database_url, hnsw_min_faces=min_faces, max_size=2)
        try:
            with psycopg.connect(database_url) as conn:
                app_id = conn.execute("SELECT app_id FROM groups WHERE name = %s",
                                      (group,)).fetchone()[0]
            record = await gallery.groups.group(app_id, group)
            for probe in probes[:20]:
                await gallery.groups.search(record, probe, 1)
            timings = []
            for probe in probes:
                started = time.perf_counter()
                await gallery.groups.search(record, probe, 1)
                timings.append((time.perf_counter() - started) * 1000)
            return timings
        finally:
            await gallery.close()

    timings = asyncio.run(run())
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def baidu_users(url: str, group: str, photos: list[bytes]) -> int:
    """The photos as Baidu users (user/add) of one group: every dialect's identify can search
    it (Baidu's answers by user, the others by face). How many were added."""
    token = httpx.get(f"{url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": os.environ["FACEGATE_APP_ID"],
        "client_secret": os.environ["FACEGATE_APP_SECRET"]}).json()["access_token"]
    added = 0
    for k, photo in enumerate(photos):
        body = httpx.post(f"{url}/rest/2.0/face/v2/faceset/user/add", timeout=120,
                          params={"access_token": token},
                          data={"uid": f"person{k}", "user_info": "load", "group_id": group,
                                "image": base64.b64encode(photo).decode(),
                                "quality_control": "NONE"}).json()
        added += "error_code" not in body
    return added


def sweep(args: argparse.Namespace) -> None:
    from bench.load_photos import enrol_photos
    from shared.settings import Settings

    enrol = enrol_photos()

    results: dict = {"date": datetime.date.today().isoformat(),
                     "machine": f"{os.cpu_count()} CPU cores, no GPU (shared machine)",
                     "seconds": args.sweep_seconds, "users": [], "workers": [], "gallery": [],
                     "ingest": []}
    folder = RESULTS.parent / "runs"  # each run's locust CSV files and log
    seconds = args.sweep_seconds
    started = time.perf_counter()
    with bench_stack() as (url, stack):
        assert stack is not None
        results["hnsw_min_faces"] = min_faces = Settings().hnsw_min_faces
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            # HNSW builds of the large groups: fast only while the graph fits in memory
            conn.execute("ALTER SYSTEM SET maintenance_work_mem = '768MB'")
            conn.execute("SELECT pg_reload_conf()")
        shared = {"FACEGATE_LOAD_GROUP": "shared", "FACEGATE_LOAD_START_ENROL": "0"}
        print(f"stack up at {url}; the shared group: "
              f"{baidu_users(url, 'shared', enrol[:12])} faces", flush=True)
        run_locust(url, "cloudwalk", 1, 5, folder / "warm", env=shared)  # not counted

        if "users" in args.parts:
            for scenario in args.sweep_scenarios.split(","):
                for users in [int(u) for u in args.sweep_users.split(",")]:
                    rows = run_locust(url, scenario, users, seconds,
                                      folder / f"{scenario}-{users}", env=shared)
                    print(f"\n{scenario}, {users} users, {seconds} s:")
                    print_rows(rows)
                    results["users"].append({"scenario": scenario, "users": users,
                                             **figures(rows, "identify")})

        if "ingest" in args.parts:
            users = args.ingest_users
            alone = run_locust(url, "identify", users, seconds, folder / "identify-alone",
                               env=shared)
            print(f"\nidentify alone, {users} users, {seconds} s:")
            print_rows(alone)
            mixed = run_locust(url, "ingest", users + 1, args.ingest_seconds,
                               folder / "identify-ingest",
                               env={**shared,
                                    "FACEGATE_LOAD_BULK_PHOTOS": str(args.bulk_photos)})
            print(f"\nidentify ({users} users) beside bulk ingestion (1 user, jobs of "
                  f"{args.bulk_photos} photos), {args.ingest_seconds} s:")
            print_rows(mixed)
            job = next(row for name, row in mixed.items() if name.startswith("bulk job"))
            photos_s = int(job["Request Count"]) * args.bulk_photos / args.ingest_seconds
            a, m = figures(alone, "identify"), figures(mixed, "identify")
            print(f"identify p95 beside ingestion / alone: {m['p95']:.0f} / {a['p95']:.0f} ms ="
                  f" {m['p95'] / a['p95']:.2f}; ingestion about {photos_s:.1f} photos/s "
                  f"({job['Request Count']} jobs done in {args.ingest_seconds} s, job p50 "
                  f"{job['50%']} ms)")
            results["ingest"] = [{"phase": "alone", "users": users, **a},
                                 {"phase": "ingesting", "users": users, **m,
                                  "jobs": int(job["Request Count"]),
                                  "job_p50": float(job["50%"]), "photos_s": photos_s,
                                  "bulk_photos": args.bulk_photos}]

        if "gallery" in args.parts and args.gallery:
            client = client_for(url)
            rng = np.random.default_rng(0)
            for size in [int(s) for s in args.gallery.split(",")]:
                group = f"gallery{size}"
                client.create_group(group)
                real = 0
                for image in enrol[:12]:  # the probes' people, so identify finds them
                    try:
                        client.enrol(group, image, tag="real")
                        real += 1
                    except ApiError as exc:  # a quality refusal: fine here
                        print(f"  (an enrolment photo refused: {exc})")
                vectors, kind = synthetic(rng, max(0, size - real))
                load_s, index_s, indexed = seed_group(stack.database_url, group, vectors,
                                                      min_faces)
                print(f"\ngallery of {size:,} faces ({real} real, {len(vectors):,} synthetic, "
                      f"centres {kind}): COPY {load_s:.1f} s, index {index_s:.1f} s, "
                      f"path {'hnsw' if indexed else 'exact'}")
                rows = run_locust(url, "identify", args.gallery_users, seconds,
                                  folder / f"gallery-{size}",
                                  env={**shared, "FACEGATE_LOAD_GROUP": group})
                print_rows(rows)
                search_p50, search_p95 = search_alone(stack.database_url, group, vectors,
                                                      min_faces) if len(vectors) else (0, 0)
                print(f"  the database search alone (1 client, 100 queries): p50 "
                      f"{search_p50:.1f} ms, p95 {search_p95:.1f} ms")
                results["gallery"].append({"faces": size, "path": "hnsw" if indexed else "exact",
                                           "search_p50": search_p50, "search_p95": search_p95,
                                           "scenario": "native identify",
                                           "users": args.gallery_users, "centres": kind,
                                           "load_s": load_s, "index_s": index_s,
                                           **figures(rows, "identify")})
            client.close()

        if "workers" in args.parts:
            counts = [int(w) for w in args.workers.split(",")]
            for workers in counts:
                while len([w for w in stack.workers if w.poll() is None]) < workers:
                    stack.start_worker()
                stack.wait_for_workers()
                rows = run_locust(url, args.workers_scenario, args.workers_users, seconds,
                                  folder / f"workers-{workers}", env=shared)
                print(f"\n{args.workers_scenario}, {args.workers_users} users, {workers} worker "
                      f"process(es), {seconds} s:")
                print_rows(rows)
                results["workers"].append({"workers": workers, "users": args.workers_users,
                                           "scenario": args.workers_scenario,
                                           **figures(rows, "identify")})
            if len(results["workers"]) > 1:
                first, last = results["workers"][0], results["workers"][-1]
                print(f"throughput {last['workers']} / {first['workers']} worker(s): "
                      f"{last['rps']:.2f} / {first['rps']:.2f} req/s = "
                      f"{last['rps'] / first['rps']:.2f}")
    results["wall_s"] = time.perf_counter() - started
    if RESULTS.is_file():  # the parts not run this time stay as the last sweep left them
        earlier = json.loads(RESULTS.read_text())
        for part, key in (("users", "users"), ("ingest", "ingest"), ("gallery", "gallery"),
                          ("workers", "workers")):
            if part not in args.parts and earlier.get(key):
                results[key] = earlier[key]
                results.setdefault("kept", {})[key] = earlier.get("date")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {RESULTS} ({results['wall_s']:.0f} s in all); "
          "figures: .venv/bin/python -m bench.plots load")


def single(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with bench_stack(args.url) as (url, _):
        # FACEGATE_APP_ID / _SECRET: the run's app (bench/stack.py)
        print(f"locust {' '.join(SCENARIOS[args.scenario])}: {args.users} users, "
              f"{args.seconds} s, {url}")
        rows = run_locust(url, args.scenario, args.users, args.seconds, OUT / "report",
                          spawn_rate=args.spawn_rate, html=True)
    print()
    print_rows(rows)
    print(f"report: {OUT / 'report.html'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="cloudwalk")
    parser.add_argument("--url", default=None)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--parts", default="users,ingest,gallery,workers")
    parser.add_argument("--sweep-seconds", type=int, default=15)
    parser.add_argument("--sweep-users", default="1,2,4")
    parser.add_argument("--sweep-scenarios", default="cloudwalk,baidu,native")
    parser.add_argument("--ingest-users", type=int, default=2)
    parser.add_argument("--ingest-seconds", type=int, default=30)
    parser.add_argument("--bulk-photos", type=int, default=16)
    parser.add_argument("--gallery", default="1000,10000,100000")
    parser.add_argument("--gallery-users", type=int, default=2)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--workers-scenario", default="native")
    parser.add_argument("--workers-users", type=int, default=4)
    args = parser.parse_args()
    if args.sweep:
        sweep(args)
    else:
        single(args)


if __name__ == "__main__":
    main()
