"""The stack as users deploy it: compose.yaml and the images built from this checkout, started
with `docker compose`, used through the gateway's published port (127.0.0.1 only), with faults
injected into the containers the test started, and nothing left behind.

`make deploy-test` (tests/deploy/engine.sh first) runs it; `make test` does not collect it.
The tests run in file order on one compose project; each prints what it measured and the last
writes every figure to .cache/deploy-test/report.json.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from services.client import Facegate
from tests.conftest import b64
from tests.deploy.compose import GATEWAY_IMAGE, ROOT, WORKER_IMAGE, Compose, run
from tests.support.baidu_sdk import facegate_client

# LFW View 1, the team's data beside the checkout (LFW_VIEW1 names another place)
LFW = next((p for p in (Path(os.environ.get("LFW_VIEW1", "/nonexistent")),
                        ROOT.parent / "shared" / "datasets" / "lfw-view1",
                        Path("/work/shared/datasets/lfw-view1")) if p.is_dir()),
           ROOT.parent / "shared" / "datasets" / "lfw-view1")
PROJECT = "facegate-deploytest"
INGEST_PHOTOS = 320
# Answers that are an outage's retryable "busy" (CloudWalk 4098) or a success; anything else
# from a synchronous call in flight during a fault is a failure of the test.
CW_OK, CW_BUSY = 0, 4098
REPORT: dict = {}
OUT = ROOT / ".cache" / "deploy-test"
OUT.mkdir(parents=True, exist_ok=True)
APPLIED = re.compile(r"applied migration (\w+)")  # services/gallery/migrate.py's log line


def report(key: str, value) -> None:
    REPORT[key] = value
    print(f"\n[deploy] {key}: {json.dumps(value, default=str)}")


@pytest.fixture(scope="module")
def compose() -> Compose:
    stack = Compose.for_test(PROJECT)
    stack("down", "-v", "--remove-orphans", timeout=300)  # a run killed earlier
    yield stack
    stack("down", "-v", "--remove-orphans", timeout=300, check=False)
    (OUT / "report.json").write_text(json.dumps(REPORT, indent=2, default=str))


@pytest.fixture(autouse=True)
def keep_logs(compose, request):
    """Each test's container logs, in .cache/deploy-test/<test>.log (what to read when one
    fails: the containers are gone afterwards)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    yield
    logs = compose("logs", "-t", "--since", since, check=False).stdout
    (OUT / f"{request.node.name}.log").write_bytes(logs)


@pytest.fixture(scope="module")
def state() -> dict:
    """What one test hands the next: the app, the groups made."""
    return {}


# ---------------------------------------------------------------------------------- helpers
def _size_mb(image: str) -> float:
    out = run("docker", "image", "inspect", "-f", "{{.Size}}", image).stdout
    return round(int(out) / 1e6)


def _layers_above_base_mb(image: str, base: str) -> float:
    return _size_mb(image) - _size_mb(base)


def _cloudwalk(http: httpx.Client, path: str, **fields) -> dict:
    return http.post(path, data=fields).json()


class Probes:
    """Synchronous calls (CloudWalk detect and compare) sent one after another from two
    threads while faults happen: each answer's code and when it was in flight."""

    def __init__(self, base_url: str, headers: dict, faces: dict[str, bytes]) -> None:
        self.base_url, self.headers = base_url, headers
        self.a, self.b = b64(faces["obama.jpg"]), b64(faces["obama2.jpg"])
        self.answers: list[tuple[float, float, str, object]] = []
        self.details: list[tuple[float, float, str, object]] = []  # what each failure said
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(kind,), daemon=True)
                         for kind in ("detect", "compare")]

    def _loop(self, kind: str) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=180) as http:
            while not self._stop.is_set():
                started = time.time()
                try:
                    if kind == "detect":
                        answer = _cloudwalk(http, "/face/tool/detect", img=self.a)
                    else:
                        answer = _cloudwalk(http, "/face/tool/compare", imgA=self.a, imgB=self.b)
                    outcome: object = answer.get("result")
                    if outcome != CW_OK:
                        self.details.append((started, time.time(), kind, answer))
                except (httpx.HTTPError, ValueError) as exc:
                    outcome = type(exc).__name__
                    self.details.append((started, time.time(), kind, repr(exc)))
                self.answers.append((started, time.time(), kind, outcome))
                time.sleep(0.2)

    def __enter__(self) -> Probes:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(200)

    def outcomes(self) -> dict[str, int]:
        return dict(Counter(str(outcome) for *_, outcome in self.answers))

    def around(self, moment: float) -> list:
        """Answers to calls in flight at `moment`."""
        return [a for a in self.answers if a[0] <= moment <= a[1]]


