"""The shared service's defences, over real HTTP to the real stack: no secret or token in any
log line, tokens that end with their secret, the brute-force guard keyed by (address, app)
and by IPv6 /64, fair shares of the workers (a per-app cap on async jobs, a queue-depth
limit), a delivery limit for tasks that kill their workers, bombs refused with nothing
stored, and the small server errors found by hand."""

from __future__ import annotations

import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import redis

from services.gallery.apps import rotate_secret
from shared.tasks import DELIVERIES_PREFIX, INTERACTIVE_QUEUE, JOBS_QUEUE, make_celery
from tests.conftest import app_headers, b64, make_app

BAIDU = "/rest/2.0/face/v2"


def _token(base: str, app) -> str:
    # a GET with the secret in the query string, as Baidu's SDK sends it
    answer = httpx.get(f"{base}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": app.app.api_key,
        "client_secret": app.secret})
    return answer.json()["access_token"]


def test_no_secret_or_token_reaches_any_log(stack, faces):
    gateway = stack.start_extra_gateway({"FACEGATE_LOG_LEVEL": "DEBUG"})
    app = make_app(stack, "logged")
    token = _token(gateway, app)
    answer = httpx.post(f"{gateway}{BAIDU}/detect", params={"access_token": token},
                        data={"image": b64(faces["obama.jpg"])}).json()
    assert answer.get("error_code", 0) == 0, answer
    httpx.post(f"{gateway}/v1/detect", json={"image": b64(faces["obama.jpg"])},
               headers=app_headers(app))
    time.sleep(1)  # the log lines are written
    logs = {p.name: p.read_text(errors="replace") for p in stack.log_dir.iterdir()
            if p.is_file()}
    assert "/oauth/2.0/token" in "".join(logs.values())  # the requests were logged
    for name, text in logs.items():
        assert app.secret not in text, name
        assert token not in text and token.rsplit(".", 1)[-1] not in text, name


def test_rotating_a_secret_ends_its_tokens_within_5_seconds(stack):
    gateway = stack.start_extra_gateway({"FACEGATE_TOKEN_TTL": "3600"})
    app = make_app(stack, "rotated")
    token = _token(gateway, app)
    listing = f"{gateway}{BAIDU}/faceset/group/getlist"
    assert httpx.post(listing, params={"access_token": token}).json().get("error_code") is None
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        rotated = rotate_secret(conn, app.app.api_key)
    rotated_at = time.monotonic()
    while httpx.post(listing, params={"access_token": token}).json().get("error_code") is None:
        assert time.monotonic() - rotated_at < 5.5, "the old token still works"
        time.sleep(0.2)
    assert httpx.post(listing, params={"access_token": token}).json()["error_code"] in (110, 111)
    fresh = _token(gateway, rotated)  # the new secret gets a working token
    assert httpx.post(listing, params={"access_token": fresh}).json().get("error_code") is None


def _detect(base: str, app, secret: str, address: str, key: str | None = None) -> int:
    return httpx.post(f"{base}/face/tool/detect", data={"img": "x"}, headers={
        "app_id": key or app.app.api_key, "app_secret": secret, "x-forwarded-for": address}
    ).json()["result"]


