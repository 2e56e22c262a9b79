"""The worker's tasks in an embedded Celery worker (pytest-celery's celery_session_worker, from
its celery.contrib.pytest fixtures) built by the worker's own factory, against the stack's real
Redis and PostgreSQL. The worker consumes a queue of its own, so the stack's worker process
never takes these tasks."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.gallery.database import Gallery
from services.gallery.ingest import NewItem
from shared.tasks import CLUSTER_TASK, INGEST_CHUNK_TASK, VISION_TASK, image_spec
from workers.celery_app import create_worker_app

TEST_QUEUE = "facegate.test-worker"


@pytest.fixture(scope="session")
def celery_session_app(stack, engine):
    settings = stack.settings.changed(redis_url=stack.redis_url,
                                      database_url=stack.database_url)
    return create_worker_app(settings, engine=engine, serve_metrics=False)


@pytest.fixture(scope="session")
def celery_worker_parameters():
    return {"queues": (TEST_QUEUE,), "perform_ping_check": False}


def _run(app, task: str, request: dict) -> dict:
    return app.send_task(task, args=[request], queue=TEST_QUEUE).get(timeout=120)


def test_vision_task_reports_faces_and_errors_per_image(celery_session_app,
                                                        celery_session_worker, faces):
    result = _run(celery_session_app, VISION_TASK, {"images": [
        image_spec(faces["biden.jpg"], embed=True),
        image_spec(b"not an image")]})
    found, broken = result["images"]
    assert len(found["faces"]) == 1 and len(found["faces"][0]["embedding"]) == 4 * 512
    assert broken["error"]["error"] == "IMAGE_FORMAT"


def test_ingest_chunk_task_enrols_each_item_once(celery_session_app, celery_session_worker,
                                                 stack, client, test_app, faces):
    """The chunk task twice on the same items (a redelivery): the second run finds nothing
    pending and writes nothing; the job's counts stay exact."""
    group = "workertask"
    assert client.post("/face/clustering/group/create",
                       data={"groupId": group}).json()["result"] == 0
    items = [NewItem(f"item-{i}", name, image=faces[name])
             for i, name in enumerate(["obama.jpg", "biden.jpg", "coffee.png"])]

    async def create() -> str:  # stored, but no chunk handed out: this test runs the chunk
        settings = stack.settings.changed(database_url=stack.database_url)
        gallery = await Gallery.for_settings(settings, 2, False)
        try:
            async def batches():
                yield items

            job_id, total = await gallery.ingest.create(test_app.app.id, group, batches())
            assert total == 3
            return job_id
        finally:
            await gallery.close()

    job_id = asyncio.run(create())
    chunk = {"job_id": job_id, "start": 0, "stop": 3}
    first = _run(celery_session_app, INGEST_CHUNK_TASK, chunk)
    assert first == {"job_id": job_id, "state": "done", "done": 3, "total": 3}
    again = _run(celery_session_app, INGEST_CHUNK_TASK, chunk)  # a redelivery
    assert again == {"job_id": job_id, "state": "ended"}
    body = client.get(f"/v1/jobs/{job_id}").json()
    assert body["counts"] == {"enrolled": 2, "no_face": 1} and body["faces_created"] == 2
    query = client.post("/face/clustering/group/query", data={
        "type": "queryByGroupId", "groupId": group, "faceCount": "true"}).json()
    assert query["rows"][0]["count"] == 2


@pytest.mark.parametrize(("task", "payload", "says"), [
    (VISION_TASK, {"images": []}, "images: List should have at least 1 item"),
    (VISION_TASK, {"images": [{"data": "not bytes"}]}, "images.0.data: Input should be a "
                                                        "valid bytes"),
    (VISION_TASK, {"images": [{"data": b"x", "faces": "some"}]}, "images.0.faces"),
    (VISION_TASK, {"images": [{"data": b"x", "analyse": ["mood"]}]}, "images.0.analyse.0"),
    (VISION_TASK, "images", "payload: Input should be a valid dictionary"),
    (INGEST_CHUNK_TASK, {"job_id": "1", "start": 0, "stop": 4}, "job_id: String should match"),
    (INGEST_CHUNK_TASK, {"job_id": "12345678-1234-1234-1234-123456789abc", "start": 4,
                         "stop": 2}, "stop (2) must be greater than start (4)"),
    (INGEST_CHUNK_TASK, {"job_id": "12345678-1234-1234-1234-123456789abc", "start": 0},
     "stop: Field required"),
    (CLUSTER_TASK, {"run_id": "../etc"}, "run_id: String should match"),
    (CLUSTER_TASK, {}, "run_id: Field required"),
])
def test_a_malformed_task_is_refused_at_the_boundary(celery_session_app, celery_session_worker,
                                                     caplog: pytest.LogCaptureFixture,
                                                     task: str, payload: object, says: str):
    """Sent over the real broker to the real worker: answered with an engine error that says
    what is wrong, logged once by the contract (shared/tasks.py), never reaching a model."""
    with caplog.at_level(logging.ERROR, logger="facegate.tasks"):
        result = _run(celery_session_app, task, payload)
    assert result["error"]["error"] == "ENGINE"
    assert result["error"]["detail"].startswith(f"malformed {task} task: ")
    assert says in result["error"]["detail"]
    refused = [r.getMessage() for r in caplog.records if r.name == "facegate.tasks"]
    assert len(refused) == 1 and says in refused[0] and "refused a malformed" in refused[0]
