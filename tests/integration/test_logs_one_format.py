"""One log format across the stack: every line the gateway and worker processes write is a
JSON object (uvicorn's and Celery's lines too, no banner), each request has one access line
without its query string, and the worker's lines for a request carry the gateway's request id."""

from __future__ import annotations

import json
import time
import uuid

from tests.conftest import b64


def _lines(path) -> list[dict]:
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}:{number} is not a JSON line: {line[:200]}"
                                 ) from None
    return entries


def test_every_line_is_json_and_one_request_is_followed_into_the_worker(stack, client, faces):
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    answer = client.post("/v1/detect?secret_token=do-not-log", json={
        "image": b64(faces["obama.jpg"])}, headers={"X-Request-Id": request_id})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 20
    while True:
        gateway = [e for f in sorted(stack.log_dir.glob("gateway*.log")) for e in _lines(f)]
        worker = [e for f in sorted(stack.log_dir.glob("worker*.log")) for e in _lines(f)]
        ours = [e for e in worker if e.get("request_id") == request_id]
        access = [e for e in gateway
                  if e.get("request_id") == request_id and e["msg"] == "request"]
        celery = [e for e in ours if e["logger"].startswith("celery")]
        if (celery and access) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ours, "no worker line carries the request id"
    assert celery, ours  # Celery's own task lines carry it
    assert not any("embedding" in e["msg"] or "{" in e["msg"] for e in ours), ours  # no results
    assert len(access) == 1  # one access line, the gateway's
    assert "do-not-log" not in json.dumps(gateway)  # no query string
    assert any(e["logger"].startswith("uvicorn") for e in gateway)  # uvicorn's lines are JSON
    assert not any("celery@" in json.dumps(e) and "banner" in json.dumps(e) for e in worker)
