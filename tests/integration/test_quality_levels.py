"""Enrolment quality levels through the real stack (gateway, Celery worker with the real models,
PostgreSQL): a photo of a man in sunglasses is refused at `strict` (the service's default) and
enrolled at `lenient`, asked for by the request, by the group's default (kept by the database
and applying to CloudWalk's enrolment too) or by a bulk load; `lenient` still refuses a heavily
blurred face; a group's default changed by PATCH /v1/groups/{group} holds from then on;
Baidu's quality_control=LOW is lenient and NORMAL strict."""

from __future__ import annotations

import base64
import io
import uuid

import cv2
import numpy as np
import pytest
from PIL import Image

from services.client import ApiError, Facegate
from tests.conftest import b64, make_app


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sunglasses(client, faces) -> bytes:
    """obama.jpg with two dark lenses and a bridge over his eyes, drawn on the 68 landmarks
    the service itself finds (as tests/integration/test_gate_portraits.py draws them)."""
    rgb = np.asarray(Image.open(io.BytesIO(faces["obama.jpg"])).convert("RGB")).copy()
    analysed = client.post("/v1/analyse", json={"image": b64(faces["obama.jpg"]),
                                                "fields": "landmarks"}).json()
    points = np.array(max(analysed["faces"], key=lambda f: f["box"]["width"])
                      ["landmarks"]["points68"])
    iod = float(np.linalg.norm(points[42:48].mean(0) - points[36:42].mean(0)))
    for eye in (points[36:42], points[42:48]):
        centre = eye.mean(0)
        cv2.ellipse(rgb, (int(centre[0]), int(centre[1])), (int(0.42 * iod), int(0.3 * iod)),
                    0, 0, 360, (20, 20, 25), -1)
    cv2.line(rgb, tuple(int(v) for v in points[39]), tuple(int(v) for v in points[42]),
             (20, 20, 25), max(2, int(0.05 * iod)))
    return _jpeg(rgb)


def _refused(call, code: str = "IMAGE_QUALITY") -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    assert caught.value.status == 422 and caught.value.code == code, caught.value
    return caught.value


def test_sunglasses_are_refused_strict_and_enrolled_lenient(facegate: Facegate, client,
                                                            faces, sunglasses):
    plain = _name("strictgate")
    facegate.create_group(plain)
    refused = _refused(lambda: facegate.enrol(plain, sunglasses, tag="shades"))
    assert "eye occluded" in refused.error["message"]
    enrolled = facegate.enrol(plain, sunglasses, tag="shades", quality="lenient")
    assert enrolled["created"] is True
    # lenient still refuses a heavily blurred face, and strict still enrols a plain one
    blurred = _jpeg(cv2.GaussianBlur(np.asarray(Image.open(io.BytesIO(faces["obama.jpg"]))
                                                .convert("RGB")), (0, 0), 10))
    _refused(lambda: facegate.enrol(plain, blurred, quality="lenient"), "FACE_BLURRED")
    assert facegate.enrol(plain, faces["biden.jpg"], quality="strict")["created"] is True
    assert facegate.faces(plain, tag="shades")[0]["face_id"] == enrolled["face_id"]
    assert len(facegate.faces(plain)) == 2  # the refusals wrote nothing
    facegate.delete_group(plain)


def test_a_group_default_level_holds_for_every_dialect(facegate: Facegate, client, sunglasses):
    group = _name("lenientgate")
    assert facegate.create_group(group, quality="lenient") is True
    [row] = [g for g in facegate.groups() if g["name"] == group]
    assert row["quality"] == "lenient"  # stored with the group
    assert facegate.enrol(group, sunglasses, tag="native")["created"] is True
    _refused(lambda: facegate.enrol(group, sunglasses, quality="strict"))  # the request wins
    cloudwalk = client.post("/face/clustering/face/create", data={
        "groupId": group, "tag": "cloudwalk", "img": base64.b64encode(sunglasses).decode()})
    assert cloudwalk.json()["result"] == 0, cloudwalk.text
    wrong = client.post("/v1/groups", json={"name": _name("x"), "quality": "loose"})
    assert wrong.status_code == 400 and "quality must be one of" in wrong.text, wrong.text
    facegate.delete_group(group)


def test_a_group_default_changed_by_patch_holds_from_then_on(facegate: Facegate, client,
                                                             stack, sunglasses):
    group = _name("patchgate")
    facegate.create_group(group, tag="door")
    _refused(lambda: facegate.enrol(group, sunglasses))  # the service's strict
    changed = facegate.update_group(group, quality="lenient")
    assert (changed["name"], changed["tag"], changed["quality"]) == (group, "door", "lenient")
    [row] = [g for g in facegate.groups() if g["name"] == group]
    assert row == changed  # as GET /v1/groups lists it, kept by the database
    assert facegate.enrol(group, sunglasses, tag="shades")["created"] is True
    cleared = facegate.update_group(group, quality=None)  # JSON null: the service's again
    assert (cleared["tag"], cleared["quality"], cleared["faces"]) == ("door", None, 1)
    _refused(lambda: facegate.enrol(group, sunglasses))
    # a form's "" clears too, a tag alone leaves the level, a bad level is a 400
    assert client.patch(f"/v1/groups/{group}", json={"quality": "none"}).json()["quality"] \
        == "none"
    retagged = client.patch(f"/v1/groups/{group}", data={"tag": "lobby"}).json()
    assert (retagged["tag"], retagged["quality"]) == ("lobby", "none")
    assert client.patch(f"/v1/groups/{group}", data={"quality": ""}).json()["quality"] is None
    wrong = client.patch(f"/v1/groups/{group}", json={"quality": "loose"})
    assert wrong.status_code == 400 and "quality must be one of" in wrong.text, wrong.text
    # another app's group is not found, and stays as it is
    stranger = make_app(stack, _name("otherapp"))
    with (Facegate(stack.base_url, stranger.app.api_key, stranger.secret) as other,
          pytest.raises(ApiError) as caught):
        other.update_group(group, quality="none")
    assert caught.value.status == 404 and caught.value.code == "GROUP_NOT_FOUND", caught.value
    assert [g["quality"] for g in facegate.groups() if g["name"] == group] == [None]
    facegate.delete_group(group)


def test_a_bulk_load_runs_at_its_level(facegate: Facegate, sunglasses):
    group = _name("bulkgate")
    facegate.create_group(group)
    items = [{"image": base64.b64encode(sunglasses).decode(), "tag": "shades"}]
    results = {}
    for quality in (None, "lenient"):
        accepted = facegate.bulk_items(group, items, quality=quality)
        results[quality] = facegate.wait_for_job(accepted["job_id"], poll_s=0.25,
                                                 timeout_s=300)
    assert results[None]["quality"] == "strict"  # the service's setting, fixed at submission
    assert results[None]["counts"] == {"low_quality": 1}
    assert results["lenient"]["quality"] == "lenient"
    assert results["lenient"]["counts"] == {"enrolled": 1}
    facegate.delete_group(group)


def test_baidu_quality_control_low_registers_sunglasses_and_normal_refuses(sdk, sunglasses):
    group = _name("baidugate")
    refused = sdk.addUser("shades1", "x", group, sunglasses, {"quality_control": "NORMAL"})
    assert refused["error_code"] == 216100 and "eye occluded" in refused["error_msg"], refused
    answer = sdk.addUser("shades2", "x", group, sunglasses, {"quality_control": "LOW"})
    assert "error_code" not in answer, answer
    members = sdk.getGroupUsers(group)["result"]
    assert [m["uid"] for m in members] == ["shades2"]
    assert "error_code" not in sdk.deleteUser("shades2")
