"""Races a service meets: two clients making the same group or the same Baidu user at once, a
group deleted while it is searched, and 50 identifications at once against a 500-face group
(with its HNSW index) where every answer must name the right person."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from tests.conftest import b64
from tests.support.baidu_sdk import access_token

BAIDU = "/rest/2.0/face/v2"


def _together(count: int, call, spans: list | None = None) -> list:
    """`call(k)` for k in range(count), all released at once; `spans` receives each call's
    (start, end) so a test can show the calls really overlapped (else it proves nothing)."""
    barrier = threading.Barrier(count)

    def timed(k: int):
        barrier.wait()
        started = time.monotonic()
        result = call(k)
        if spans is not None:
            spans.append((k, started, time.monotonic()))
        return result

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(timed, range(count)))


def _overlapped(spans: list, a: int, b: int) -> bool:
    times = {k: (start, end) for k, start, end in spans}
    return times[a][0] < times[b][1] and times[b][0] < times[a][1]


def test_the_same_group_made_twice_at_once(client):
    spans: list = []
    results = _together(2, lambda _: client.post("/face/clustering/group/create",
                                                 data={"groupId": "race1"}).json()["result"],
                        spans)
    assert _overlapped(spans, 0, 1), spans
    assert sorted(results) == [0, 12352]


def test_the_same_baidu_user_registered_twice_at_once(stack, test_app, faces):
    token = access_token(stack.base_url, test_app.app.api_key, test_app.secret)
    form = {"uid": "racer", "user_info": "x", "group_id": "race_users",
            "image": b64(faces["obama.jpg"])}

    def add(_: int) -> int:
        return httpx.post(f"{stack.base_url}{BAIDU}/faceset/user/add",
                          params={"access_token": token}, data=form, timeout=120
                          ).json().get("error_code", 0)

    spans: list = []
    assert sorted(_together(2, add, spans)) == [0, 216616]  # one face, one "image existed"
    assert _overlapped(spans, 0, 1), spans


def test_a_group_deleted_while_it_is_searched(client, faces):
    assert client.post("/face/clustering/group/create",
                       data={"groupId": "race2"}).json()["result"] == 0
    assert client.post("/face/clustering/face/create", data={
        "groupId": "race2", "img": b64(faces["obama.jpg"]), "tag": "o"}).json()["result"] == 0
    probe = {"groupId": "race2", "img": b64(faces["obama2.jpg"])}

    def act(k: int) -> int:
        if k == 3:
            return client.post("/face/clustering/group/delete",
                               data={"groupId": "race2"}).json()["result"]
        return client.post("/face/recog/group/identify", data=probe).json()["result"]

    spans: list = []
    results = _together(8, act, spans)
    assert results[3] == 0 and set(results) <= {0, 12357}, results
    # the delete landed while at least one search was in flight
    assert any(_overlapped(spans, 3, k) for k in range(8) if k != 3), spans


def test_fifty_identifications_at_once_in_a_500_face_group(stack, client, test_app, faces):
    group = "race500"
    assert client.post("/face/clustering/group/create",
                       data={"groupId": group}).json()["result"] == 0
    for name in ("obama", "biden"):
        assert client.post("/face/clustering/face/create", data={
            "groupId": group, "img": b64(faces[f"{name}.jpg"]), "tag": name}).json()["result"] == 0
    # 498 other people: unit vectors far from both (random 512-d vectors are near-orthogonal),
    # written as the repository writes faces, with the group's count
    vectors = np.random.default_rng(5).normal(size=(498, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        register_vector(conn)
        group_id, model = conn.execute("SELECT id, model FROM groups WHERE app_id = %s AND "
                                       "name = %s", (test_app.app.id, group)).fetchone()
        with conn.transaction():
            for k, vector in enumerate(vectors):
                conn.execute("INSERT INTO faces (app_id, group_id, model, embedding, box, tag) "
                             "VALUES (%s, %s, %s, %s, %s, %s)",
                             (test_app.app.id, group_id, model, vector, [0, 0, 1, 1], f"p{k}"))
            conn.execute("UPDATE groups SET face_count = face_count + 498 WHERE id = %s",
                         (group_id,))
    probes = ["obama2.jpg", "biden.jpg"]

    def identify(k: int) -> str:
        body = client.post("/face/recog/group/identify", data={
            "groupId": group, "img": b64(faces[probes[k % 2]]), "topN": "3"}).json()
        assert body["result"] == 0, body
        return body["faces"][0]["tag"]

    tags = _together(50, identify)
    assert tags == ["obama" if k % 2 == 0 else "biden" for k in range(50)]
    query = client.post("/face/clustering/group/query", data={
        "type": "queryByGroupId", "groupId": group, "faceCount": "true"}).json()
    assert query["rows"][0]["count"] == 500
