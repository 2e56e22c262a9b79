"""Ordinary portraits the default quality gate used to refuse enrol, through the real stack
(CloudWalk face/create). That a mask over the lower face is still refused is
tests/integration/test_analysis.py's test_default_gate_refuses_covered_eyes_and_covered_mouth."""

from __future__ import annotations

import io
import uuid

import cv2
import numpy as np
from PIL import Image

from tests.conftest import b64


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _moustache(rgb: np.ndarray, points: list[dict], colour=(45, 32, 25)) -> np.ndarray:
    """A dark moustache drawn between the nose and the upper lip (obama2.jpg's mouth is open:
    teeth and a moustache together read 0.9 "mouth covered", which the gate refused)."""
    eye_l, eye_r, nose, mouth_l, mouth_r = (np.array([p["x"], p["y"]]) for p in points)
    iod = float(np.linalg.norm(eye_r - eye_l))
    top, bottom = nose[1] + 0.18 * iod, (mouth_l[1] + mouth_r[1]) / 2 - 0.08 * iod
    shape = np.array([[mouth_l[0] - 0.05 * iod, bottom], [mouth_l[0] + 0.1 * iod, top],
                      [mouth_r[0] - 0.1 * iod, top], [mouth_r[0] + 0.05 * iod, bottom]], np.int32)
    out = rgb.copy()
    cv2.fillPoly(out, [shape], colour)
    return out


def _enrol(client, group: str, photo: bytes) -> dict:
    return client.post("/face/clustering/face/create",
                       data={"groupId": group, "tag": "portrait", "img": b64(photo)}).json()


def test_smiling_laughing_and_moustached_portraits_enrol(client, faces):
    group = f"gate{uuid.uuid4().hex[:8]}"
    assert client.post("/face/clustering/group/create", data={"groupId": group}
                       ).json()["result"] == 0
    # a broad smile with teeth (obama.jpg), a man laughing in a group photo (t1.jpg, cropped
    # to him), and an open mouth under a moustache
    group_photo = np.asarray(Image.open(io.BytesIO(faces["t1.jpg"])).convert("RGB"))
    laughing = _jpeg(np.ascontiguousarray(group_photo[250:620, 620:900]))
    obama2 = np.asarray(Image.open(io.BytesIO(faces["obama2.jpg"])).convert("RGB"))
    face = client.post("/v1/detect", json={"image": b64(faces["obama2.jpg"])}).json()["faces"][0]
    moustached = _jpeg(_moustache(obama2, face["landmarks"]))
    for name, photo in (("smiling", faces["obama.jpg"]), ("laughing", laughing),
                        ("moustached", moustached)):
        answer = _enrol(client, group, photo)
        assert answer["result"] == 0, (name, answer)
