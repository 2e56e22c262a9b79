"""CloudWalk /face/tool/* end to end: HTTP -> gateway -> Redis -> Celery worker -> MTCNN +
FaceNet -> back, with real faces."""

import io

import numpy as np
import pytest
from PIL import Image

from shared.models import RECOMMENDED_SCORE
from tests.conftest import b64


def _post(client, path, **params):
    response = client.post(path, data=params)
    assert response.status_code == 200
    return response.json()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_obama_matches_obama2_and_not_biden(client, faces):
    same = _post(client, "/face/tool/compare", imgA=b64(faces["obama.jpg"]),
                 imgB=b64(faces["obama2.jpg"]))
    other = _post(client, "/face/tool/compare", imgA=b64(faces["obama.jpg"]),
                  imgB=b64(faces["biden.jpg"]))
    assert same["result"] == 0 and same["info"] == "成功"
    assert same["score"] > RECOMMENDED_SCORE
    assert other["result"] == 0 and other["score"] < RECOMMENDED_SCORE
    assert 0.0 <= other["score"] <= 1.0


def test_group_photo_has_six_faces_with_boxes(client, faces):
    body = _post(client, "/face/tool/detect", img=b64(faces["t1.jpg"]))
    assert body["result"] == 0
    assert len(body["faces"]) == 6
    for face in body["faces"]:
        assert set(face) == {"x", "y", "width", "height", "img"}
        assert face["img"] == "null"
        assert face["width"] >= 30 and face["height"] >= 30


def test_detect_mode_true_returns_face_crops_as_jpeg(client, faces):
    body = _post(client, "/face/tool/detect", img=b64(faces["obama2.jpg"]), mode="true")
    face = body["faces"][0]
    crop = Image.open(io.BytesIO(__import__("base64").b64decode(face["img"])))
    assert crop.format == "JPEG"
    assert abs(crop.width - face["width"]) <= 2 and abs(crop.height - face["height"]) <= 2


def test_face_rotated_90_degrees_still_compares_as_the_same_person(client, faces):
    rotated = _jpeg(Image.open(io.BytesIO(faces["obama2.jpg"])).rotate(90, expand=True))
    body = _post(client, "/face/tool/compare", imgA=b64(faces["obama.jpg"]), imgB=b64(rotated))
    assert body["result"] == 0 and body["score"] > RECOMMENDED_SCORE


def test_no_face_bad_base64_and_too_large(client, faces):
    assert _post(client, "/face/tool/detect", img=b64(faces["coffee.png"]))["result"] == 8464
    assert _post(client, "/face/tool/feature", img=b64(faces["coffee.png"]))["result"] == 8464
    assert _post(client, "/face/tool/detect", img="this is !! not base64")["result"] == 8497
    big = _jpeg(Image.new("RGB", (8000, 5000), (128, 128, 128)))
    assert _post(client, "/face/tool/detect", img=b64(big))["result"] == 8498
    tiny = _jpeg(Image.new("RGB", (20, 20)))
    assert _post(client, "/face/tool/detect", img=b64(tiny))["result"] == 8499
    missing = _post(client, "/face/tool/compare", imgA=b64(faces["obama.jpg"]))
    assert missing["result"] == 4097 and missing["info"].startswith("参数不完整")


def test_similarity_by_feature_equals_compare(client, faces):
    fa = _post(client, "/face/tool/feature", img=b64(faces["obama.jpg"]))
    fb = _post(client, "/face/tool/feature", img=b64(faces["obama3.jpg"]))
    assert fa["result"] == 0 and len(fa["feature"]) > 2000
    by_feature = _post(client, "/face/tool/similarityByFeature", featureA=fa["feature"],
                       featureB=fb["feature"])
    compared = _post(client, "/face/tool/compare", imgA=b64(faces["obama.jpg"]),
                     imgB=b64(faces["obama3.jpg"]))
    assert by_feature["result"] == 0
    assert by_feature["score"] == pytest.approx(compared["score"], abs=1e-4)


def test_damaged_and_truncated_features_are_refused(client, faces):
    feature = _post(client, "/face/tool/feature", img=b64(faces["biden.jpg"]))["feature"]
    raw = bytearray(__import__("base64").b64decode(feature))
    raw[50] ^= 0x55
    damaged = b64(bytes(raw))
    body = _post(client, "/face/tool/similarityByFeature", featureA=feature, featureB=damaged)
    assert body["result"] == 8514
    body = _post(client, "/face/tool/similarityByFeature", featureA=feature,
                 featureB=b64(bytes(raw[:-40])))
    assert body["result"] == 8515


def test_compare_ext1_scores_every_face_of_the_second_image(client, faces):
    group = faces["t1.jpg"]
    crop = Image.open(io.BytesIO(group))
    face = _post(client, "/face/tool/detect", img=b64(group))["faces"][0]
    x, y, w, h = face["x"], face["y"], face["width"], face["height"]
    one = _jpeg(crop.crop((x - w // 2, y - h // 2, x + w + w // 2, y + h + h // 2)))
    body = _post(client, "/face/tool/compare/ext1", imgA=b64(one), imgB=b64(group))
    assert body["result"] == 0 and len(body["faces"]) == 6
    scores = [f["score"] for f in body["faces"]]
    assert body["score"] == max(scores) > RECOMMENDED_SCORE
    best = body["faces"][int(np.argmax(scores))]
    assert abs(best["x"] - x) < 10 and abs(best["y"] - y) < 10
    assert sorted(scores)[-2] < RECOMMENDED_SCORE  # the other five are other people


def test_json_and_multipart_bodies_are_accepted(client, faces):
    body = client.post("/face/tool/compare", json={
        "imgA": b64(faces["obama.jpg"]), "imgB": b64(faces["obama2.jpg"])}).json()
    assert body["result"] == 0 and body["score"] > RECOMMENDED_SCORE
    body = client.post("/face/tool/detect", files={"img": ("a.jpg", faces["biden.jpg"])}).json()
    assert body["result"] == 0 and len(body["faces"]) == 1


def test_exif_rotated_upload_and_32bit_png(client, faces):
    image = Image.open(io.BytesIO(faces["obama2.jpg"])).rotate(-90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned; EXIF says how to show it upright
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    body = _post(client, "/face/tool/detect", img=b64(buffer.getvalue()))
    assert body["result"] == 0 and body["faces"][0]["height"] > body["faces"][0]["width"] * 0.9
    assert _post(client, "/face/tool/detect", img=b64(faces["32bit.png"]))["result"] == 0


def test_truncated_jpeg_gets_a_clean_error_and_the_worker_survives(client, faces):
    data = faces["obama.jpg"]
    body = _post(client, "/face/tool/detect", img=b64(data[: len(data) // 3]))
    assert body["result"] == 8497
    assert _post(client, "/face/tool/detect", img=b64(data))["result"] == 0


def test_url_inputs_from_an_allow_listed_loopback_server(client, faces, face_paths):
    import http.server
    import threading
    from functools import partial

    directory = str(face_paths["obama.jpg"].parent)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        body = _post(client, "/face/tool/compare", urlA=f"{base}/obama.jpg",
                     urlB=f"{base}/obama2.jpg")
        assert body["result"] == 0 and body["score"] > RECOMMENDED_SCORE
        assert _post(client, "/face/tool/detect", url=f"{base}/nope.jpg")["result"] == 8497
        assert _post(client, "/face/tool/detect",
                     url="http://169.254.169.254/latest/meta-data")["result"] == 4101
    finally:
        httpd.shutdown()


def test_unknown_cloudwalk_path_is_4100(client):
    assert _post(client, "/face/tool/nothing")["result"] == 4100
