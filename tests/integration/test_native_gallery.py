"""/v1 groups, faces, thumbnails, identify, Baidu users and app management through the real
stack, most of it with the typed client (services/client)."""

from __future__ import annotations

import base64
import io
import time
import uuid

import httpx
import pytest
from PIL import Image

from services.client import ApiError, Facegate
from tests.conftest import TEST_ENV, app_headers, make_app


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"  # CloudWalk group ids: letters and digits


def test_groups_faces_tag_search_identify_and_delete(facegate, face_paths):
    group = _name("native")
    assert facegate.create_group(group, "staff") is True
    assert facegate.create_group(group, exist_ok=True) is False
    with pytest.raises(ApiError) as taken:
        facegate.create_group(group)
    assert taken.value.status == 409
    obama = facegate.enrol(group, face_paths["obama.jpg"], tag="Barack Obama", key="o1")
    assert obama["created"] is True
    again = facegate.enrol(group, face_paths["obama.jpg"], tag="Barack Obama", key="o1")
    assert again == {**obama, "created": False}  # the key made the retry a no-op
    biden = facegate.enrol(group, face_paths["biden.jpg"], tag="Joe Biden")
    listed = facegate.faces(group)
    assert [f["face_id"] for f in listed] == [biden["face_id"], obama["face_id"]]
    assert all(f["thumbnail"] for f in listed)
    assert [f["tag"] for f in facegate.faces(group, tag="obama")] == ["Barack Obama"]
    assert facegate.faces(group, tag="%") == []  # LIKE wildcards are plain characters
    [row] = [g for g in facegate.groups() if g["name"] == group]
    assert row["faces"] == 2 and row["tag"] == "staff"

    found = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)
    best, other = found["matches"]
    assert best["face_id"] == obama["face_id"] and best["same_person"] is True
    assert other["face_id"] == biden["face_id"] and other["same_person"] is False
    assert best["score"] >= found["threshold"] > other["score"]

    facegate.delete_face(group, biden["face_id"])
    with pytest.raises(ApiError) as gone:
        facegate.thumbnail(group, biden["face_id"])
    assert gone.value.status == 404 and gone.value.code == "FACE_NOT_FOUND"
    facegate.delete_group(group)
    with pytest.raises(ApiError) as missing:
        facegate.faces(group)
    assert missing.value.status == 404 and missing.value.code == "GROUP_NOT_FOUND"


def test_thumbnails_are_small_upright_face_crops_on_every_enrolment_path(
        facegate, client, faces, face_paths):
    group = _name("thumbs")
    facegate.create_group(group)
    native = facegate.enrol(group, face_paths["biden.jpg"], tag="native")
    cloudwalk = client.post("/face/clustering/face/create", data={
        "groupId": group, "img": base64.b64encode(faces["obama.jpg"]).decode()}).json()
    assert cloudwalk["result"] == 0
    # a photo turned a quarter: the thumbnail comes from the upright view
    turned = io.BytesIO()
    Image.open(face_paths["obama3.jpg"]).rotate(90, expand=True).save(turned, "JPEG")
    job = facegate.wait_for_job(facegate.bulk_items(group, [
        {"image": base64.b64encode(turned.getvalue()).decode(), "tag": "bulk"}])["job_id"],
        poll_s=0.25, timeout_s=300)
    assert job["counts"] == {"enrolled": 1}
    [bulk] = facegate.all_job_items(job["job_id"])
    for face_id in (native["face_id"], cloudwalk["faceId"], bulk["face_id"]):
        data = facegate.thumbnail(group, face_id)
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and image.size == (96, 96)
        assert len(data) < 8000
    # upright: in the turned photo's thumbnail the detector finds the eyes above the mouth
    [face] = facegate.detect(facegate.thumbnail(group, bulk["face_id"]))["faces"]
    eyes, mouth = face["landmarks"][:2], face["landmarks"][3:]
    assert max(p["y"] for p in eyes) < min(p["y"] for p in mouth)


def test_thumbnails_can_be_switched_off(stack, faces):
    url = stack.start_extra_gateway({"FACEGATE_THUMBNAIL_SIZE": "0"})
    app = make_app(stack, _name("nothumbs"))
    with Facegate(url, app.app.api_key, app.secret, timeout=180) as fg:
        fg.create_group("plain")
        made = fg.enrol("plain", faces["obama.jpg"])
        assert fg.faces("plain")[0]["thumbnail"] is False
        with pytest.raises(ApiError) as none:
            fg.thumbnail("plain", made["face_id"])
        assert none.value.status == 404


