"""The worker's tasks in an embedded Celery worker (pytest-celery's celery_session_worker, from
its celery.contrib.pytest fixtures) built by the worker's own factory, against the stack's real
Redis and PostgreSQL. The worker consumes a queue of its own, so the stack's worker process
never takes these tasks."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from services.gallery.database import Gallery
from services.gallery.ingest import NewItem
from shared import canonical
from shared.tasks import INGEST_CHUNK_TASK, VISION_TASK
from workers.celery_app import create_worker_app

TEST_QUEUE = "facegate.test-worker"


@pytest.fixture(scope="session")
def celery_session_app(stack, engine):
    settings = replace(stack.settings, redis_url=stack.redis_url,
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
        canonical.image_spec(faces["biden.jpg"], embed=True),
        canonical.image_spec(b"not an image")]})
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
        settings = replace(stack.settings, database_url=stack.database_url)
        gallery = await Gallery.for_settings(settings, 2, False)
        try:
            return await gallery.ingest.create(test_app.app.id, group, items)
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
