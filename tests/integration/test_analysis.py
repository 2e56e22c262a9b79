"""Face analysis end to end (HTTP -> gateway -> Redis -> Celery worker -> dlib, ONNX and TF.js
heads -> back) with real faces: /face/tool/keypt, attribute, removeWater, /v1/analyse and the
enrolment quality gate."""

import base64
import io
import uuid

import cv2
import numpy as np
import pytest
from PIL import Image

from shared.results import ANALYSIS_FIELDS
from tests.conftest import b64
from tests.support.masks import cartoonise, put_mask, put_mesh

BAIDU_OCCLUSION = {"left_eye": 0.6, "right_eye": 0.6, "nose": 0.7, "mouth": 0.7,
                   "left_cheek": 0.8, "right_cheek": 0.8, "chin": 0.6}


def _post(client, path, **params):
    response = client.post(path, data=params)
    assert response.status_code == 200, response.text
    return response.json()


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def _analyse(client, image: bytes, fields, **extra) -> dict:
    response = client.post("/v1/analyse", json={"image": b64(image),
                                                "fields": ",".join(fields), **extra})
    assert response.status_code == 200, response.text
    return response.json()


def _largest(body: dict) -> dict:
    return max(body["faces"], key=lambda f: f["box"]["width"] * f["box"]["height"])


def test_keypt_returns_68_points_in_the_box_with_eyes_above_the_mouth(client, faces):
    for name in ("obama.jpg", "astronaut.png", "t1.jpg"):
        body = _post(client, "/face/tool/keypt", img=b64(faces[name]))
        assert body["result"] == 0, body
        for face in body["faces"]:
            points = np.array([[p["x"], p["y"]] for p in face["keypt"]], float)
            assert points.shape == (68, 2)
            x, y, w, h = face["x"], face["y"], face["width"], face["height"]
            # MTCNN's box ends at the chin's top; dlib's jaw line runs up to ~11% below it.
            slack = 0.15 * max(w, h)
            assert (points[:, 0] >= x - slack).all() and (points[:, 0] <= x + w + slack).all()
            assert (points[:, 1] >= y - slack).all() and (points[:, 1] <= y + h + slack).all()
            inner = points[27:]  # eyes, nose and mouth: inside the box itself
            assert (inner[:, 0] >= x).all() and (inner[:, 0] <= x + w).all()
            assert (inner[:, 1] >= y).all() and (inner[:, 1] <= y + h).all()
            eyes_y = points[36:48, 1].mean()
            mouth_y = points[48:68, 1].mean()
            assert eyes_y < points[30, 1] < mouth_y  # eyes, then nose tip, then mouth
            assert points[36:42, 0].mean() < points[42:48, 0].mean()


def test_keypt_on_a_picture_without_a_face_is_8464(client, faces):
    body = _post(client, "/face/tool/keypt", img=b64(faces["rocket.jpg"]))
    assert body["result"] == 8464


def test_attribute_reads_obama_and_biden_male_and_the_astronaut_female(client, faces):
    expected = {"obama.jpg": "1", "biden.jpg": "1", "astronaut.png": "-1"}
    for name, gender in expected.items():
        body = _post(client, "/face/tool/attribute", img=b64(faces[name]))
        assert body["result"] == 0, body
        face = max(body["faces"], key=lambda f: f["width"])
        assert set(face) == {"x", "y", "width", "height", "age", "gender"}
        assert face["gender"] == gender, (name, face)
        assert 15 <= int(face["age"]) <= 90


def test_analyse_returns_every_field_with_its_documented_range(client, faces):
    body = _analyse(client, faces["obama.jpg"], ANALYSIS_FIELDS, max_faces=1)
    assert body["fields"] == list(ANALYSIS_FIELDS)
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    marks = face["landmarks"]
    assert (len(marks["points68"]), len(marks["points4"]), len(marks["points72"])) == (68, 4, 72)
    assert len(marks["points5"]) == 5  # the detector's own points stay
    assert face["gender"]["value"] == "male" and 0.5 <= face["gender"]["probability"] <= 1
    assert face["emotion"]["value"] == "happy"  # the official portrait smiles
    assert abs(sum(face["emotion"]["probabilities"].values()) - 1) < 1e-3
    assert face["expression"]["value"] in (1, 2)
    assert face["glasses"]["value"] in (0, 1, 2) and 0 <= face["glasses"]["probability"] <= 1
    assert set(face["face_shape"]) == {"square", "triangle", "oval", "heart", "round"}
    assert abs(sum(face["face_shape"].values()) - 1) < 1e-3
    assert 0 <= face["beauty"] <= 100
    quality = face["quality"]
    assert set(quality["occlusion"]) == set(BAIDU_OCCLUSION)
    assert all(0 <= v <= 1 for v in quality["occlusion"].values())
    assert 0 <= quality["blur"] <= 1 and 0 <= quality["illumination"] <= 255
    assert quality["completeness"] == 1
    assert quality["type"]["human"] > 0.9
    assert all(abs(face["pose"][k]) < 15 for k in ("yaw", "pitch", "roll"))  # a frontal portrait
    live = face["liveness"]
    assert 0 <= live["score"] <= 1 and live["live"] == (live["score"] >= live["threshold"])