def test_the_guard_counts_per_address_and_app_and_per_ipv6_64(stack):
    """Limit 5: one client's wrong secrets for app A refuse A from that client only, not
    another app from the same address nor A from another address; IPv6 neighbours in one
    /64 share a count; parallel guesses get no more than the limit checked."""
    guarded = stack.start_extra_gateway({"FACEGATE_AUTH_FAILURE_LIMIT": "5",
                                         "FACEGATE_AUTH_FAILURE_ADDRESS_LIMIT": "12",
                                         "FACEGATE_AUTH_FAILURE_WINDOW": "30"})
    a, b = make_app(stack, "guard-a"), make_app(stack, "guard-b")
    time.sleep(30 - time.time() % 30 + 0.1)  # at the start of a window
    assert [_detect(guarded, a, "guess", "203.0.113.1") for _ in range(5)] == [4096] * 5
    assert _detect(guarded, a, a.secret, "203.0.113.1") == 4117  # refused, even right
    assert _detect(guarded, b, b.secret, "203.0.113.1") != 4117  # another app: not refused
    assert _detect(guarded, a, a.secret, "198.51.100.1") != 4117  # another client: not
    # IPv6: two addresses of one /64 share the count; the next /64 does not
    for k in range(5):
        assert _detect(guarded, a, "guess", f"2001:db8:0:1::{k % 2 + 1}") == 4096
    assert _detect(guarded, a, a.secret, "2001:db8:0:1::99") == 4117
    assert _detect(guarded, a, a.secret, "2001:db8:0:2::1") != 4117
    # the looser per-address bucket: 12 failures for any apps (made-up keys) from one address
    for k in range(12):
        assert _detect(guarded, a, "guess", "192.0.2.200", key=f"made-up-{k}") == 4096
    assert _detect(guarded, b, b.secret, "192.0.2.200") == 4117
    # 30 guesses at once from a fresh address: at most 5 are checked, the rest refused
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda _: _detect(guarded, a, "guess", "192.0.2.99"), range(30)))
    assert codes.count(4096) <= 5 and codes.count(4117) >= 25, codes


def test_an_app_has_a_bounded_share_of_async_jobs(stack, faces):
    """FACEGATE_JOBS_IN_FLIGHT=2 (workers not taking jobs meanwhile): the third job is
    refused in the dialect's words, another app's job is not; all run once workers take
    them again."""
    capped = stack.start_extra_gateway({"FACEGATE_JOBS_IN_FLIGHT": "2"})
    flooder, other = make_app(stack, "flooder"), make_app(stack, "other")
    control = make_celery(stack.settings.changed(redis_url=stack.redis_url), "test-shares")
    image = b64(faces["obama.jpg"])
    assert control.control.cancel_consumer(JOBS_QUEUE, reply=True, timeout=10)
    try:
        answers = [httpx.post(f"{capped}/v1/jobs", json={"op": "detect", "image": image},
                              headers=app_headers(flooder)) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].json()["error"]["code"] == "RATE_LIMIT"
        theirs = httpx.post(f"{capped}/v1/jobs", json={"op": "detect", "image": image},
                            headers=app_headers(other))
        assert theirs.status_code == 202
    finally:
        assert control.control.add_consumer(JOBS_QUEUE, reply=True, timeout=10)
    for job in [a.json()["job_id"] for a in answers[:2]] + [theirs.json()["job_id"]]:
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{capped}/v1/jobs/{job}",
                                 headers=app_headers(flooder if job != theirs.json()["job_id"]
                                                     else other)).json())["status"] != "done":
            assert time.monotonic() < deadline and body["status"] != "failed", body
            time.sleep(0.5)
    # the share is given back: the app may queue jobs again
    again = httpx.post(f"{capped}/v1/jobs", json={"op": "detect", "image": image},
                       headers=app_headers(flooder))
    assert again.status_code == 202


def test_an_app_has_a_bounded_share_of_synchronous_calls(stack, faces):
    """FACEGATE_CALLS_IN_FLIGHT=2 (workers not taking calls meanwhile): a third call of the
    app is refused at once in its dialect's words, another app's is taken; all answer once
    workers take calls again."""
    capped = stack.start_extra_gateway({"FACEGATE_CALLS_IN_FLIGHT": "2"})
    caller, other = make_app(stack, "caller"), make_app(stack, "other-caller")
    control = make_celery(stack.settings.changed(redis_url=stack.redis_url), "test-calls")
    image = {"img": b64(faces["obama.jpg"])}

    def detect(app) -> dict:
        return httpx.post(f"{capped}/face/tool/detect", data=image, headers=app_headers(app),
                          timeout=180).json()

    assert control.control.cancel_consumer(INTERACTIVE_QUEUE, reply=True, timeout=10)
    pool = ThreadPoolExecutor(3)
    try:
        waiting = [pool.submit(detect, caller) for _ in range(2)]
        time.sleep(2)  # both admitted and queued
        assert detect(caller)["result"] == 4117  # refused, not queued
        theirs = pool.submit(detect, other)
        time.sleep(1)
    finally:
        assert control.control.add_consumer(INTERACTIVE_QUEUE, reply=True, timeout=10)
    assert [f.result()["result"] for f in waiting] == [0, 0]
    assert theirs.result()["result"] == 0
    pool.shutdown()


