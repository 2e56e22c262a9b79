"""The photo's subject is the face most visible in it (services/vision/subject.py), through the
real stack: a two-person photo whose larger face is cut by the photo's edge."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from tests.conftest import b64


def _two_people(face_paths) -> bytes:
    """Obama at the left edge, half of his face outside the photo (his box, as detected, is
    the larger: 186 x 222 px), and Biden complete at the right (100 x 140)."""
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    obama = Image.open(face_paths["obama.jpg"]).convert("RGB")
    obama = obama.resize((int(obama.width * 0.6), int(obama.height * 0.6)))
    canvas.paste(obama, (-40 - int(367 * 0.6), 100 - int(79 * 0.6)))
    biden = Image.open(face_paths["biden.jpg"]).convert("RGB")
    biden = biden.resize((int(biden.width * 0.35), int(biden.height * 0.35)))
    canvas.paste(biden, (380 - int(427 * 0.35), 150 - int(167 * 0.35)))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_the_complete_face_is_the_subject_not_the_larger_cut_one(client, face_paths, faces):
    photo = _two_people(face_paths)
    detected = client.post("/v1/detect", json={"image": b64(photo)}).json()
    assert len(detected["faces"]) == 2  # both are found
    assert detected["faces"][0]["box"]["x"] > 300  # and listed subject first

    feature = client.post("/v1/feature", json={"image": b64(photo)}).json()
    assert feature["face"]["box"]["x"] > 300, feature["face"]
    assert all(point["x"] > 0 for point in feature["face"]["landmarks"]), feature["face"]

    # enrolment (CloudWalk) takes Biden, through the default gate; he is then found by his own
    # portrait and Obama is not
    group = f"subject{uuid.uuid4().hex[:8]}"
    assert client.post("/face/clustering/group/create", data={"groupId": group}
                       ).json()["result"] == 0
    enrolled = client.post("/face/clustering/face/create",
                           data={"groupId": group, "tag": "two-people", "img": b64(photo)}).json()
    assert enrolled["result"] == 0, enrolled
    found = client.post("/face/recog/group/identify",
                        data={"groupId": group, "topN": 1, "img": b64(faces["biden.jpg"])}).json()
    assert found["result"] == 0 and found["faces"][0]["score"] >= 0.8, found
    other = client.post("/face/recog/group/identify",
                        data={"groupId": group, "topN": 1, "img": b64(faces["obama.jpg"])}).json()
    assert other["result"] != 0 or other["faces"][0]["score"] < 0.8, other