def test_baidu_users_listed_and_deleted_natively(stack, facegate, test_app, faces):
    token = httpx.post(f"{stack.base_url}/oauth/2.0/token", data={
        "grant_type": "client_credentials", "client_id": test_app.app.api_key,
        "client_secret": test_app.secret}).json()["access_token"]
    group = _name("bd")
    answer = httpx.post(f"{stack.base_url}/rest/2.0/face/v2/faceset/user/add", timeout=180,
                        params={"access_token": token}, data={
                            "uid": "u1", "user_info": "first", "group_id": group,
                            "image": base64.b64encode(faces["biden.jpg"]).decode()}).json()
    assert "error_code" not in answer, answer
    users = facegate.call("GET", f"/v1/groups/{group}/users")["users"]
    assert users == [{"uid": "u1", "user_info": "first"}]
    [face] = facegate.faces(group)
    assert face["uid"] == "u1" and face["thumbnail"] is True
    facegate.call("DELETE", "/v1/users/u1", params={"group": group})
    with pytest.raises(ApiError) as gone:  # as in Baidu, a group goes with its last user
        facegate.call("GET", f"/v1/groups/{group}/users")
    assert gone.value.code == "GROUP_NOT_FOUND"


def test_bad_native_gallery_requests(facegate, faces):
    with pytest.raises(ApiError) as bad_name:
        facegate.create_group("no spaces")
    assert bad_name.value.status == 400
    with pytest.raises(ApiError) as no_group:
        facegate.enrol(_name("missing"), faces["obama.jpg"])
    assert no_group.value.status == 404
    group = _name("bad")
    facegate.create_group(group)
    with pytest.raises(ApiError) as not_image:
        facegate.enrol(group, b"not an image")
    assert not_image.value.status == 400
    with pytest.raises(ApiError) as empty:
        facegate.identify(group, faces["obama.jpg"])
    assert empty.value.code == "GROUP_EMPTY"
    with pytest.raises(ApiError) as face_id:
        facegate.call("DELETE", f"/v1/groups/{group}/faces/abc")
    assert face_id.value.status == 400
    assert facegate.faces(group) == []  # nothing half-written


def test_admin_manages_apps_over_http(stack):
    admin = {"admin_secret": TEST_ENV["FACEGATE_ADMIN_SECRET"]}
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        assert http.get("/v1/admin/apps", headers={"admin_secret": "nope"}).status_code == 401
        assert http.get("/v1/admin/apps").status_code == 401
        name = _name("made")
        made = http.post("/v1/admin/apps", headers=admin, json={"name": name, "qps": 5})
        assert made.status_code == 201
        creds = made.json()
        assert creds["qps"] == 5 and len(creds["secret"]) >= 40
        listed = http.get("/v1/admin/apps", headers=admin).json()["apps"]
        assert any(a["name"] == name and a["active"] for a in listed)
        assert all("secret" not in a for a in listed)
        own = {"app_id": creds["api_key"], "app_secret": creds["secret"]}
        assert http.get("/v1/groups", headers=own).status_code == 200
        rotated = http.post(f"/v1/admin/apps/{name}/rotate", headers=admin).json()
        assert http.patch(f"/v1/admin/apps/{name}", headers=admin,
                          json={"qps": 0}).json()["qps"] is None
        time.sleep(5.5)  # gateways re-read an app within 5 s
        assert http.get("/v1/groups", headers=own).status_code == 401
        own["app_secret"] = rotated["secret"]
        assert http.get("/v1/groups", headers=own).status_code == 200
        assert http.delete(f"/v1/admin/apps/{name}", headers=admin).json()["active"] is False
        assert http.delete(f"/v1/admin/apps/{name}", headers=admin).status_code == 400
        time.sleep(5.5)
        assert http.get("/v1/groups", headers=own).status_code == 401
        # an app's credentials are not the admin's
        assert http.get("/v1/admin/apps", headers=own).status_code == 401
    off = stack.start_extra_gateway({"FACEGATE_ADMIN_SECRET": ""})
    refused = httpx.get(f"{off}/v1/admin/apps", headers=admin)
    assert refused.status_code == 401 and "off" in refused.json()["detail"]


def test_the_client_retries_the_qps_limit_and_polls_jobs(stack, faces):
    app = make_app(stack, _name("slow"), qps=1)
    slept: list[float] = []
    with Facegate(stack.base_url, app.app.api_key, app.secret, sleep=slept.append,
                  backoff_s=0.05) as fg, httpx.Client(base_url=stack.base_url,
                                                      headers=app_headers(app)) as raw:
        # the raw API refuses the second call in a second; the client waits and sends again
        statuses = [raw.get("/v1/groups").status_code for _ in range(3)]
        assert 429 in statuses
        real_sleep = time.sleep
        fg.sleep = lambda s: (slept.append(s), real_sleep(s))
        results = [fg.groups() for _ in range(3)]
        assert all(r == [] for r in results)
        assert fg.retried >= 1 and slept
        fg.create_group("jobs")
        job = fg.wait_for_job(fg.bulk_items("jobs", [
            {"image": base64.b64encode(faces["obama.jpg"]).decode(), "key": "a"},
            {"image": base64.b64encode(b"junk").decode(), "key": "b"}])["job_id"], poll_s=1.0,
            timeout_s=300)
        assert job["status"] == "done"
        assert job["counts"] == {"enrolled": 1, "bad_image": 1}