def test_a_full_queue_is_answered_busy_in_each_dialect(stack, faces):
    full = stack.start_extra_gateway({"FACEGATE_QUEUE_MAX": "1"})
    app = make_app(stack, "busy")
    client = redis.Redis.from_url(stack.redis_url)
    control = make_celery(stack.settings.changed(redis_url=stack.redis_url), "test-busy")
    image = b64(faces["obama.jpg"])
    assert control.control.cancel_consumer(JOBS_QUEUE, reply=True, timeout=10)
    try:
        first = httpx.post(f"{full}/v1/jobs", json={"op": "detect", "image": image},
                           headers=app_headers(app))
        assert first.status_code == 202
        native = httpx.post(f"{full}/v1/jobs", json={"op": "detect", "image": image},
                            headers=app_headers(app))
        assert native.status_code == 503 and native.json()["error"]["code"] == "SYSTEM_BUSY"
        assert native.headers.get("retry-after")
    finally:
        assert control.control.add_consumer(JOBS_QUEUE, reply=True, timeout=10)
        client.close()


def test_a_task_whose_workers_keep_dying_is_abandoned_with_a_clear_error(stack, client,
                                                                         faces):
    """As if two workers had died running it: its delivery count stands at the limit
    (FACEGATE_MAX_DELIVERIES, 3) when a worker takes it, so it is answered TASK_ABANDONED
    instead of being run a fourth time."""
    control = make_celery(stack.settings.changed(redis_url=stack.redis_url), "test-abandon")
    redis_client = redis.Redis.from_url(stack.redis_url)
    assert control.control.cancel_consumer(JOBS_QUEUE, reply=True, timeout=10)
    try:
        job = client.post("/v1/jobs", json={"op": "detect", "image": b64(faces["obama.jpg"])}
                          ).json()["job_id"]
        redis_client.set(DELIVERIES_PREFIX + job, 3, ex=600)
    finally:
        assert control.control.add_consumer(JOBS_QUEUE, reply=True, timeout=10)
    deadline = time.monotonic() + 120
    while (body := client.get(f"/v1/jobs/{job}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, body
        time.sleep(0.5)
    assert body["status"] == "failed" and body["error"]["code"] == "TASK_ABANDONED", body
    assert not redis_client.exists(DELIVERIES_PREFIX + job)
    redis_client.close()


def _bomb(inflated: int = 1 << 30) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive, \
            archive.open("a.jpg", "w", force_zip64=True) as entry:
        block = bytes(1 << 24)
        for _ in range(inflated // len(block)):
            entry.write(block)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_and_nothing_is_stored(stack, client):
    assert client.post("/v1/groups", json={"name": "bombed"}).status_code in (200, 201)
    with psycopg.connect(stack.database_url) as conn:
        jobs_before = conn.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0]
    answer = client.post("/v1/groups/bombed/faces/bulk", content=_bomb(),
                         headers={"content-type": "application/zip"})
    assert answer.status_code == 400, answer.text
    assert "FACEGATE_ARCHIVE_MAX" in answer.json()["detail"]
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM ingest_jobs").fetchone()[0] == jobs_before
    assert client.get("/v1/groups/bombed/faces").json()["total"] == 0


def test_the_small_server_errors_found_by_hand_are_clear_errors(stack, client, test_app):
    port = client.post("/v1/detect", json={"image_url": "http://127.0.0.1:99999/a.jpg"})
    assert port.status_code == 400 and port.json()["error"]["code"] == "PARAM_INVALID"
    nat64 = client.post("/v1/detect", json={"image_url": "http://[64:ff9b::a00:1]/a.jpg"})
    assert nat64.status_code == 400 and "non-public" in json.dumps(nat64.json())
    teredo = client.post("/v1/detect", json={
        "image_url": "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/a.jpg"})  # 10.0.0.1
    assert teredo.status_code == 400, teredo.text
    unicode_token = httpx.post(f"{stack.base_url}{BAIDU}/faceset/group/getlist",
                               params={"access_token": "1.2.é"}).json()
    assert unicode_token["error_code"] == 110, unicode_token
