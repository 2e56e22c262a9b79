"""CloudWalk groups, faces and 1:N identification, end to end over the real stack with real faces
and a real PostgreSQL + pgvector."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from shared.models import RECOMMENDED_SCORE
from tests.conftest import b64


def _post(client, path, **params):
    response = client.post(path, data=params)
    assert response.status_code == 200
    return response.json()


def _new_group(client, tag="test") -> str:
    group = "g" + uuid.uuid4().hex[:12]
    assert _post(client, "/face/clustering/group/create", groupId=group, tag=tag)["result"] == 0
    return group


def _enrol(client, group, image: bytes, tag: str) -> int:
    body = _post(client, "/face/clustering/face/create", groupId=group, tag=tag, img=b64(image))
    assert body["result"] == 0, body
    return body["faceId"]


@pytest.fixture(scope="module")
def people(client, faces):
    group = _new_group(client)
    ids = {name: _enrol(client, group, faces[f"{name}.{ext}"], name)
           for name, ext in (("obama", "jpg"), ("biden", "jpg"), ("astronaut", "png"))}
    return group, ids


def test_identify_finds_the_right_person_first(client, faces, people):
    group, ids = people
    body = _post(client, "/face/recog/group/identify", groupId=group, topN=3,
                 img=b64(faces["obama2.jpg"]))
    assert body["result"] == 0 and len(body["faces"]) == 3
    first, *others = body["faces"]
    assert first["faceId"] == ids["obama"] and first["tag"] == "obama"
    assert first["score"] > RECOMMENDED_SCORE
    assert all(other["score"] < RECOMMENDED_SCORE for other in others)
    assert [f["score"] for f in body["faces"]] == sorted((f["score"] for f in body["faces"]),
                                                         reverse=True)


def test_group_compare_against_one_enrolled_face(client, faces, people):
    group, ids = people
    same = _post(client, "/face/recog/group/compare", groupId=group, faceId=ids["obama"],
                 img=b64(faces["obama3.jpg"]))
    other = _post(client, "/face/recog/group/compare", groupId=group, faceId=ids["biden"],
                  img=b64(faces["obama3.jpg"]))
    assert same["score"] > RECOMMENDED_SCORE > other["score"]


def test_identify_ext1_returns_one_entry_per_face(client, faces, people):
    group, _ = people
    body = _post(client, "/face/recog/group/identify/ext1", groupId=group, img=b64(faces["t1.jpg"]))
    assert body["result"] == 0 and body["groupId"] == group
    assert len(body["faces"]) == 6
    for face in body["faces"]:
        assert {"faceId", "score", "x", "y", "width", "height", "tag"} <= set(face)
        assert face["score"] < RECOMMENDED_SCORE  # nobody in the group photo is enrolled


def test_deleting_a_face_stops_it_matching(client, faces):
    group = _new_group(client)
    obama = _enrol(client, group, faces["obama.jpg"], "obama")
    _enrol(client, group, faces["biden.jpg"], "biden")
    assert _post(client, "/face/recog/group/identify", groupId=group,
                 img=b64(faces["obama2.jpg"]))["faces"][0]["faceId"] == obama
    assert _post(client, "/face/clustering/face/delete", groupId=group, faceId=obama
                 )["result"] == 0
    body = _post(client, "/face/recog/group/identify", groupId=group, topN=5,
                 img=b64(faces["obama2.jpg"]))
    assert [f["faceId"] for f in body["faces"]] != [obama]
    assert all(f["score"] < RECOMMENDED_SCORE for f in body["faces"])
    assert _post(client, "/face/clustering/face/query", type="queryByFaceId", groupId=group,
                 faceId=obama)["result"] == 12292
    assert _post(client, "/face/clustering/face/delete", groupId=group, faceId=obama
                 )["result"] == 12292


def test_face_query_and_edit(client, faces):
    group = _new_group(client)
    face = _enrol(client, group, faces["biden.jpg"], "joe")
    body = _post(client, "/face/clustering/face/query", type="queryByFaceId", groupId=group,
                 faceId=face)
    assert body["result"] == 0 and body["rows"] == [{"faceId": face, "tag": "joe"}]
    assert _post(client, "/face/clustering/face/edit", groupId=group, faceId=face,
                 tag="joseph")["result"] == 0
    assert _post(client, "/face/clustering/face/query", type="queryByFaceId", groupId=group,
                 faceId=face)["rows"][0]["tag"] == "joseph"
    # a new image replaces the stored face: now obama2 matches it
    assert _post(client, "/face/clustering/face/edit", groupId=group, faceId=face,
                 img=b64(faces["obama.jpg"]))["result"] == 0
    body = _post(client, "/face/recog/group/identify", groupId=group,
                 img=b64(faces["obama2.jpg"]))
    assert body["faces"][0]["faceId"] == face and body["faces"][0]["score"] > RECOMMENDED_SCORE
    assert _post(client, "/face/clustering/face/edit", groupId=group, faceId=face
                 )["result"] == 4097


def test_group_paging_and_counts(client, faces):
    names = [_new_group(client, tag=f"t{k}") for k in range(3)]
    _enrol(client, names[1], faces["obama.jpg"], "a")
    _enrol(client, names[1], faces["biden.jpg"], "b")
    body = _post(client, "/face/clustering/group/query", type="queryByGroupId", groupId=names[1],
                 faceCount="true")
    assert body["total"] == 1
    assert body["rows"] == [{"groupId": names[1], "info": "t1", "count": 2}]
    without = _post(client, "/face/clustering/group/query", type="queryByGroupId",
                    groupId=names[1])
    assert "count" not in without["rows"][0]
    first = _post(client, "/face/clustering/group/query", type="queryByPage", pageNumber=1,
                  pageSize=2, faceCount="true")
    total = first["total"]
    assert total >= 3 and len(first["rows"]) == 2
    seen = []
    for page in range(1, (total + 1) // 2 + 1):
        seen += [r["groupId"] for r in _post(client, "/face/clustering/group/query",
                                             type="queryByPage", pageNumber=page,
                                             pageSize=2)["rows"]]
    assert len(seen) == total == len(set(seen)) and set(names) <= set(seen)


def test_error_codes(client, faces):
    group = _new_group(client)
    assert _post(client, "/face/clustering/group/create", groupId=group)["result"] == 12352
    assert _post(client, "/face/clustering/group/create", groupId="bad-id!")["result"] == 4101
    assert _post(client, "/face/clustering/group/create", groupId="x" + group,
                 tag="长" * 50)["result"] == 4101  # 150 bytes
    assert _post(client, "/face/clustering/group/create")["result"] == 4097
    missing = "nosuch" + uuid.uuid4().hex[:8]
    assert _post(client, "/face/clustering/group/delete", groupId=missing)["result"] == 12357
    assert _post(client, "/face/clustering/face/create", groupId=missing,
                 img=b64(faces["obama.jpg"]))["result"] == 12357
    assert _post(client, "/face/recog/group/identify", groupId=missing,
                 img=b64(faces["obama.jpg"]))["result"] == 12357
    assert _post(client, "/face/recog/group/identify", groupId=group,
                 img=b64(faces["obama.jpg"]))["result"] == 12358
    assert _post(client, "/face/clustering/face/query", type="queryByFaceId", groupId=group,
                 faceId=999999999)["result"] == 12292
    assert _post(client, "/face/recog/group/compare", groupId=group, faceId=999999999,
                 img=b64(faces["obama.jpg"]))["result"] == 12292
    assert _post(client, "/face/clustering/face/create", groupId=group,
                 img=b64(faces["coffee.png"]))["result"] == 8464
    assert _post(client, "/face/clustering/group/query", type="sideways")["result"] == 4101
    assert _post(client, "/face/recog/group/identify", groupId=group, topN="many",
                 img=b64(faces["obama.jpg"]))["result"] == 4101


def test_concurrent_enrolments_and_failed_ones_leave_exact_counts(stack, client, faces):
    group = _new_group(client)
    images = [faces["obama.jpg"], faces["biden.jpg"], faces["coffee.png"]] * 3  # 3 will fail
    with ThreadPoolExecutor(9) as pool:
        bodies = list(pool.map(lambda data: _post(
            client, "/face/clustering/face/create", groupId=group, img=b64(data)), images))
    ok = [b["faceId"] for b in bodies if b["result"] == 0]
    assert len(ok) == 6 == len(set(ok))
    assert sorted(b["result"] for b in bodies if b["result"]) == [8464] * 3
    body = _post(client, "/face/clustering/group/query", type="queryByGroupId", groupId=group,
                 faceCount="true")
    assert body["rows"][0]["count"] == 6
    with psycopg.connect(stack.database_url) as conn:
        stored = conn.execute("SELECT count(*) FROM faces f JOIN groups g ON g.id = f.group_id "
                              "WHERE g.name = %s", (group,)).fetchone()[0]
    assert stored == 6


def test_deleting_a_group_deletes_its_faces(stack, client, faces):
    group = _new_group(client)
    _enrol(client, group, faces["obama.jpg"], "x")
    with psycopg.connect(stack.database_url) as conn:
        group_pk = conn.execute("SELECT id FROM groups WHERE name = %s", (group,)).fetchone()[0]
    assert _post(client, "/face/clustering/group/delete", groupId=group)["result"] == 0
    with psycopg.connect(stack.database_url) as conn:
        left = conn.execute("SELECT count(*) FROM faces WHERE group_id = %s",
                            (group_pk,)).fetchone()[0]
    assert left == 0
    assert _post(client, "/face/recog/group/identify", groupId=group,
                 img=b64(faces["obama2.jpg"]))["result"] == 12357


def _blurred(data: bytes) -> bytes:
    import io

    from PIL import Image, ImageFilter

    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).filter(ImageFilter.GaussianBlur(12)).save(buffer, "PNG")
    return buffer.getvalue()


def test_bulk_enrolment_job_reports_each_image_and_is_idempotent(client, faces):
    import time

    group = _new_group(client)
    items = [{"image": b64(faces["obama.jpg"]), "tag": "obama"},
             {"image": b64(faces["coffee.png"]), "tag": "cup"},
             {"image": "%%% not base64 %%%", "tag": "junk"},
             {"image": b64(faces["biden.jpg"]), "tag": "biden", "key": "joe-1"},
             {"image": b64(faces["astronaut.png"])},
             {"image": b64(_blurred(faces["obama2.jpg"])), "tag": "blurred"}]

    def run_job() -> dict:
        response = client.post(f"/v1/groups/{group}/faces/bulk", json={"items": items})
        assert response.status_code == 202 and response.json()["total"] == 6
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            body = client.get(f"/v1/jobs/{job_id}").json()
            if body["status"] in ("done", "failed"):
                return body
            time.sleep(0.2)
        raise AssertionError("bulk job did not finish")

    first = run_job()
    assert first["status"] == "done"
    result = first["result"]
    assert [o["status"] for o in result["items"]] == [
        "enrolled", "no_face", "bad_image", "enrolled", "enrolled", "low_quality"]
    assert result["counts"] == {"enrolled": 3, "no_face": 1, "bad_image": 1, "low_quality": 1}
    assert result["items"][2]["error"]["cloudwalk_code"] == 8497
    assert result["items"][5]["error"]["cloudwalk_code"] == 8482  # the quality gate
    assert result["items"][3]["key"] == "joe-1"
    assert all(o["created"] for o in result["items"] if o["status"] == "enrolled")

    again = run_job()["result"]  # a client retry: nothing enrolled twice
    enrolled = [o for o in again["items"] if o["status"] == "enrolled"]
    assert [o["face_id"] for o in enrolled] == [
        o["face_id"] for o in result["items"] if o["status"] == "enrolled"]
    assert not any(o["created"] for o in enrolled)
    count = _post(client, "/face/clustering/group/query", type="queryByGroupId", groupId=group,
                  faceCount="true")["rows"][0]["count"]
    assert count == 3
    body = _post(client, "/face/recog/group/identify", groupId=group, img=b64(faces["obama2.jpg"]))
    assert body["faces"][0]["faceId"] == result["items"][0]["face_id"]
    missing = client.post("/v1/groups/nosuchgroup1/faces/bulk", json={"items": items})
    assert missing.status_code == 404 and missing.json()["error"]["cloudwalk_code"] == 12357


def test_a_group_that_grows_large_gets_its_own_hnsw_index(stack, client, faces):
    import time

    group = _new_group(client)  # the test stack indexes groups from 4 faces
    ids = [_enrol(client, group, faces[name], name) for name in
           ("obama.jpg", "biden.jpg", "astronaut.png", "obama3.jpg", "yaoming.jpg")]
    deadline = time.monotonic() + 60
    with psycopg.connect(stack.database_url) as conn:
        while True:
            group_pk, indexed = conn.execute("SELECT id, indexed FROM groups WHERE name = %s",
                                             (group,)).fetchone()
            if indexed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        index = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s",
                             (f"faces_hnsw_g{group_pk}",)).fetchone()
    assert indexed and "hnsw" in index[0] and f"group_id = {group_pk}" in index[0]
    body = _post(client, "/face/recog/group/identify", groupId=group, topN=2,
                 img=b64(faces["obama2.jpg"]))
    assert body["faces"][0]["faceId"] in (ids[0], ids[3])
    assert body["faces"][0]["score"] > RECOMMENDED_SCORE
    assert _post(client, "/face/clustering/group/delete", groupId=group)["result"] == 0
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s",
                            (f"faces_hnsw_g{group_pk}",)).fetchone()[0] == 0


def test_a_group_named_through_v1_is_addressable_from_every_dialect(stack, client, test_app,
                                                                     faces):
    """One group-name rule (services/recognition/catalogue.py): a /v1 name with `_` enrols and
    identifies through CloudWalk and Baidu; a name longer than Baidu's document allows (48) is
    refused by the Baidu dialect with that rule, and by every dialect past 64."""
    import httpx

    from tests.support.baidu_sdk import access_token

    name = "made_in_v1_" + uuid.uuid4().hex[:8]
    assert client.post("/v1/groups", json={"name": name}).status_code == 201
    assert _enrol(client, name, faces["obama.jpg"], "obama") > 0
    found = _post(client, "/face/recog/group/identify", groupId=name,
                  img=b64(faces["obama2.jpg"]))
    assert found["result"] == 0 and found["faces"][0]["tag"] == "obama"
    token = access_token(stack.base_url, test_app.app.api_key, test_app.secret)

    def baidu(group: str) -> dict:
        return httpx.post(f"{stack.base_url}/rest/2.0/face/v2/identify",
                          params={"access_token": token}, timeout=120,
                          data={"group_id": group, "image": b64(faces["obama2.jpg"])}).json()

    assert baidu(name)["error_code"] == 216618  # no Baidu user in it, but the name is fine
    long_name = "x" * 50
    assert client.post("/v1/groups", json={"name": long_name}).status_code == 201
    refused = baidu(long_name)
    assert refused["error_code"] == 216100
    assert "1-48 letters, digits or _" in refused["error_msg"], refused
    too_long = _post(client, "/face/clustering/group/create", groupId="y" * 65)
    assert too_long["result"] != 0 and "1-64 letters, digits or _" in too_long["info"]
