"""Tenancy: a second app can neither list, identify against, edit nor delete the first app's
groups, users, faces, jobs or identities, through any dialect."""

import time

import httpx
import pytest

from tests.conftest import app_headers, b64, make_app
from tests.support.baidu_sdk import access_token

PREFIX = "/rest/2.0/face/v2"


@pytest.fixture(scope="module")
def other(stack):
    """A second app and an HTTP client speaking as it."""
    app = make_app(stack, "intruder")
    with httpx.Client(base_url=stack.base_url, timeout=180, headers=app_headers(app)) as http:
        yield app, http


def _cw(http, path: str, **form) -> dict:
    response = http.post(path, data=form)
    assert response.status_code == 200
    return response.json()


def _token(stack, app) -> str:
    return access_token(stack.base_url, app.app.api_key, app.secret)


def _bd(stack, app, path: str, **form) -> dict:
    return httpx.post(f"{stack.base_url}{PREFIX}{path}",
                      params={"access_token": _token(stack, app)}, data=form, timeout=180).json()


def test_a_second_app_cannot_see_or_touch_the_first_apps_data(stack, client, test_app, other,
                                                              faces):
    intruder, intruder_http = other
    obama = b64(faces["obama.jpg"])
    # the first app's CloudWalk group with a face, Baidu user, job and identity
    assert _cw(client, "/face/clustering/group/create", groupId="private")["result"] == 0
    face_id = _cw(client, "/face/clustering/face/create", groupId="private", tag="o",
                  img=obama)["faceId"]
    assert "error_code" not in _bd(stack, test_app, "/faceset/user/add", uid="secret_user",
                                   user_info="x", group_id="private_bd", image=obama)
    job = client.post("/v1/jobs", json={"op": "detect", "image": obama}).json()["job_id"]
    registered = client.post("/v1/identities", json={
        "id_card_number": "11010519491231002X", "name": "欧巴马", "image": obama})
    assert registered.status_code in (200, 201)

    # CloudWalk, as the intruder
    listed = _cw(intruder_http, "/face/clustering/group/query", type="queryByPage",
                 pageNumber=1, pageSize=1000)
    assert listed["result"] == 0 and all(r["groupId"] != "private" for r in listed["rows"])
    for path, form in (
            ("/face/clustering/group/query", {"type": "queryByGroupId", "groupId": "private"}),
            ("/face/recog/group/identify", {"groupId": "private", "img": obama}),
            ("/face/clustering/face/edit", {"groupId": "private", "faceId": face_id,
                                            "tag": "mine"}),
            ("/face/clustering/face/delete", {"groupId": "private", "faceId": face_id}),
            ("/face/recog/group/compare", {"groupId": "private", "faceId": face_id,
                                           "img": obama}),
            ("/face/clustering/group/delete", {"groupId": "private"})):
        assert _cw(intruder_http, path, **form)["result"] == 12357, path
    # the same name is free for the intruder: a different group altogether
    assert _cw(intruder_http, "/face/clustering/group/create", groupId="private")["result"] == 0
    assert _cw(intruder_http, "/face/recog/group/identify", groupId="private",
               img=obama)["result"] == 12358  # its own, empty group

    # Baidu, as the intruder
    assert "private_bd" not in _bd(stack, intruder, "/faceset/group/getlist")["result"]
    assert _bd(stack, intruder, "/faceset/user/get", uid="secret_user")["error_code"] == 216611
    assert _bd(stack, intruder, "/identify", group_id="private_bd",
               image=obama)["error_code"] == 216618
    assert _bd(stack, intruder, "/verify", uid="secret_user", group_id="private_bd",
               image=obama)["error_code"] == 216611
    assert _bd(stack, intruder, "/faceset/user/delete", uid="secret_user")["error_code"] == 216611
    assert _bd(stack, intruder, "/faceset/group/getusers",
               group_id="private_bd")["error_code"] == 216618
    assert _bd(stack, intruder, "/person/verify", image=obama,
               id_card_number="11010519491231002X", name="欧巴马")["error_code"] == 216611

    # native, as the intruder
    assert intruder_http.get(f"/v1/jobs/{job}").status_code == 404
    bulk = intruder_http.post("/v1/groups/private_bd/faces/bulk", json={
        "items": [{"image": obama}]})
    assert bulk.status_code == 404

    # and the first app's data is all still there
    query = _cw(client, "/face/clustering/face/query", type="queryByFaceId", groupId="private",
                faceId=face_id)
    assert query["result"] == 0 and query["rows"][0]["tag"] == "o"
    assert _bd(stack, test_app, "/faceset/user/get", uid="secret_user")["result_num"] == 1
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job}").json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.2)