def test_unknown_analysis_field_is_a_400_with_the_list_of_fields(client, faces):
    response = client.post("/v1/analyse", json={"image": b64(faces["obama.jpg"]),
                                                "fields": "age,mood"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["cloudwalk_code"] == 4101 and "mood" in error["message"]


@pytest.mark.parametrize("texture", ["mask_white.jpg", "mask_black.jpg", "mask_blue.jpg",
                                     "mask_green.jpg"])
def test_masked_faces_read_mouth_and_nose_occluded_and_unmasked_do_not(client, faces, texture):
    for name in ("obama.jpg", "astronaut.png"):
        clean = _largest(_analyse(client, faces[name], ["landmarks", "quality"]))
        occlusion = clean["quality"]["occlusion"]
        assert all(occlusion[r] <= BAIDU_OCCLUSION[r] for r in BAIDU_OCCLUSION), (name, occlusion)
        points = np.array(clean["landmarks"]["points68"])
        masked = put_mask(_rgb(faces[name]), points, _rgb(faces[texture]))
        occluded = _largest(_analyse(client, _png(masked), ["quality"]))["quality"]["occlusion"]
        assert occluded["mouth"] > BAIDU_OCCLUSION["mouth"], (name, texture, occluded)
        assert occluded["nose"] > BAIDU_OCCLUSION["nose"], (name, texture, occluded)
        assert occluded["left_eye"] <= BAIDU_OCCLUSION["left_eye"]  # the eyes stay visible


def test_a_blurred_copy_reads_blurrier(client, faces):
    image = _rgb(faces["obama2.jpg"])
    blurred = cv2.GaussianBlur(image, (0, 0), 4)
    sharp = _largest(_analyse(client, faces["obama2.jpg"], ["quality"]))["quality"]["blur"]
    soft = _largest(_analyse(client, _png(blurred), ["quality"]))["quality"]["blur"]
    assert soft > sharp + 0.3, (sharp, soft)


@pytest.mark.parametrize("angle", [-30, 20])
def test_a_face_turned_in_the_image_plane_reads_that_roll(client, faces, angle):
    image = _rgb(faces["obama.jpg"])
    h, w = image.shape[:2]
    upright = _largest(_analyse(client, faces["obama.jpg"], ["pose"]))["pose"]["roll"]
    # cv2 turns counter-clockwise for positive angles; Baidu's roll is clockwise-positive
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h))
    roll = _largest(_analyse(client, _png(turned), ["pose"]))["pose"]["roll"]
    assert abs((roll - upright) - (-angle)) < 4, (angle, upright, roll)


def test_a_cartoonised_face_reads_cartoon_and_the_photo_human(client, faces):
    # yaoming.jpg replaced astronaut.png here: the cartoonised astronaut's face is not found
    # at all; what passed before was a phantom on her suit (MTCNN 0.85, away from the face),
    # which the detector's score floor (0.97) now drops. The face's box is checked too.
    for name in ("obama.jpg", "yaoming.jpg"):
        photo = _largest(_analyse(client, faces[name], ["quality"]))
        drawn = _largest(_analyse(client, _png(cartoonise(_rgb(faces[name]))), ["quality"]))
        assert photo["quality"]["type"]["human"] > 0.9, (name, photo["quality"]["type"])
        assert drawn["quality"]["type"]["cartoon"] > 0.5, (name, drawn["quality"]["type"])
        a, b = photo["box"], drawn["box"]
        assert abs(a["x"] - b["x"]) < a["width"] / 4 and abs(a["y"] - b["y"]) < a["height"] / 4


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_remove_water_cleans_a_meshed_id_photo(client, faces):
    image = _rgb(faces["obama.jpg"])
    box = _largest(_analyse(client, faces["obama.jpg"], ["pose"]))["box"]
    # ID-photo framing: 358 x 441 around the face, as on a Chinese ID card
    cx, cy, side = box["x"] + box["width"] // 2, box["y"] + box["height"] // 2, box["height"]
    region = image[max(cy - side, 0):cy + side, max(cx - int(0.8 * side), 0):cx + int(0.8 * side)]
    clean = cv2.resize(region, (358, 441), interpolation=cv2.INTER_AREA)
    meshed = put_mesh(clean, seed=7)
    body = _post(client, "/face/tool/removeWater", img=b64(_png(meshed)))
    assert body["result"] == 0, body
    cleaned = _rgb(base64.b64decode(body["img"]))
    assert cleaned.shape == clean.shape
    assert _psnr(cleaned, clean) >= _psnr(meshed, clean) + 6.0
    before = _post(client, "/face/tool/compare", imgA=b64(_png(clean)), imgB=b64(_png(meshed)))
    after = _post(client, "/face/tool/compare", imgA=b64(_png(clean)),
                  imgB=body["img"])
    assert after["score"] > before["score"], (before, after)


