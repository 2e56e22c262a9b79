"""The client's retry rules (services/client/client.py), on a scripted transport: which
answers are sent again and which are not. The real stack's 429 is in
tests/integration/test_native_gallery.py."""

from __future__ import annotations

import httpx
import pytest

from services.client import ApiError, Facegate


def _client(answers: list, sent: list, slept: list) -> Facegate:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return Facegate("http://facegate.test", "key", "secret", retries=3, backoff_s=0.1,
                    transport=httpx.MockTransport(handle), sleep=slept.append)


def _problem(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "error": {"code": code,
                                                                     "message": code}},
                          headers=headers)


def test_429_is_retried_after_retry_after():
    sent, slept = [], []
    fg = _client([_problem(429, "RATE_LIMIT", **{"Retry-After": "1"}),
                  _problem(429, "RATE_LIMIT"),
                  httpx.Response(200, json={"groups": []})], sent, slept)
    assert fg.groups() == []
    assert len(sent) == 3 and fg.retried == 2
    assert 0.8 <= slept[0] <= 1.2  # the server's Retry-After, with jitter
    assert 0.16 <= slept[1] <= 0.24  # then backoff: 0.1 * 2**1


def test_503_is_retried_only_where_a_second_try_changes_nothing():
    sent, slept = [], []
    fg = _client([_problem(503, "SYSTEM_BUSY"), httpx.Response(200, json={"groups": []})],
                 sent, slept)
    assert fg.groups() == []
    sent, slept = [], []
    fg = _client([_problem(503, "SYSTEM_BUSY")], sent, slept)
    with pytest.raises(ApiError) as busy:  # an enrolment without a key is not sent twice
        fg.enrol("g", b"image bytes")
    assert busy.value.status == 503 and len(sent) == 1
    fg = _client([_problem(503, "SYSTEM_BUSY"), httpx.Response(201, json={"face_id": 1})],
                 sent, slept)
    assert fg.enrol("g", b"image bytes", key="auto") == {"face_id": 1}


def test_cloudwalk_busy_codes_and_refused_connections_are_retried():
    sent, slept = [], []
    fg = _client([httpx.Response(200, json={"result": 4117, "info": "tps"}),
                  httpx.ConnectError("refused"),
                  httpx.Response(200, json={"result": 0, "info": "ok"})], sent, slept)
    assert fg.cloudwalk("/face/clustering/group/create", groupId="g")["result"] == 0
    assert len(sent) == 3


def test_retries_end_and_the_last_answer_stands():
    sent, slept = [], []
    fg = _client([_problem(429, "RATE_LIMIT")] * 4, sent, slept)
    with pytest.raises(ApiError) as limited:
        fg.groups()
    assert limited.value.status == 429 and len(sent) == 4  # 1 + retries


def test_an_auto_key_comes_from_the_image_or_its_url():
    """key="auto" gives the keys bulk loads get by default, so an enrolment retried after a
    503 enrols once; a URL's key is its own, not the literal word."""
    from shared.images import content_key, url_key

    sent_keys: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read()
        sent_keys.append(body.decode("latin-1"))
        return httpx.Response(201, json={"face_id": 1, "created": True, "group": "g"})

    fg = Facegate("http://facegate.test", "key", "secret", transport=httpx.MockTransport(handle))
    fg.enrol("g", b"image bytes", key="auto")
    fg.enrol("g", "http://photos.test/a.jpg", key="auto")
    assert content_key(b"image bytes") in sent_keys[0]
    assert url_key("http://photos.test/a.jpg") in sent_keys[1]
    assert "auto" not in sent_keys[1].replace("http://photos.test/a.jpg", "")
