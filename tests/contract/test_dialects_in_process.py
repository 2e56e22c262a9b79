"""Each dialect's contract, in process: the real gateway app (its mounts, frames, parameter
parsing and code tables) and the real engine, joined by the in-process queue instead of Redis
and Celery (workers/inprocess.py). No database: the gallery calls must answer each dialect's
"service unavailable" code. The full stack (tests/integration) proves the real path."""

from __future__ import annotations

import base64
import time
import warnings
from collections.abc import Iterator

import pytest
import redis.exceptions
from starlette.exceptions import StarletteDeprecationWarning

from gateway.app import create_app
from gateway.auth import Authenticator
from shared.settings import Settings
from workers.engine import Engine
from workers.inprocess import InProcessQueue

with warnings.catch_warnings():  # Starlette's test client asks for httpx2; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[TestClient]:
    settings = Settings().changed(auth=False, redis_url="", database_url="")
    app = create_app(settings, queue=InProcessQueue(engine, settings),
                     auth=Authenticator(None, settings, b"", None))
    with TestClient(app) as http:
        yield http


# CloudWalk: HTTP 200, result 0 or the error code, info -----------------------------------------
def test_cloudwalk_tools_answer_in_result_and_info(client, faces):
    body = client.post("/face/tool/detect", data={"img": b64(faces["biden.jpg"])}).json()
    assert body["result"] == 0 and body["info"] == "成功"
    assert {"x", "y", "width", "height", "img"} <= set(body["faces"][0])
    same = client.post("/face/tool/compare", data={"imgA": b64(faces["obama.jpg"]),
                                                  "imgB": b64(faces["obama2.jpg"])}).json()
    other = client.post("/face/tool/compare", data={"imgA": b64(faces["obama.jpg"]),
                                                   "imgB": b64(faces["biden.jpg"])}).json()
    assert same["score"] >= 0.8 > other["score"]
    features = [client.post("/face/tool/feature", data={"img": b64(faces[name])}).json()
                ["feature"] for name in ("obama.jpg", "obama2.jpg")]
    by_feature = client.post("/face/tool/similarityByFeature",
                             data={"featureA": features[0], "featureB": features[1]}).json()
    assert by_feature["score"] == pytest.approx(same["score"], abs=1e-5)


def test_cloudwalk_errors_use_its_codes(client, faces):
    def result(path: str, **data) -> int:
        response = client.post(path, data=data)
        assert response.status_code == 200
        return response.json()["result"]

    assert result("/face/tool/detect", img=b64(faces["coffee.png"])) == 8464  # no face
    assert result("/face/tool/detect") == 4097  # no image
    assert result("/face/tool/compare", imgA=b64(b"not an image"),
                  imgB=b64(faces["biden.jpg"])) == 8497  # undecodable image
    assert result("/face/tool/compare", imgA=b64(faces["biden.jpg"])) == 4097  # no image B
    assert result("/face/tool/nothing") == 4100  # not supported
    assert result("/face/clustering/group/create", groupId="g1") == 4102  # no database


# Baidu: HTTP 200, log_id, result_num / result or error_code / error_msg ------------------------
BAIDU = "/rest/2.0/face/v2"


def test_baidu_calls_answer_as_baidu_does(client, faces):
    body = client.post(f"{BAIDU}/detect", data={"image": b64(faces["biden.jpg"]),
                                                "face_fields": "age,qualities"}).json()
    assert isinstance(body["log_id"], int) and body["result_num"] == 1
    face = body["result"][0]
    assert {"location", "face_probability", "age", "qualities", "yaw"} <= set(face)
    match = client.post(f"{BAIDU}/match", data={"images": ",".join(
        b64(faces[name]) for name in ("obama.jpg", "obama2.jpg", "biden.jpg"))}).json()
    scores = {(p["index_i"], p["index_j"]): p["score"] for p in match["result"]}
    assert match["result_num"] == 3 and scores[(0, 1)] >= 80 > scores[(0, 2)]


def test_baidu_errors_use_its_codes(client, faces):
    def code(path: str, **data) -> int:
        response = client.post(f"{BAIDU}{path}", data=data)
        assert response.status_code == 200 and "log_id" in response.json()
        return response.json()["error_code"]

    assert code("/faceverify", image=b64(faces["coffee.png"])) == 216402  # no face
    assert code("/detect") == 216101  # no image
    assert code("/detect", image=b64(faces["biden.jpg"]), face_fields="mood") == 216100
    assert code("/nothing") == 216102  # not supported
    assert code("/identify", group_id="g1", image=b64(faces["biden.jpg"])) == 216400
    token = client.get("/oauth/2.0/token", params={"grant_type": "password"})
    assert token.status_code == 400 and token.json()["error"] == "unsupported_grant_type"


# native: HTTP status codes, JSON, jobs ----------------------------------------------------------
def test_native_operations_and_jobs(client, faces):
    detect = client.post("/v1/detect", json={"image": b64(faces["biden.jpg"])})
    assert detect.status_code == 200 and detect.json()["faces"][0]["box"]["width"] > 0
    compare = client.post("/v1/compare", json={"image_a": b64(faces["obama.jpg"]),
                                               "image_b": b64(faces["obama2.jpg"])}).json()
    assert compare["same_person"] is True and compare["threshold"] == 0.8
    queued = client.post("/v1/jobs", json={"op": "feature", "image": b64(faces["biden.jpg"])})
    assert queued.status_code == 202
    deadline = time.monotonic() + 60
    while (job := client.get(queued.json()["poll"]).json())["status"] != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["op"] == "feature" and job["result"]["model"] == compare["model"]


def test_native_errors_are_http_statuses_with_the_error_kind(client, faces):
    no_face = client.post("/v1/feature", json={"image": b64(faces["coffee.png"])})
    assert no_face.status_code == 422 and no_face.json()["error"]["code"] == "NO_FACE"
    assert no_face.headers["content-type"] == "application/problem+json"
    assert no_face.json()["status"] == 422 and no_face.json()["title"] == "Unprocessable Entity"
    assert no_face.json()["error"]["cloudwalk_code"] == 8464
    missing = client.post("/v1/detect", json={})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "PARAM_MISSING"
    unknown = client.post("/v1/nothing", json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_SUPPORTED"
    wrong_method = client.get("/v1/detect")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    no_database = client.delete("/v1/identities/11010519491231002X")
    assert no_database.status_code == 502
    assert no_database.json()["error"]["code"] == "SERVICE_ACCESS"


# outages: the dialects' retryable answer, never an internal error --------------------------------
class RedisDown:
    """A VisionQueue whose Redis is unreachable (the fault suite, tests/faults, does it for
    real)."""

    async def call(self, request: dict) -> dict:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    submit_job = job = call


def test_an_outage_is_each_dialects_retryable_busy(faces):
    settings = Settings().changed(auth=False, redis_url="", database_url="")
    app = create_app(settings, queue=RedisDown(), auth=Authenticator(None, settings, b"", None))
    image = b64(faces["biden.jpg"])
    with TestClient(app) as http:
        cloudwalk = http.post("/face/tool/detect", data={"img": image}).json()
        assert cloudwalk["result"] == 4098 and "Redis" in cloudwalk["info"]
        baidu = http.post(f"{BAIDU}/detect", data={"image": image}).json()
        assert baidu["error_code"] == 216401 and "retry" in baidu["error_msg"]
        native = http.post("/v1/detect", json={"image": image})
        assert native.status_code == 503 and native.headers["retry-after"] == "5"
