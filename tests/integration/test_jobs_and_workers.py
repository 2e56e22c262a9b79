"""The native /v1 API: synchronous calls, jobs polled to completion, batching across tasks in
one worker, and a job that survives its worker being killed mid-task."""

import io
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from shared.tasks import STATS_TASK, make_celery
from tests.conftest import b64


def _poll(client, job_id, until=("done", "failed"), timeout=120.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}").json()
        seen.append(body["status"])
        if body["status"] in until:
            return body, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {seen[-1]} after {timeout} s")


def test_native_sync_compare(client, faces):
    response = client.post("/v1/compare", json={"image_a": b64(faces["obama.jpg"]),
                                               "image_b": b64(faces["biden.jpg"])})
    assert response.status_code == 200
    body = response.json()
    assert body["same_person"] is False and body["model"] == "facenet-vggface2-m32"
    assert len(body["face_a"]["landmarks"]) == 5


def test_models_publish_the_calibration_the_scores_use(client, faces):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == {"facenet", "facenet-m14", "arcface"}
    assert models["facenet"]["active"] and models["facenet"]["key"] == "facenet-vggface2-m32"
    for model in models.values():
        points = model["calibration"]["operating_points"]
        assert [(p["score"], p["fmr"]) for p in points] == [
            (0.5, 1e-1), (0.6, 1e-2), (0.7, 1e-3), (0.8, 1e-4), (0.9, 1e-5)]
        recommended = next(p for p in points if p["score"] == 0.8)
        assert model["cosine_threshold"] == pytest.approx(recommended["cosine"], abs=1e-4)
    # a real same-person pair scores as the published table says: above 0.8 by its cosine
    body = client.post("/v1/compare", json={"image_a": b64(faces["obama.jpg"]),
                                           "image_b": b64(faces["obama2.jpg"])}).json()
    assert body["same_person"] is True and body["score"] >= 0.8


def test_job_submitted_polled_and_finished(client, faces):
    response = client.post("/v1/jobs", json={"op": "detect", "image": b64(faces["t1.jpg"])})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    body, seen = _poll(client, job_id)
    assert body["status"] == "done" and len(body["result"]["faces"]) == 6
    assert seen[0] in ("queued", "running", "done")


def test_failed_job_reports_its_error_and_unknown_job_is_404(client, faces):
    job_id = client.post("/v1/jobs", json={"op": "feature", "image": b64(faces["coffee.png"])}
                         ).json()["job_id"]
    body, _ = _poll(client, job_id)
    assert body["status"] == "failed" and body["error"]["cloudwalk_code"] == 8464
    missing = client.get("/v1/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert client.post("/v1/jobs", json={"op": "dance"}).status_code == 400


def test_worker_batches_faces_of_concurrent_tasks(stack, client, faces):
    payload = {"image_a": b64(faces["obama.jpg"]), "image_b": b64(faces["obama2.jpg"])}
    with ThreadPoolExecutor(12) as pool:
        bodies = list(pool.map(lambda _: client.post("/v1/compare", json=payload).json(),
                               range(12)))
    assert all(body["same_person"] for body in bodies)
    app = make_celery(stack.settings.changed(redis_url=stack.redis_url), "test-stats")
    stats = app.send_task(STATS_TASK).get(timeout=60)
    # 12 requests x 2 faces went through in fewer passes than faces: tasks shared passes.
    assert max(stats["embed"]["recent_sizes"]) >= 2
    assert stats["embed"]["batches"] < stats["embed"]["items"]


def _slow_job_running(client, faces) -> str:
    """A detect job on a large group photo, which keeps the CPU detector busy for seconds
    (time to stop its worker), once a worker has started it."""
    group = Image.open(io.BytesIO(faces["t1.jpg"])).resize((3200, 2215))
    buffer = io.BytesIO()
    group.save(buffer, "JPEG", quality=90)
    job_id = client.post("/v1/jobs", json={"op": "detect", "image": b64(buffer.getvalue())}
                         ).json()["job_id"]
    _poll(client, job_id, until=("running",), timeout=60)
    return job_id


@pytest.mark.slow
def test_job_survives_its_worker_being_killed_mid_task(stack, client, faces):
    job_id = _slow_job_running(client, faces)
    victim = next(w for w in stack.workers if w.poll() is None)
    stack.kill_worker(victim)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    stack.start_worker()
    stack.wait_for_workers()
    body, _ = _poll(client, job_id, timeout=240)
    assert body["status"] == "done"
    assert len(body["result"]["faces"]) >= 6  # upscaled, MTCNN may add a few non-faces


@pytest.mark.slow
def test_a_stopping_worker_finishes_the_task_in_hand(stack, client, faces):
    """SIGTERM is Celery's warm shutdown: the job in hand completes, with no other worker
    around to take it over, and then the worker exits."""
    job_id = _slow_job_running(client, faces)
    alive = [w for w in stack.workers if w.poll() is None]
    for worker in alive:
        os.killpg(worker.pid, signal.SIGTERM)
    body, _ = _poll(client, job_id, timeout=120)
    assert body["status"] == "done" and len(body["result"]["faces"]) >= 6
    for worker in alive:
        assert worker.wait(60) == 0  # and then they are gone, cleanly (a warm shutdown)
    stack.start_worker()  # the rest of the suite needs one
    stack.wait_for_workers()
