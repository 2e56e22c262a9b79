"""Ingestion jobs through the real stack: archives, JSON lines and URL lists in; chunks across
workers; progress, paged results, cancel, resume; a worker killed mid-load (the test stack
runs chunks of 4 items: FACEGATE_INGEST_CHUNK in tests/conftest.py)."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import uuid

import psycopg
import pytest

from services.cli.ingest import Photo, submit_photos
from tests.conftest import b64

ENROLLABLE = ("obama.jpg", "biden.jpg", "astronaut.png", "obama3.jpg", "yaoming.jpg")


def _group(client) -> str:
    name = f"ingest{uuid.uuid4().hex[:10]}"
    assert client.post("/face/clustering/group/create",
                       data={"groupId": name}).json()["result"] == 0
    return name


def _photos(faces, count: int, prefix: str) -> list[Photo]:
    """`count` enrollable photos with distinct keys (the same images repeat)."""
    return [Photo(f"{prefix}/{i:04d}_{ENROLLABLE[i % len(ENROLLABLE)]}",
                  faces[ENROLLABLE[i % len(ENROLLABLE)]], key=f"{prefix}-{i}")
            for i in range(count)]


def _wait(client, job_id: str, timeout: float = 300, until=("done", "cancelled", "failed")
          ) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}").json()
        if body["status"] in until:
            return body
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not reach {until}: {body}")


def _face_count(client, group: str) -> int:
    return client.post("/face/clustering/group/query", data={
        "type": "queryByGroupId", "groupId": group, "faceCount": "true"}).json()["rows"][0][
        "count"]


def _all_items(client, job_id: str) -> list[dict]:
    items, url = [], f"/v1/jobs/{job_id}/items?limit=7"
    while url:
        page = client.get(url).json()
        items += page["items"]
        url = page.get("next")
    return items


def test_a_chunked_archive_job_runs_on_two_workers_and_enrols_each_photo_once(
        facegate, stack, client, faces):
    second = stack.start_worker()
    try:
        stack.wait_for_workers()
        group = _group(client)
        accepted = submit_photos(facegate, group, _photos(faces, 20, "two"))
        assert accepted["total"] == 20
        body = _wait(client, accepted["job_id"])
        assert body["status"] == "done", body
        assert body["counts"] == {"enrolled": 20} and body["faces_created"] == 20
        assert body["progress"]["done"] == body["progress"]["total"] == 20
        assert body["progress"]["rate_per_s"] > 0 and body["progress"]["eta_s"] is None
        with psycopg.connect(stack.database_url) as conn:
            workers = conn.execute("SELECT count(DISTINCT worker), count(*) FROM ingest_chunks "
                                   "WHERE job_id = %s", (accepted["job_id"],)).fetchone()
        assert workers == (2, 5)  # five chunks of four, finished by both worker processes
        items = _all_items(client, accepted["job_id"])  # pages of 7: 3 pages
        assert [item["index"] for item in items] == list(range(20))
        assert [item["key"] for item in items] == [f"two-{i}" for i in range(20)]
        assert items[0]["tag"] == "two/0000_obama.jpg"  # the path in the archive
        assert len({item["face_id"] for item in items}) == 20
        assert _face_count(client, group) == 20
    finally:
        # stays in stack.workers (dead): a worker's metrics port follows its place there
        stack.kill_worker(second)


def test_json_lines_mixed_outcomes_and_a_failing_url(stack, client, faces):
    """Every outcome in one job; URLs are fetched by the workers, and one that fails is a
    bad_image with the fetch's reason."""
    served = {"/biden.jpg": faces["biden.jpg"], "/coffee.png": faces["coffee.png"]}

    class Images(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = served.get(self.path)
            self.send_response(200 if data else 404)
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        group = _group(client)
        lines = [{"image": b64(faces["obama.jpg"]), "tag": "inline", "key": "a"},
                 {"image_url": f"{base}/biden.jpg", "tag": "by url", "key": "b"},
                 {"image_url": f"{base}/missing.jpg", "key": "c"},
                 {"image_url": f"{base}/coffee.png", "key": "d"},
                 {"image": b64(b"GIF89a not really"), "key": "e"},
                 {"image_url": "ftp://example.com/x.jpg", "key": "f"}]
        response = client.post(f"/v1/groups/{group}/faces/bulk",
                               content="\n".join(json.dumps(line) for line in lines),
                               headers={"content-type": "application/x-ndjson"})
        assert response.status_code == 202, response.text
        body = _wait(client, response.json()["job_id"])
        assert body["status"] == "done"
        statuses = {item["key"]: item for item in body["result"]["items"]}
        assert {k: v["status"] for k, v in statuses.items()} == {
            "a": "enrolled", "b": "enrolled", "c": "bad_image", "d": "no_face",
            "e": "bad_image", "f": "bad_image"}
        assert "404" in statuses["c"]["error"]["message"] or "HTTP 404" in json.dumps(
            statuses["c"]["error"])
        assert body["counts"] == {"enrolled": 2, "bad_image": 3, "no_face": 1}
        enrolled = client.get(f"/v1/jobs/{body['job_id']}/items?status=enrolled").json()
        assert [item["key"] for item in enrolled["items"]] == ["a", "b"]
    finally:
        httpd.shutdown()


def test_a_cancelled_job_writes_nothing_more(facegate, stack, client, faces):
    group = _group(client)
    accepted = submit_photos(facegate, group, _photos(faces, 48, "cancel"))
    _wait(client, accepted["job_id"], timeout=120, until=("running",))
    cancelled = client.post(f"/v1/jobs/{accepted['job_id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["counts"].get("cancelled", 0) > 0
    assert cancelled["progress"]["done"] == 48
    time.sleep(3)  # chunks in a worker's hands when it was cancelled finish: they write nothing
    after = client.get(f"/v1/jobs/{accepted['job_id']}").json()
    assert after["counts"] == cancelled["counts"]
    assert _face_count(client, group) == cancelled["counts"].get("enrolled", 0)
    missing = client.post(f"/v1/jobs/{uuid.uuid4()}/cancel")
    assert missing.status_code == 404


def test_resubmitting_an_interrupted_load_resumes_it(facegate, stack, client, faces):
    group = _group(client)
    photos = _photos(faces, 24, "resume")
    first = submit_photos(facegate, group, photos)
    _wait(client, first["job_id"], timeout=120, until=("running",))
    deadline = time.monotonic() + 120
    while client.get(f"/v1/jobs/{first['job_id']}").json()["progress"]["done"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.post(f"/v1/jobs/{first['job_id']}/cancel")  # the load is interrupted
    done_before = {item["key"]: item["face_id"] for item in _all_items(client, first["job_id"])
                   if item["status"] == "enrolled"}
    assert 0 < len(done_before) < 24
    again = _wait(client, submit_photos(facegate, group, photos)["job_id"])
    assert again["status"] == "done" and again["counts"] == {"enrolled": 24}
    assert again["faces_created"] == 24 - len(done_before)
    items = {item["key"]: item for item in _all_items(client, again["job_id"])}
    for key, face_id in done_before.items():  # what was done is found, not made again
        assert items[key]["face_id"] == face_id and items[key]["created"] is False
    assert _face_count(client, group) == 24


@pytest.mark.slow
def test_a_worker_killed_mid_load_costs_one_chunk_and_enrols_nothing_twice(
        facegate, stack, client, faces):
    group = _group(client)
    accepted = submit_photos(facegate, group, _photos(faces, 32, "kill"))
    deadline = time.monotonic() + 120
    while client.get(f"/v1/jobs/{accepted['job_id']}").json()["progress"]["done"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    victim = next(w for w in stack.workers if w.poll() is None)
    stack.kill_worker(victim)  # chunks in its hands go back to the queue (acks_late)
    stack.start_worker()
    stack.wait_for_workers()
    body = _wait(client, accepted["job_id"], timeout=300)
    assert body["status"] == "done" and body["counts"] == {"enrolled": 32}
    assert body["faces_created"] == 32
    assert _face_count(client, group) == 32
    with psycopg.connect(stack.database_url) as conn:
        keys = conn.execute("SELECT count(*), count(DISTINCT request_key) FROM faces f "
                            "JOIN groups g ON g.id = f.group_id WHERE g.name = %s",
                            (group,)).fetchone()
    assert keys == (32, 32)


def test_bad_ingestion_requests_are_refused_whole(client, faces):
    group = _group(client)
    cases = [({"items": "[]"}, 400), ({"urls": "[1, 2]"}, 400), ({}, 400)]
    for data, status in cases:
        response = client.post(f"/v1/groups/{group}/faces/bulk", json=data)
        assert response.status_code == status, (data, response.text)
    response = client.post(f"/v1/groups/{group}/faces/bulk", content=b"not a tar at all",
                           headers={"content-type": "application/x-tar"})
    assert response.status_code == 400 and "archive" in response.json()["detail"]
    response = client.post(f"/v1/groups/{group}/faces/bulk", content=b"name,tag\nx,y\n",
                           headers={"content-type": "text/csv"})
    assert response.status_code == 400 and "url" in response.json()["detail"]
    assert _face_count(client, group) == 0
    assert client.get(f"/v1/jobs/{uuid.uuid4()}/items").status_code == 404


def test_the_autoscalers_pending_ingestion_query_runs_on_the_schema(stack):
    """deploy/k8s/keda.yaml scales workers on this query; it must run on the real tables."""
    import yaml

    from tests.unit.test_deploy import DEPLOY

    scaled = next(doc for doc in yaml.safe_load_all((DEPLOY / "k8s/keda.yaml").read_text())
                  if doc and doc["kind"] == "ScaledObject")
    [query] = [t["metadata"]["query"] for t in scaled["spec"]["triggers"]
               if t["type"] == "postgresql"]
    with psycopg.connect(stack.database_url) as conn:
        [(pending,)] = conn.execute(query).fetchall()
    assert isinstance(pending, int)


def _ingest_command(stack, test_app, folder, group, *extra):
    import subprocess
    import sys

    command = [sys.executable, "-m", "services.cli.main", "ingest", str(folder), "--group",
               group, "--create", "--url", stack.base_url, *extra]
    env = {**os.environ, "FACEGATE_APP_ID": test_app.app.api_key,
           "FACEGATE_APP_SECRET": test_app.secret}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def test_the_ingest_command_loads_a_directory_and_resumes(stack, test_app, facegate, faces,
                                                         tmp_path):
    """`facegate ingest DIR --group G --create`, run twice as a user would: the second run
    finds every photo sent (its state file) and reports the same outcomes."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in (*ENROLLABLE, "coffee.png"):
        (photos / name).write_bytes(faces[name])
    (photos / "notes.txt").write_text("not a photo")  # not sent: not a photo suffix
    group = f"cli{uuid.uuid4().hex[:8]}"
    state = ["--state", str(tmp_path / "state.json"), "--batch", "4"]
    for attempt in range(2):
        run = _ingest_command(stack, test_app, photos, group, *state)
        assert run.returncode == 0, run.stderr
        assert "enrolled 5" in run.stderr and "no_face 1" in run.stderr
        assert run.stdout.count("job ") == 2  # 6 photos in batches of 4
        assert ("resuming: 6 of 6" in run.stderr) == (attempt == 1)
    assert len(facegate.faces(group)) == 5


def test_the_ingest_command_splits_by_bytes_and_sends_only_what_is_new(stack, test_app,
                                                                       facegate, faces,
                                                                       tmp_path):
    """Bodies under --max-body (each photo alone here), and a run after an interrupted one
    (the first was told not to wait, then photos were added) sends only the rest."""
    photos = tmp_path / "photos"
    photos.mkdir()
    first, later = ENROLLABLE[:2], ENROLLABLE[2:]
    for name in first:
        (photos / name).write_bytes(faces[name])
    from services.cli.ingest import _photo_batches

    max_body = max(len(faces[name]) for name in ENROLLABLE) + 1024  # the largest fits alone
    group = f"cli{uuid.uuid4().hex[:8]}"
    extra = ["--state", str(tmp_path / "state.json"), "--max-body", str(max_body)]
    run = _ingest_command(stack, test_app, photos, group, *extra, "--no-wait")
    assert run.returncode == 0, run.stderr
    jobs = len(run.stdout.split())
    assert jobs == len(list(_photo_batches(sorted(photos.iterdir()), 1000, max_body)))
    for name in later:
        (photos / name).write_bytes(faces[name])
    newer = sorted(photos / name for name in later)
    later_jobs = len(list(_photo_batches(newer, 1000, max_body)))
    assert jobs + later_jobs > 2  # the folder took more than one body
    run = _ingest_command(stack, test_app, photos, group, *extra)
    assert run.returncode == 0, run.stderr
    assert f"resuming: {len(first)} of {len(ENROLLABLE)}" in run.stderr
    assert f"enrolled {len(ENROLLABLE)}" in run.stderr
    assert run.stdout.count("job ") == jobs + later_jobs
    assert len(facegate.faces(group)) == len(ENROLLABLE)


def test_the_ingest_command_fails_in_one_line(stack, test_app, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    for extra, env_secret, expected in (
            (["--url", "http://127.0.0.1:9"], None, "cannot reach facegate at"),
            ([], "wrong", "the server refused: HTTP 401")):
        import subprocess
        import sys

        command = [sys.executable, "-m", "services.cli.main", "ingest", str(tmp_path),
                   "--group", "g", "--url", stack.base_url, *extra,
                   "--state", str(tmp_path / "s.json")]
        env = {**os.environ, "FACEGATE_APP_ID": test_app.app.api_key,
               "FACEGATE_APP_SECRET": env_secret or test_app.secret}
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], run.stderr
        assert "Traceback" not in run.stderr