def test_remove_water_refuses_bad_images_in_cloudwalk_codes(client):
    assert _post(client, "/face/tool/removeWater", img="not base64!")["result"] == 8497
    assert _post(client, "/face/tool/removeWater")["result"] == 4097


def _enrol(client, group: str, image: bytes) -> dict:
    return _post(client, "/face/clustering/face/create", groupId=group, tag="t", img=b64(image))


@pytest.fixture
def group(client) -> str:
    name = "gate" + uuid.uuid4().hex[:10]
    assert _post(client, "/face/clustering/group/create", groupId=name)["result"] == 0
    yield name
    _post(client, "/face/clustering/group/delete", groupId=name)


# Every portrait in the test data, as a new user would send it (bench/gate.py measures the
# same defaults on 4,992 LFW photos).
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "Tom_Hanks_54745.png",
             "yaoming.jpg", "astronaut.png")


def _eye_bar(image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """An opaque bar over both eyes, as on an anonymised photo."""
    eyes = points[36:48]
    height = 0.6 * float(points[42:48, 0].mean() - points[36:42, 0].mean())
    (x0, y0), (x1, y1) = eyes.min(0), eyes.max(0)
    out = image.copy()
    cv2.rectangle(out, (int(x0 - 0.3 * height), int((y0 + y1) / 2 - height / 2)),
                  (int(x1 + 0.3 * height), int((y0 + y1) / 2 + height / 2)), colour, -1)
    return out


def test_default_gate_enrols_every_test_portrait(client, faces, group):
    for name in PORTRAITS:
        body = _enrol(client, group, faces[name])
        assert body["result"] == 0, (name, body)


def test_default_gate_refuses_covered_eyes_and_covered_mouth_naming_the_region(client, faces,
                                                                             group):
    image = _rgb(faces["obama.jpg"])
    points = np.array(_largest(_analyse(client, faces["obama.jpg"], ["landmarks"]))
                      ["landmarks"]["points68"])
    for colour in ((0, 0, 0), (128, 128, 128)):
        body = _enrol(client, group, _png(_eye_bar(image, points, colour)))
        assert body["result"] == 8496 and "eye occluded" in body["info"], body
    body = _enrol(client, group, _png(put_mask(image, points, _rgb(faces["mask_white.jpg"]))))
    assert body["result"] == 8496 and ("nose" in body["info"] or "mouth" in body["info"]), body


def test_a_photo_cut_below_the_lip_enrols_and_one_cut_above_the_mouth_is_cut_off(
        client, faces, group):
    """Completeness asks for what recognition reads: eyes, nose and the mouth's corners."""
    image = _rgb(faces["obama.jpg"])
    points = np.array(_largest(_analyse(client, faces["obama.jpg"], ["landmarks"]))
                      ["landmarks"]["points68"])
    chinless = int((points[48:60, 1].max() + points[8, 1]) / 2)  # between lower lip and chin
    body = _enrol(client, group, _png(np.ascontiguousarray(image[:chinless])))
    assert body["result"] == 0, body
    mouthless = int((points[33, 1] + points[[48, 54], 1].min()) / 2)  # above the mouth corners
    body = _enrol(client, group, _png(np.ascontiguousarray(image[:mouthless])))
    assert body["result"] == 8496 and "cut off" in body["info"], body


def test_quality_gate_refuses_poor_faces_with_their_codes(client, faces, group):
    image = _rgb(faces["obama.jpg"])
    points = np.array(_largest(_analyse(client, faces["obama.jpg"], ["landmarks"]))
                      ["landmarks"]["points68"])
    cases = {
        8482: cv2.GaussianBlur(image, (0, 0), 10),
        8481: (image * 0.12).astype(np.uint8),
        8480: (255 - (255 - image.astype(np.float32)) * 0.25).astype(np.uint8),  # washed out
        8466: cv2.resize(image, None, fx=0.18, fy=0.18, interpolation=cv2.INTER_AREA),
        8496: put_mask(image, points, _rgb(faces["mask_blue.jpg"])),
    }
    for code, bad in cases.items():
        body = _enrol(client, group, _png(bad))
        assert body["result"] == code, (code, body)
    # nothing half-written: the group is still empty, and a good face still enrols
    query = _post(client, "/face/clustering/group/query", groupId=group, type="queryByGroupId",
                  faceCount="true")
    assert query["rows"][0]["count"] == 0
    assert _enrol(client, group, faces["obama.jpg"])["result"] == 0
    # a photo taken sideways is turned upright, not refused for its roll
    sideways = np.ascontiguousarray(np.rot90(image, -1))
    body = _enrol(client, group, _png(sideways))
    assert body["result"] == 0, body
