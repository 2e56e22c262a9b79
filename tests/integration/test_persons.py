"""Persons through the real stack (gateway, Celery worker with the real models, PostgreSQL +
pgvector), with the typed client and Baidu's own SDK: a person is made, gets several photos,
is found by identify as one person over its faces (and a stranger is not), is renamed,
listed and deleted with its faces; a Baidu user is a person of its group and the other way
round."""

from __future__ import annotations

import uuid

import pytest

from services.client import ApiError, Facegate
from tests.conftest import b64


def _group(facegate: Facegate) -> str:
    name = f"ppl{uuid.uuid4().hex[:8]}"
    facegate.create_group(name)
    return name


def _ok(answer: dict) -> dict:
    assert "error_code" not in answer, answer
    return answer


def test_a_person_with_two_photos_is_identified_as_one_person(facegate: Facegate, faces):
    group = _group(facegate)
    obama = f"obama_{group}"  # a person id is the app's: others' tests use "obama" too
    made = facegate.create_person(group, "Barack Obama", key=obama)
    assert made["new"] and made["person_id"] == obama and made["faces"] == 0
    retried = facegate.create_person(group, "Someone else", key=obama)
    assert not retried["new"] and retried["name"] == "Barack Obama"
    biden = facegate.create_person(group, "Joe Biden")
    assert biden["person_id"].startswith("p_")
    for photo in ("obama.jpg", "obama2.jpg"):
        facegate.enrol(group, faces[photo], person_id=obama)
    facegate.enrol(group, faces["biden.jpg"], person_id=biden["person_id"])
    lone = facegate.enrol(group, faces["Tom_Hanks_54745.png"], tag="walk-in")["face_id"]

    found = facegate.identify(group, faces["obama3.jpg"])
    top = found["people"][0]
    assert (top["person_id"], top["name"], top["faces"]) == (obama, "Barack Obama", 2)
    assert top["same_person"] and top["score"] >= found["verdict"]["threshold"]
    assert [p["person_id"] for p in found["people"]].count(obama) == 1
    assert found["verdict"]["people"] == 3 and found["verdict"]["fpir"] == 0.01
    assert {p["person_id"] for p in found["people"][1:]} <= {biden["person_id"], None}
    assert not any(p["same_person"] for p in found["people"][1:])
    assert any(p["face_id"] == lone and p["name"] == "walk-in" for p in found["people"])
    # the faces' own answer is still there, unchanged in form
    assert found["matches"][0]["score"] >= found["matches"][1]["score"]

    stranger = facegate.identify(group, faces["yaoming.jpg"])
    assert not any(p["same_person"] for p in stranger["people"])

    listed = facegate.people(group)
    assert listed["total"] == 2 and {p["person_id"]: p["faces"] for p in listed["people"]} == {
        obama: 2, biden["person_id"]: 1}
    own = facegate.person_faces(group, obama)
    assert len(own) == 2 and {f["person_id"] for f in own} == {obama}
    assert facegate.rename_person(group, obama, "Barack H. Obama")["name"] == (
        "Barack H. Obama")
    assert facegate.person(group, obama)["name"] == "Barack H. Obama"

    facegate.delete_person(group, obama)
    with pytest.raises(ApiError) as caught:
        facegate.person(group, obama)
    assert caught.value.status == 404
    after = facegate.identify(group, faces["obama3.jpg"])
    assert obama not in {p["person_id"] for p in after["people"]}
    assert len(facegate.faces(group)) == 2  # biden's and the walk-in's; the group stays


def test_bad_person_calls_get_clear_errors_and_write_nothing(facegate: Facegate, faces):
    group = _group(facegate)
    with pytest.raises(ApiError) as caught:
        facegate.enrol(group, faces["obama.jpg"], person_id="nobody")
    assert caught.value.status == 404 and caught.value.code == "USER_NOT_FOUND"
    assert facegate.faces(group) == []
    with pytest.raises(ApiError) as caught:
        facegate.create_person(group, "Ann", key="has spaces")
    assert caught.value.status == 400 and "key" in str(caught.value)
    with pytest.raises(ApiError) as caught:
        facegate.create_person(group, "x" * 300)
    assert caught.value.status == 400
    with pytest.raises(ApiError) as caught:
        facegate.create_person("nosuchgroup" + uuid.uuid4().hex[:6], "Ann")
    assert caught.value.status == 404
    assert facegate.people(group)["total"] == 0


def test_a_baidu_user_is_a_person_and_a_person_a_baidu_user(facegate: Facegate, sdk, faces):
    group = _group(facegate)
    uid = f"u{uuid.uuid4().hex[:8]}"
    _ok(sdk.addUser(uid, "Joe", group, faces["biden.jpg"]))
    [person] = facegate.people(group)["people"]
    assert (person["person_id"], person["name"], person["faces"]) == (uid, "Joe", 1)
    facegate.create_person(group, "Barack", key=f"{uid}b")
    facegate.enrol(group, faces["obama.jpg"], person_id=f"{uid}b")
    users = _ok(sdk.getGroupUsers(group))["result"]
    assert sorted(u["uid"] for u in users) == sorted([uid, f"{uid}b"])
    found = _ok(sdk.identifyUser(group, faces["obama2.jpg"]))["result"][0]
    assert found["uid"] == f"{uid}b" and found["user_info"] == "Barack"


def test_bulk_items_join_their_persons_and_an_unknown_person_refuses_the_load(
        facegate: Facegate, faces):
    group = _group(facegate)
    obama = f"obama_{group}"
    facegate.create_person(group, "Barack Obama", key=obama)
    with pytest.raises(ApiError) as caught:
        facegate.bulk_items(group, [{"image": b64(faces["obama.jpg"]), "person_id": obama},
                                    {"image": b64(faces["biden.jpg"]), "person_id": "joe"}])
    assert caught.value.status == 404 and caught.value.code == "USER_NOT_FOUND"
    assert all(j["group"] != group for j in facegate.jobs(200))  # nothing stored
    job = facegate.bulk_items(group, [
        {"image": b64(faces[name]), "person_id": obama, "key": name}
        for name in ("obama.jpg", "obama2.jpg")] + [{"image": b64(faces["biden.jpg"])}])
    done = facegate.wait_for_job(job["job_id"], timeout_s=300)
    assert done["counts"] == {"enrolled": 3} and done["faces_created"] == 3
    assert facegate.person(group, obama)["faces"] == 2
    assert {f["person_id"] for f in facegate.faces(group)} == {obama, None}
