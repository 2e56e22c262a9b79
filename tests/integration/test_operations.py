"""Operations over the real stack: Prometheus metrics from the gateway and a worker, request ids
in headers, Baidu log_ids and JSON logs, and a gateway that finishes in-flight requests when it
is told to stop."""

import io
import json
import os
import re
import signal
import threading
import time

import httpx
from PIL import Image

from tests.conftest import b64
from tests.support.baidu_sdk import access_token


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_gateway_metrics_count_requests_and_error_codes(stack, client, faces):
    before = client.get("/metrics").text
    assert client.post("/face/tool/detect", data={"img": b64(faces["coffee.png"])}
                       ).json()["result"] == 8464
    assert client.post("/face/tool/detect", data={"img": b64(faces["obama.jpg"])}
                       ).json()["result"] == 0
    after = client.get("/metrics").text
    route = {"dialect": "cloudwalk", "route": "/face/tool/detect", "status": "200"}
    assert _metric(after, "facegate_requests_total", **route) - \
        _metric(before, "facegate_requests_total", **route) == 2
    assert _metric(after, "facegate_errors_total", dialect="cloudwalk", code="8464") - \
        _metric(before, "facegate_errors_total", dialect="cloudwalk", code="8464") == 1
    assert _metric(after, "facegate_request_seconds_count", dialect="cloudwalk",
                   route="/face/tool/detect") >= 2
    assert 'facegate_queue_depth{queue="facegate.interactive"}' in after
    assert 'facegate_queue_depth{queue="facegate.jobs"}' in after
    assert 'facegate_queue_depth{queue="facegate.bulk"}' in after


def test_worker_metrics_show_batches_and_model_time(stack, client, faces):
    client.post("/face/tool/feature", data={"img": b64(faces["obama.jpg"])})
    # worker N serves on base + N - 1; the killed-worker test may have replaced the first
    base = int(os.environ["FACEGATE_WORKER_METRICS_PORT"])
    alive = [i for i, w in enumerate(stack.workers) if w.poll() is None]
    text = "\n".join(httpx.get(f"http://127.0.0.1:{base + i}/metrics").text for i in alive)
    for stage in ("detect", "embed"):
        assert _metric(text, "facegate_batch_size_count", stage=stage) > 0
        assert _metric(text, "facegate_model_seconds_sum", stage=stage) > 0
    assert _metric(text, "facegate_tasks_total", task="vision", outcome="ok") > 0
    # the health check beside the metrics: models loaded and the consumer reaches Redis
    health = httpx.get(f"http://127.0.0.1:{base + alive[0]}/healthz")
    assert health.status_code == 200 and health.text.startswith("ok: models loaded")
    assert httpx.get(f"http://127.0.0.1:{base + alive[0]}/other").status_code == 404


def test_request_ids_reach_headers_baidu_log_ids_and_json_logs(stack, client, test_app, faces):
    response = client.post("/face/tool/detect", data={"img": b64(faces["obama.jpg"])},
                           headers={"x-request-id": "123456789012345"})
    assert response.headers["x-request-id"] == "123456789012345"
    assert client.get("/healthz").headers["x-request-id"].isdigit()  # made when not given
    token = access_token(stack.base_url, test_app.app.api_key, test_app.secret)
    baidu = httpx.post(f"{stack.base_url}/rest/2.0/face/v2/faceset/group/getlist",
                       params={"access_token": token}, headers={"x-request-id": "987654321"})
    assert baidu.json()["log_id"] == 987654321
    time.sleep(0.5)
    lines = (stack.log_dir / "gateway.log").read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    mine = [e for e in entries if e.get("request_id") == "123456789012345"]
    assert mine and mine[-1]["msg"] == "request" and mine[-1]["status"] == 200
    assert mine[-1]["dialect"] == "cloudwalk" and mine[-1]["app"] == test_app.app.id
    assert any(e.get("request_id") == "987654321" and e.get("dialect") == "baidu"
               for e in entries)


def test_a_stopping_gateway_finishes_requests_in_flight(stack, test_app, faces):
    url = stack.start_extra_gateway()
    process = stack.extra[-1]
    picture = Image.open(io.BytesIO(faces["t1.jpg"])).convert("RGB")
    big = picture.resize((picture.width * 3, picture.height * 3))  # a few seconds of work
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=90)
    headers = {"app_id": test_app.app.api_key, "app_secret": test_app.secret}
    answer = {}

    def call() -> None:
        answer["response"] = httpx.post(f"{url}/face/tool/detect", headers=headers,
                                        data={"img": b64(buffer.getvalue())}, timeout=120)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(1.0)  # the request is in the gateway, waiting for its worker
    os.killpg(process.pid, signal.SIGTERM)
    thread.join(120)
    assert answer["response"].status_code == 200
    assert answer["response"].json()["result"] == 0
    # then it exits; uvicorn re-raises the signal after its graceful shutdown, hence -15
    assert process.wait(60) in (0, -signal.SIGTERM)
    refused = None
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.HTTPError as exc:
        refused = exc
    assert refused is not None  # nothing listens there any more
