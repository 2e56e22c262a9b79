"""Webhooks through the whole stack: a job's callback_url gets one signed POST when the job ends,
on a real receiver over a real connection; a receiver that fails is tried again; a URL the
delivery would refuse is refused with the job, and nothing is stored."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from services.recognition.webhooks import verify
from tests.conftest import app_headers, b64, make_app


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many POSTs first

    def wait(self, count: int, timeout: float = 90.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.received) >= count, f"{len(self.received)} deliveries, not {count}"
        return self.received


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            failing = state.fail_first > 0
            state.fail_first -= 1
            self.send_response(500 if failing else 204)
            self.end_headers()
            if not failing:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    yield state
    httpd.shutdown()


def _secret(client) -> str:
    answer = client.get("/v1/webhooks/secret")
    assert answer.status_code == 200, answer.text
    return answer.json()["secret"]


def _checked(client, delivery: tuple[dict[str, str], bytes]) -> dict:
    headers, body = delivery
    assert headers["content-type"] == "application/json"
    assert headers["x-facegate-event"] == "job.ended"
    assert verify(_secret(client), headers["x-facegate-timestamp"], body,
                  headers["x-facegate-signature"])
    assert not verify(_secret(client), headers["x-facegate-timestamp"], body + b" ",
                      headers["x-facegate-signature"])
    return json.loads(body)


def _delivered(client, job_id: str, timeout: float = 30.0) -> dict:
    """The job view once its delivery is recorded (it is saved just after the POST)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(f"/v1/jobs/{job_id}").json()
        if view.get("webhook", {}).get("status") == "delivered":
            return view
        time.sleep(0.2)
    raise AssertionError(f"job {job_id}'s delivery not recorded: {view.get('webhook')}")


def test_an_async_operation_posts_one_signed_event_when_it_ends(client, faces, receiver):
    answer = client.post("/v1/detect", json={"image": b64(faces["obama.jpg"]), "async": True,
                                             "callback_url": receiver.url})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    event = _checked(client, receiver.wait(1)[0])
    assert event["job_id"] == job_id and event["kind"] == "operation"
    assert event["status"] == "done" and event["op"] == "detect"
    view = _delivered(client, job_id)
    assert view["status"] == "done" and view["result"]["faces"]  # readable when announced
    assert view["webhook"]["attempts"] == 1 and view["webhook"]["last_status"] == 204
    time.sleep(2)
    assert len(receiver.received) == 1  # once


def test_an_ingestion_job_is_announced_with_its_counts_after_a_failed_attempt(client, faces,
                                                                            receiver):
    receiver.fail_first = 1  # the first POST is answered 500: tried again after 5 s
    group = f"hook{uuid.uuid4().hex[:8]}"
    assert client.post("/v1/groups", json={"name": group}).status_code == 201
    lines = [{"image": b64(faces["obama.jpg"]), "key": "a"},
             {"image": b64(faces["coffee.png"]), "key": "b"}]
    answer = client.post(f"/v1/groups/{group}/faces/bulk",
                         params={"callback_url": receiver.url},
                         content="\n".join(json.dumps(line) for line in lines),
                         headers={"content-type": "application/x-ndjson"})
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    event = _checked(client, receiver.wait(1, timeout=120)[0])
    assert event["job_id"] == job_id and event["kind"] == "ingest"
    assert event["status"] == "done" and event["group"] == group
    assert event["counts"]["enrolled"] == 1 and event["counts"]["no_face"] == 1
    webhook = _delivered(client, job_id)["webhook"]
    assert webhook["attempts"] == 2 and webhook["last_status"] == 204


def _group_of_two_faces(client, faces, prefix: str) -> str:
    """A new group holding obama's and biden's faces: its name."""
    group = f"{prefix}{uuid.uuid4().hex[:8]}"
    assert client.post("/v1/groups", json={"name": group}).status_code == 201
    for name in ("obama.jpg", "biden.jpg"):
        assert client.post(f"/v1/groups/{group}/faces",
                           json={"image": b64(faces[name])}).status_code in (200, 201)
    return group


def test_a_clustering_job_is_announced(client, faces, receiver):
    group = _group_of_two_faces(client, faces, "hookc")
    answer = client.post(f"/v1/groups/{group}/clusters", json={"callback_url": receiver.url})
    assert answer.status_code == 202, answer.text
    event = _checked(client, receiver.wait(1, timeout=120)[0])
    assert event["kind"] == "cluster" and event["status"] == "done"
    assert event["job_id"] == answer.json()["job_id"] and event["clusters"] >= 1


def test_a_re_embedding_is_announced_with_its_model_and_faces(client, faces, receiver):
    group = _group_of_two_faces(client, faces, "hookr")
    answer = client.post(f"/v1/groups/{group}/reembed",
                         json={"model": "arcface", "callback_url": receiver.url})
    assert answer.status_code == 202, answer.text
    event = _checked(client, receiver.wait(1, timeout=180)[0])
    assert event["kind"] == "reembed" and event["status"] == "done"
    assert event["job_id"] == answer.json()["job_id"] and event["group"] == group
    assert event["model"] == "arcface" and event["faces"] == 2 and event["skipped"] == 0
    assert _delivered(client, event["job_id"])["webhook"]["attempts"] == 1


def test_each_app_has_its_own_secret(stack, client):
    other = make_app(stack, f"hooks-{uuid.uuid4().hex[:6]}")
    import httpx

    with httpx.Client(base_url=stack.base_url, headers=app_headers(other)) as theirs:
        assert _secret(theirs) != _secret(client)


@pytest.mark.parametrize("url, reason", [
    ("http://10.1.2.3/hook", "public addresses"),
    ("http://no-such-host.invalid/hook", "public addresses"),  # the same words: no DNS map
    ("ftp://example.com/hook", "http"),
    ("http://127.0.0.1:0/hook", "port"),
])
def test_a_callback_url_the_delivery_would_refuse_refuses_the_job(client, faces, url, reason):
    group = f"hookr{uuid.uuid4().hex[:8]}"
    assert client.post("/v1/groups", json={"name": group}).status_code == 201
    before = client.get("/v1/jobs").json()["jobs"]
    answer = client.post(f"/v1/groups/{group}/faces/bulk", params={"callback_url": url},
                         json={"items": [{"image": b64(faces["obama.jpg"])}]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "PARAM_INVALID"
    assert reason in answer.json()["error"]["message"]
    assert client.get("/v1/jobs").json()["jobs"] == before  # nothing stored
    assert client.get(f"/v1/groups/{group}/faces").json()["total"] == 0


def test_a_callback_url_needs_a_job(client, faces, receiver):
    answer = client.post("/v1/detect", json={"image": b64(faces["obama.jpg"]),
                                             "callback_url": receiver.url})
    assert answer.status_code == 400 and "async" in answer.json()["error"]["message"]
