"""The worker's tasks in an embedded Celery worker (pytest-celery's celery_session_worker, from
its celery.contrib.pytest fixtures) built by the worker's own factory, against the stack's real
Redis and PostgreSQL. The worker consumes a queue of its own, so the stack's worker process
never takes these tasks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared import canonical
from shared.tasks import BULK_ENROL_TASK, VISION_TASK
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


def test_bulk_enrol_task_enrols_each_item_once(celery_session_app, celery_session_worker,
                                               client, test_app, faces):
    group = "workertask"
    assert client.post("/face/clustering/group/create",
                       data={"groupId": group}).json()["result"] == 0
    items = [{"index": i, "data": faces[name], "tag": name, "key": f"item-{i}"}
             for i, name in enumerate(["obama.jpg", "biden.jpg", "coffee.png"])]
    request = {"app": test_app.app.id, "group": group, "items": items}
    first = _run(celery_session_app, BULK_ENROL_TASK, request)["items"]
    assert [o["status"] for o in first] == ["enrolled", "enrolled", "no_face"]
    assert all(o["created"] for o in first[:2])
    again = _run(celery_session_app, BULK_ENROL_TASK, request)["items"]  # a redelivery
    assert [(o["face_id"], o["created"]) for o in again[:2]] == \
        [(o["face_id"], False) for o in first[:2]]
    query = client.post("/face/clustering/group/query", data={
        "type": "queryByGroupId", "groupId": group, "faceCount": "true"}).json()
    assert query["rows"][0]["count"] == 2
