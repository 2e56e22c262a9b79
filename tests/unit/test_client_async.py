"""Facegate and AsyncFacegate run the same operations (services/client/facegate_client): the
same scenarios, on a scripted transport, give the same requests, retries and results on
both. tests/unit/test_client.py has the retry rules in detail on the sync client."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from services.client import ApiError, AsyncFacegate, Facegate, JobFailed


class _Blocking:
    """An AsyncFacegate whose methods are run to their end on one event loop, so a scenario
    is written once for both clients."""

    def __init__(self, client: AsyncFacegate, loop: asyncio.AbstractEventLoop) -> None:
        self._client, self._loop = client, loop

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._client, name)
        if not inspect.iscoroutinefunction(member):
            return member

        def run(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(member(*args, **kwargs))
        return run


Scripted = Callable[[list, list, list], Any]


@pytest.fixture(params=["sync", "async"])
def scripted(request) -> Iterator[Scripted]:
    """Makes a client (of either kind) answering from a script: answers are popped in turn,
    requests sent are recorded as (method, path, query), sleeps as seconds."""
    loop = asyncio.new_event_loop()
    made: list[Any] = []

    def make(answers: list, sent: list, slept: list) -> Any:
        def handle(request: httpx.Request) -> httpx.Response:
            sent.append((request.method, request.url.path, request.url.query.decode()))
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        options = {"retries": 3, "backoff_s": 0.1, "transport": httpx.MockTransport(handle)}
        if request.param == "sync":
            client = Facegate("http://facegate.test", "key", "secret", sleep=slept.append,
                              **options)
            made.append(client.close)
            return client

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        client = AsyncFacegate("http://facegate.test", "key", "secret", sleep=sleep, **options)
        made.append(lambda: loop.run_until_complete(client.close()))
        return _Blocking(client, loop)

    yield make
    for close in made:
        close()
    loop.close()


def _problem(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "error": {"code": code,
                                                                     "message": code}},
                          headers=headers)


def _job(status: str, done: int = 0) -> httpx.Response:
    return httpx.Response(200, json={"job_id": "j1", "status": status,
                                     "progress": {"done": done}})


def test_429_and_refused_connections_are_retried_and_503_only_when_idempotent(scripted):
    sent, slept = [], []
    fg = scripted([_problem(429, "RATE_LIMIT", **{"Retry-After": "1"}),
                   httpx.ConnectError("refused"),
                   httpx.Response(200, json={"total": 0, "page": 1, "groups": []})],
                  sent, slept)
    assert fg.groups() == []
    assert len(sent) == 3 and fg.retried == 2 and 0.8 <= slept[0] <= 1.2
    sent, slept = [], []
    fg = scripted([_problem(503, "SYSTEM_BUSY")], sent, slept)
    with pytest.raises(ApiError) as busy:  # an enrolment without a key is not sent twice
        fg.enrol("g", b"image bytes")
    assert busy.value.status == 503 and len(sent) == 1
    fg = scripted([_problem(503, "SYSTEM_BUSY"),
                   httpx.Response(201, json={"face_id": 1, "created": True, "group": "g"})],
                  sent, slept)
    assert fg.enrol("g", b"image bytes", key="auto")["face_id"] == 1
    assert len(sent) == 3


def test_create_group_with_exist_ok_and_errors_that_stand(scripted):
    sent, slept = [], []
    taken = _problem(409, "GROUP_CREATE")
    fg = scripted([httpx.Response(201, json={"name": "g"}), taken, taken], sent, slept)
    assert fg.create_group("g") is True
    assert fg.create_group("g", exist_ok=True) is False
    with pytest.raises(ApiError) as refused:
        fg.create_group("g")
    assert refused.value.code == "GROUP_CREATE" and slept == []


def test_jobs_are_polled_to_their_end_with_progress(scripted):
    sent, slept = [], []
    fg = scripted([_job("running", 1), _job("running", 2), _job("done", 3)], sent, slept)
    seen: list[int] = []
    job = fg.wait_for_jobs(["j1"], poll_s=0.5,
                           on_progress=lambda jobs: seen.append(jobs[0]["progress"]["done"]))
    assert job[0]["status"] == "done" and seen == [1, 2, 3]
    assert slept == [0.5, 0.5] and [path for _, path, _ in sent] == ["/v1/jobs/j1"] * 3
    fg = scripted([_job("failed")], sent, slept)
    with pytest.raises(JobFailed):
        fg.wait_for_job("j1")
    fg = scripted([_job("running")], sent, slept)
    with pytest.raises(TimeoutError):  # a deadline already passed: one poll, then the end
        fg.wait_for_jobs(["j1"], timeout_s=-1, poll_s=0)


def test_pages_are_followed_to_the_last(scripted):
    sent, slept = [], []
    full = [{"index": i, "status": "enrolled"} for i in range(5000)]
    fg = scripted([httpx.Response(200, json={"job_id": "j1", "offset": 0, "items": full}),
                   httpx.Response(200, json={"job_id": "j1", "offset": 5000, "items": [
                       {"index": 5000, "status": "failed"}]})], sent, slept)
    assert len(fg.all_job_items("j1")) == 5001
    assert "offset=5000" in sent[1][2]
    page = {"group": "g", "total": 3, "clusters": [{"cluster_id": 1}, {"cluster_id": 2}]}
    fg = scripted([httpx.Response(200, json=page),
                   httpx.Response(200, json={**page, "clusters": [{"cluster_id": 3}]})],
                  sent, slept)
    assert [c["cluster_id"] for c in fg.all_clusters("g")] == [1, 2, 3]


def test_answers_bytes_and_cloudwalk_bodies(scripted):
    sent, slept = [], []
    fg = scripted([httpx.Response(200, content=b"\xff\xd8jpeg"),
                   httpx.Response(200, json={"result": 4098, "info": "busy"}),
                   httpx.Response(200, json={"result": 0, "info": "ok"}),
                   _problem(404, "FACE_NOT_FOUND")], sent, slept)
    assert fg.thumbnail("g", 1) == b"\xff\xd8jpeg"
    assert fg.cloudwalk("/face/clustering/group/create", groupId="g")["result"] == 0
    with pytest.raises(ApiError) as missing:
        fg.delete_face("g", 1)
    assert missing.value.status == 404 and missing.value.code == "FACE_NOT_FOUND"
    assert [method for method, _, _ in sent] == ["GET", "POST", "POST", "DELETE"]


def test_every_request_carries_the_credentials_and_the_client_version():
    from services.client.facegate_client import __version__

    seen: list[httpx.Headers] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"recommended_score": 0.5, "models": []})

    async def scenario() -> None:
        async with AsyncFacegate("http://facegate.test/", "key", "secret", admin_secret="a",
                                 transport=httpx.MockTransport(handle)) as fg:
            await asyncio.gather(fg.models(), fg.models())

    asyncio.run(scenario())
    assert len(seen) == 2
    assert seen[0]["app_id"] == "key" and seen[0]["app_secret"] == "secret"
    assert seen[0]["admin_secret"] == "a"
    assert seen[0]["user-agent"] == f"facegate-client/{__version__}"
