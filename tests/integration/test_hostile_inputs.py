"""Hostile input that used to reach the database or the parser unchecked, the body limit on
chunked uploads, and the brute-force guard: each refused in the caller's dialect, over real
HTTP to the real stack."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import psycopg

from services.gallery.apps import server_key
from tests.conftest import app_headers, b64, make_app

BAIDU = "/rest/2.0/face/v2"


def _baidu_token(stack, app) -> str:
    return httpx.get(f"{stack.base_url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": app.app.api_key,
        "client_secret": app.secret}).json()["access_token"]


def test_text_and_numbers_that_would_upset_postgresql_are_parameter_errors(stack, client,
                                                                           test_app):
    tag = client.post("/face/clustering/group/create", data={"groupId": "nul1", "tag": "a\0b"})
    assert tag.json()["result"] == 4101 and "NUL" in tag.json()["info"]
    page = client.post("/face/clustering/group/query", data={
        "type": "queryByPage", "pageNumber": str(10**30)})
    assert page.json()["result"] == 4101
    face = client.post("/face/clustering/face/query", data={"groupId": "g", "faceId": "9" * 40})
    assert face.json()["result"] == 4101
    token = _baidu_token(stack, test_app)
    start = httpx.post(f"{stack.base_url}{BAIDU}/faceset/group/getlist",
                       params={"access_token": token}, data={"start": str(10**30)})
    assert start.json()["error_code"] == 216100


def test_json_nested_deeper_than_the_parser_allows_is_a_parameter_error(client):
    deep = "[" * 100_000 + "]" * 100_000
    native = client.post("/v1/detect", content=deep,
                         headers={"content-type": "application/json"})
    assert native.status_code == 400 and native.json()["error"]["code"] == "PARAM_INVALID"
    cloudwalk = client.post("/face/tool/detect", content='{"img": ' + deep + "}",
                            headers={"content-type": "application/json"})
    assert cloudwalk.json()["result"] == 4101


def test_a_path_with_a_line_break_is_answered_in_json(stack, client):
    # such a path matches no mount's prefix: the app itself answers, still in JSON
    # (found by tests/fuzz drawing ID numbers from the document's pattern, whitespace included)
    for path in ("/v1/identities/%0A110105194912310021", "/face/tool%0A/detect", "/%0A"):
        answer = client.delete(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "NOT_SUPPORTED", path
    # and JSON log lines stay one per line with Unicode line breaks in the path
    client.delete("/v1/identities/%E2%80%A8%C2%85x")
    time.sleep(0.5)
    lines = (stack.log_dir / "gateway.log").read_text(errors="replace").splitlines()
    assert all(json.loads(line) for line in lines if line.startswith("{"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_chunked_body_is_cut_off_at_the_limit(stack, client):
    """200 MB without a Content-Length: refused once 32 MiB (the limit) have arrived; the
    gateway does not buffer the rest."""
    before = _rss_mb(stack.gateway.pid)
    sent = 0

    def body():
        nonlocal sent
        chunk = b"A" * 2**20
        for _ in range(200):
            sent += len(chunk)
            yield chunk

    for path, content_type in (("/v1/detect", "application/json"),
                               ("/face/tool/detect", "application/x-www-form-urlencoded")):
        try:
            response = client.post(path, content=body(), headers={"content-type": content_type})
        except httpx.TransportError:  # the server may close while the client still writes
            continue
        if path.startswith("/v1"):
            assert response.status_code == 400 and "over" in response.json()["error"]["message"]
        else:
            assert response.json()["result"] == 4101
    assert _rss_mb(stack.gateway.pid) - before < 100


def test_a_signed_but_malformed_baidu_token_is_a_token_error(stack):
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        key = server_key(conn, "oauth-token")
    body = f"{'9' * 30}.x.nonce"
    signature = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:40]
    answer = httpx.post(f"{stack.base_url}{BAIDU}/faceset/group/getlist",
                        params={"access_token": f"{body}.{signature}"}).json()
    assert answer["error_code"] == 110


def test_failed_authentication_is_limited_per_address(stack, faces):
    """A gateway whose guard allows 5 failures in 4 s: the 6th attempt from the address is
    refused even with the right secret, in each dialect's code, until the window ends."""
    guarded = stack.start_extra_gateway({"FACEGATE_AUTH_FAILURE_LIMIT": "5",
                                         "FACEGATE_AUTH_FAILURE_WINDOW": "4"})
    app = make_app(stack, "guarded")
    right = app_headers(app)
    wrong = {**right, "app_secret": "guess"}
    time.sleep(4 - time.time() % 4 + 0.1)  # at the start of a window
    image = {"img": b64(faces["biden.jpg"])}
    codes = [httpx.post(f"{guarded}/face/tool/detect", data=image, headers=wrong)
             .json()["result"] for _ in range(5)]
    assert codes == [4096] * 5
    assert httpx.post(f"{guarded}/face/tool/detect", data=image,
                      headers=right).json()["result"] == 4117
    native = httpx.post(f"{guarded}/v1/detect", json={"image": image["img"]}, headers=right)
    assert native.status_code == 429
    token = httpx.get(f"{guarded}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": app.app.api_key,
        "client_secret": app.secret})
    assert token.status_code == 429 and token.json()["error"] == "slow_down"
    time.sleep(4 - time.time() % 4 + 0.1)  # the next window
    assert httpx.post(f"{guarded}/face/tool/detect", data=image,
                      headers=right).json()["result"] == 0