def _lfw_tar(count: int, skip: int = 0) -> tuple[bytes, list[str]]:
    photos = sorted(LFW.glob("*/*.jpg"))[skip:skip + count]
    assert len(photos) == count, f"LFW View 1 not found at {LFW}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for photo in photos:
            tar.add(photo, arcname=f"{photo.parent.name}/{photo.name}")
    return buffer.getvalue(), [p.name for p in photos]


def _job_checks(compose: Compose, fg: Facegate, job_id: str, group: str, total: int) -> dict:
    """Every photo has exactly one outcome, every enrolled one exactly one face."""
    job = fg.job(job_id)
    assert job["status"] == "done" and job["progress"]["done"] == total, job
    items = fg.all_job_items(job_id)
    assert len(items) == total and not [i for i in items if i["status"] == "pending"]
    enrolled = [i for i in items if i["status"] == "enrolled"]
    face_ids = [i["face_id"] for i in enrolled]
    assert len(set(face_ids)) == len(face_ids), "two photos share a face"
    [[faces, keys]] = compose.sql(
        "SELECT count(*), count(DISTINCT f.request_key) FROM faces f JOIN groups g "
        f"ON g.id = f.group_id WHERE g.name = '{group}'")
    assert int(faces) == int(keys) == len(enrolled), (faces, keys, len(enrolled))
    chunks = compose.sql("SELECT split_part(worker, ':', 1), count(*) FROM ingest_chunks "
                         f"WHERE job_id = '{job_id}' GROUP BY 1 ORDER BY 1")
    return {"outcomes": job["counts"], "enrolled": len(enrolled), "faces_in_group": int(faces),
            "duplicated": len(enrolled) - len(set(face_ids)),
            "lost": sum(1 for i in items if i["status"] == "pending"),
            "chunks_by_worker_host": {host: int(n) for host, n in chunks}}


def _wait_for_progress(fg: Facegate, job_id: str, done: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while fg.job(job_id)["progress"]["done"] < done:
        assert time.monotonic() < deadline, f"job {job_id} made no progress"
        time.sleep(1)


def _holding_a_chunk(compose: Compose, hosts: dict[str, str], timeout: float = 120
                     ) -> tuple[str, list[str]]:
    """A worker container with an ingestion chunk in hand right now (taken and not done, by
    its own log lines: workers/ingest.py), and those chunks: the one to kill."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for container in sorted(hosts.values()):
            held: Counter = Counter()
            done = run("docker", "logs", container)
            logs = (done.stdout + done.stderr).decode(errors="replace")
            for line in logs.splitlines():
                if "ingestion chunk " in line and line.startswith("{"):
                    entry = json.loads(line)
                    chunk = f"{entry['job_id']}:{entry['items']}"
                    held[chunk] += 1 if entry["msg"] == "ingestion chunk taken" else -1
            if in_hand := sorted(chunk for chunk, n in held.items() if n > 0):
                return container, in_hand
        time.sleep(0.5)
    raise AssertionError("no worker was seen holding an ingestion chunk")


def _no_internal_errors(probes: Probes) -> None:
    bad = [a for a in probes.answers if a[3] not in (CW_OK, CW_BUSY)]
    assert not bad, f"synchronous calls answered with something else than success or busy: {bad}"


# ------------------------------------------------------------------------------------ tests
def test_images_build(compose):
    started = time.monotonic()
    compose("build", timeout=3600)
    report("build_seconds", round(time.monotonic() - started))
    sizes = {image: _size_mb(image) for image in (GATEWAY_IMAGE, WORKER_IMAGE)}
    sizes["worker_layers_above_python_base"] = _layers_above_base_mb(WORKER_IMAGE,
                                                                     "python:3.11-slim")
    sizes["gateway_layers_above_python_base"] = _layers_above_base_mb(GATEWAY_IMAGE,
                                                                      "python:3.11-slim")
    torch = run("docker", "run", "--rm", WORKER_IMAGE, "python", "-c",
                "import torch; print(torch.__version__)").stdout.decode().strip()
    report("image_sizes_mb", {**sizes, "worker_torch": torch})
    for image in (GATEWAY_IMAGE, WORKER_IMAGE):  # not root
        user = run("docker", "image", "inspect", "-f", "{{.Config.User}}", image).stdout
        assert user.decode().strip() == "65534", image


def test_stack_starts_together_on_an_empty_database(compose):
    """The gateway and two workers start at the same moment as two `facegate migrate` runs,
    against an empty database: each migration is applied once, nobody crashes."""
    compose("up", "-d", "--wait", "postgres", "redis", timeout=300)
    started = time.monotonic()
    starters = [threading.Thread(target=compose, args=("up", "-d", "--scale", "worker=2"))]
    migrations: list[str] = []

    def migrate() -> None:
        done = compose("run", "--rm", "--no-deps", "gateway", "facegate", "migrate")
        migrations.append(done.stdout.decode() + done.stderr.decode())

    starters += [threading.Thread(target=migrate) for _ in range(2)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(600)
    healthy_s = compose.wait_healthy({"postgres": 1, "redis": 1, "gateway": 1, "worker": 2,
                                      "flower": 1, "prometheus": 1})
    report("seconds_to_healthy", round(time.monotonic() - started))
    applied = Counter(name for text in [*migrations, compose("logs", "gateway").stdout.decode()]
                      for name in APPLIED.findall(text))
    expected = sorted(p.stem for p in (ROOT / "services/gallery/migrations").glob("*.sql"))
    assert schema_versions(compose) == expected
    assert applied == Counter(expected), applied  # each applied by exactly one process
    assert len(migrations) == 2
    assert set(compose.restarts().values()) == {0}, compose.restarts()
    report("migrations_applied_once", dict(applied))
    print(f"[deploy] healthy {healthy_s:.0f} s after the last start command returned")


def schema_versions(compose) -> list[str]:
    """The migrations the database records, by yoyo's table or (an image from before yoyo)
    the hand-written migrator's."""
    [[yoyo]] = compose.sql("SELECT to_regclass('_yoyo_migration') IS NOT NULL")
    query = ("SELECT migration_id FROM _yoyo_migration" if yoyo == "t"
             else "SELECT name FROM schema_migrations")
    return sorted(row[0] for row in compose.sql(query))


def test_apps_are_made_in_the_gateway_container(compose, state):
    made = json.loads(compose.exec("gateway", "facegate", "app", "create", "deploy-test"))
    assert made["name"] == "deploy-test" and made["api_key"] and made["secret"]
    state["app"] = made
    state["headers"] = {"app_id": made["api_key"], "app_secret": made["secret"]}


def test_the_api_works_through_the_published_port(compose, state, faces):
    ready = httpx.get(f"{compose.gateway}/readyz").json()
    assert ready["status"] == "ready" and ready["pgvector"]
    report("pgvector", ready["pgvector"])
    with httpx.Client(base_url=compose.gateway, headers=state["headers"], timeout=180) as http:
        a, b, c = (b64(faces[n]) for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
        detected = _cloudwalk(http, "/face/tool/detect", img=a)
        assert detected["result"] == 0 and len(detected["faces"]) == 1, detected
        feature = _cloudwalk(http, "/face/tool/feature", img=a)
        assert feature["result"] == 0 and feature["feature"], feature
        same = _cloudwalk(http, "/face/tool/compare", imgA=a, imgB=b)
        other = _cloudwalk(http, "/face/tool/compare", imgA=a, imgB=c)
        assert same["result"] == other["result"] == 0
        assert same["score"] >= 0.8 > other["score"], (same, other)
        assert _cloudwalk(http, "/face/clustering/group/create", groupId="staff")["result"] == 0
        enrolled = _cloudwalk(http, "/face/clustering/face/create", groupId="staff",
                              tag="obama", img=a)
        assert enrolled["result"] == 0, enrolled
        assert _cloudwalk(http, "/face/clustering/face/create", groupId="staff", tag="biden",
                          img=c)["result"] == 0
        found = _cloudwalk(http, "/face/recog/group/identify", groupId="staff", topN=1, img=b)
        assert found["result"] == 0 and found["faces"][0]["tag"] == "obama", found
    sdk = facegate_client(compose.gateway, "deploy", state["app"]["api_key"],
                          state["app"]["secret"])
    matched = sdk.match([faces["obama.jpg"], faces["obama2.jpg"]])  # a token, then match
    assert "error_code" not in matched and matched["result"][0]["score"] > 80, matched
    report("api_checks", {"compare_same": same["score"], "compare_other": other["score"],
                          "baidu_match": matched["result"][0]["score"]})


def test_monitoring_sees_the_gateway_and_every_worker(compose):
    _monitoring(compose, workers=2)


def _monitoring(compose: Compose, workers: int, timeout: float = 180) -> None:
    """Prometheus reports the gateway and `workers` worker targets up; Flower lists that many
    workers answering."""
    deadline = time.monotonic() + timeout
    while True:
        targets = httpx.get(f"{compose.url('PROMETHEUS_PORT')}/api/v1/targets").json()
        up = Counter(t["labels"]["job"] for t in targets["data"]["activeTargets"]
                     if t["health"] == "up")
        flower = httpx.get(f"{compose.url('FLOWER_PORT')}/api/workers",
                           params={"refresh": "true"}, timeout=30).json()
        answering = sorted(flower)
        if (up["facegate-gateway"] == 1 and up["facegate-worker"] == workers
                and len(answering) == workers):
            report(f"monitoring_with_{workers}_workers",
                   {"prometheus_targets_up": dict(up), "flower_workers": answering})
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"prometheus up {dict(up)}, flower {answering}")
        time.sleep(5)


def test_ingestion_survives_a_killed_worker_and_a_redis_restart(compose, state, faces):
    """A bulk load of LFW photos, both worker containers taking chunks; mid-load one worker
    container is SIGKILLed and the Redis container restarted; synchronous calls run meanwhile.
    The job completes, every photo enrolled exactly once, no call in flight gets an error."""
    archive, _ = _lfw_tar(INGEST_PHOTOS)
    hosts = compose.hostnames("worker")
    with Facegate(compose.gateway, state["app"]["api_key"], state["app"]["secret"],
                  timeout=180, retries=10) as fg:
        with Probes(compose.gateway, state["headers"], faces) as probes:
            fg.create_group("lfw")
            started = time.monotonic()
            job_id = fg.bulk_archive("lfw", archive)["job_id"]
            _wait_for_progress(fg, job_id, 64)  # two chunks in: the load is under way
            victim, held = _holding_a_chunk(compose, hosts)
            killed_at = time.time()
            run("docker", "kill", victim)
            time.sleep(10)
            redis_at = time.time()
            compose("restart", "redis")
            job = fg.wait_for_job(job_id, timeout_s=1200)
            seconds, done_at = time.monotonic() - started, time.time()
            time.sleep(5)  # a few more calls after the faults
        checks = _job_checks(compose, fg, job_id, "lfw", INGEST_PHOTOS)
    assert job["status"] == "done"
    assert set(checks["chunks_by_worker_host"]) == set(hosts), (checks, hosts)
    assert checks["duplicated"] == 0 and checks["lost"] == 0
    _no_internal_errors(probes)
    # Redis restarted under them: the workers reconnect, none exits (`docker kill` is an
    # operator's stop: Docker does not restart the killed one, the scale step below does)
    restarts = compose.restarts()
    assert not {name: n for name, n in restarts.items() if n}, restarts
    in_flight = {"worker_kill": Counter(str(a[3]) for a in probes.around(killed_at)),
                 "redis_restart": Counter(str(a[3]) for a in probes.around(redis_at))}
    report("ingestion_with_faults", {
        **checks, "photos": INGEST_PHOTOS, "seconds": round(seconds),
        "photos_per_s": round(INGEST_PHOTOS / seconds, 2),
        "chunks_by_worker_container": {hosts[h]: n for h, n in
                                       checks["chunks_by_worker_host"].items()},
        "killed": victim, "chunks_it_held": held, "restarts_after": restarts,
        "seconds_from_kill_to_done": round(done_at - killed_at),
        "sync_calls": probes.outcomes(), "sync_calls_in_flight_at_fault": in_flight,
        "sync_failures": [{"sent_after_redis_restart_s": round(start - redis_at, 1),
                           "took_s": round(end - start, 1), "call": kind, "answer": answer}
                          for start, end, kind, answer in probes.details]})
    state["lfw_faces"] = checks["faces_in_group"]


def test_scaling_to_three_workers_and_back_to_one_loses_nothing(compose, state, faces):
    archive, _ = _lfw_tar(96, skip=INGEST_PHOTOS)
    with Facegate(compose.gateway, state["app"]["api_key"], state["app"]["secret"],
                  timeout=180, retries=10) as fg:
        with Probes(compose.gateway, state["headers"], faces) as probes:
            fg.create_group("lfw_scale")
            compose("up", "-d", "--no-recreate", "--scale", "worker=3", "worker")
            up_s = compose.wait_healthy({"worker": 3})
            _monitoring(compose, workers=3)
            job_id = fg.bulk_archive("lfw_scale", archive)["job_id"]
            _wait_for_progress(fg, job_id, 32)
            started, started_at = time.monotonic(), time.time()
            compose("up", "-d", "--no-recreate", "--scale", "worker=1", "worker")
            down_s = time.monotonic() - started
            compose.wait_healthy({"worker": 1})
            fg.wait_for_job(job_id, timeout_s=1200)
            time.sleep(5)
        checks = _job_checks(compose, fg, job_id, "lfw_scale", 96)
    assert checks["duplicated"] == 0 and checks["lost"] == 0
    outcomes = probes.outcomes()
    # Nothing lost: no call waited out its timeout for a task that went missing, and none
    # got an error (a quick "busy" would be reported: none was seen in the runs so far but
    # one, before the details were kept)
    _no_internal_errors(probes)
    lost = [d for d in probes.details if "no result within" in str(d[3])]
    assert not lost, (lost, {"scale_down_started": started_at, "scale_down_s": down_s})
    report("scaling", {"to_3_healthy_s": round(up_s), "to_1_s": round(down_s),
                       "job": checks, "sync_calls": outcomes,
                       "sync_failures": [{"at_s_from_scale_down": round(start - started_at, 1),
                                          "took_s": round(end - start, 1), "answer": answer}
                                         for start, end, _, answer in probes.details]})


def _gallery_counts(compose: Compose) -> dict[str, int]:
    [[groups, faces, apps]] = compose.sql(
        "SELECT (SELECT count(*) FROM groups), (SELECT count(*) FROM faces), "
        "(SELECT count(*) FROM apps)")
    return {"groups": int(groups), "faces": int(faces), "apps": int(apps)}


def _identifies_obama(compose: Compose, state: dict, faces: dict) -> None:
    with httpx.Client(base_url=compose.gateway, headers=state["headers"], timeout=180) as http:
        found = _cloudwalk(http, "/face/recog/group/identify", groupId="staff", topN=1,
                           img=b64(faces["obama3.jpg"]))
    assert found["result"] == 0 and found["faces"][0]["tag"] == "obama", found


def test_down_then_up_keeps_every_gallery(compose, state, faces):
    before = _gallery_counts(compose)
    compose("down", timeout=300)
    assert not compose.leftovers()["containers"]
    compose("up", "-d", "--scale", "worker=1")
    compose.wait_healthy({"gateway": 1, "worker": 1})
    assert _gallery_counts(compose) == before
    _identifies_obama(compose, state, faces)
    report("down_up_kept", before)


def test_backup_and_restore_with_pg_dump(compose, state, faces, tmp_path):
    """docs/operations.md's procedure: pg_dump, everything removed (down -v), PostgreSQL
    alone, pg_restore, the rest started."""
    before = _gallery_counts(compose)
    dump = compose("exec", "-T", "postgres", "pg_dump", "-U", "postgres", "-Fc",
                   "facegate").stdout
    (tmp_path / "facegate.dump").write_bytes(dump)
    compose("down", "-v", timeout=300)
    assert not compose.leftovers()["volumes"]
    compose("up", "-d", "--wait", "postgres", timeout=300)
    compose("exec", "-T", "postgres", "pg_restore", "-U", "postgres", "-d", "facegate",
            "--no-owner", "--role=facegate", "--no-comments", input=dump)
    compose("up", "-d", "--scale", "worker=1")
    compose.wait_healthy({"gateway": 1, "worker": 1})
    assert _gallery_counts(compose) == before
    _identifies_obama(compose, state, faces)  # and the app's credentials still work
    report("backup_restore", {"dump_bytes": len(dump), **before})


def test_an_upgrade_applies_only_the_new_migrations(compose, tmp_path):
    """The gateway image of the commit before the newest migration, on an empty database,
    then this checkout's image (`up -d` recreates it): the new image applies only what the
    old one lacked."""
    newest = sorted((ROOT / "services/gallery/migrations").glob("*.sql"))[-1]
    added = run("git", "log", "--diff-filter=A", "--format=%H", "--",
                str(newest.relative_to(ROOT))).stdout.decode().split()[-1]
    archive = run("git", "archive", f"{added}^").stdout
    old_tag = "facegate-gateway:upgrade-test-old"
    build = run("docker", "build", "-q", "-f", "deploy/gateway.Dockerfile", "-t", old_tag,
                "-", input=archive, timeout=1800)
    old = build.stdout.decode().strip()
    try:
        compose("down", "-v", timeout=300)
        compose("up", "-d", "--wait", "postgres", "redis", timeout=600)
        # the old image predates the password files: it gets the passwords in its URLs
        passwords = {name: compose.exec_run("secrets", "cat", f"/run/facegate/{name}").strip()
                     for name in ("database_password", "redis_password")}
        override = tmp_path / "old-gateway.yaml"
        override.write_text(json.dumps({"services": {"gateway": {
            "image": old_tag,
            "environment": {
                "FACEGATE_DATABASE_URL": "postgresql://facegate:"
                f"{passwords['database_password']}@postgres:5432/facegate",
                "FACEGATE_REDIS_URL": f"redis://:{passwords['redis_password']}@redis:6379/0"},
        }}}))
        compose("-f", "compose.yaml", "-f", str(override), "up", "-d", "--wait", "gateway",
                timeout=600)
        old_versions = schema_versions(compose)
        compose("up", "-d", "--wait", "gateway", timeout=600)  # this checkout's image
        logs = compose("logs", "--no-log-prefix", "gateway").stdout.decode()
    finally:
        run("docker", "rmi", old, check=False)
    new_versions = schema_versions(compose)
    applied_by_new = APPLIED.findall(logs)
    assert newest.stem not in old_versions and new_versions[-1] == newest.stem
    assert applied_by_new == [v for v in new_versions if v not in old_versions]
    report("upgrade", {"old_image_from": added[:10] + "^", "old_schema": old_versions,
                       "applied_by_new_image": applied_by_new})


def test_down_v_leaves_no_container_network_or_volume(compose):
    compose("down", "-v", "--remove-orphans", timeout=300)
    left = compose.leftovers()
    assert left == {"containers": [], "networks": [], "volumes": []}, left
    report("left_after_down_v", left)
