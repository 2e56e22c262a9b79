"""Photo archives as phones and cameras save them, through the real stack: one portrait saved
every way enrols through /v1, CloudWalk and Baidu and through ingestion; a 48-megapixel photo
enrols through /v1 (worked on at 24 megapixels, answered in its own pixels) while CloudWalk
keeps its document's 6000 x 4000."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import b64


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def saved_every_way(portrait: Image.Image) -> dict[str, bytes]:
    """The formats an archive holds (issue 28): HEIC (iPhones), WEBP, AVIF, TIFF, GIF and an
    animated GIF (its first frame), progressive and CMYK JPEG, 16-bit and palette PNG, and a
    JPEG stored sideways with its EXIF orientation."""
    blank = Image.new("RGB", portrait.size, (255, 255, 255))
    ok, png16 = cv2.imencode(".png", (np.asarray(portrait)[..., ::-1].astype(np.uint16) * 257))
    assert ok
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; "display rotated 90 degrees clockwise"
    return {
        "heic": _save(portrait, "HEIF", quality=90),
        "webp": _save(portrait, "WEBP", quality=90),
        "avif": _save(portrait, "AVIF", quality=90),
        "tiff": _save(portrait, "TIFF"),
        "gif": _save(portrait, "GIF"),
        "animated gif": _save(portrait, "GIF", save_all=True, append_images=[blank],
                              duration=100, loop=0),
        "progressive jpg": _save(portrait, "JPEG", quality=90, progressive=True),
        "cmyk jpg": _save(portrait.convert("CMYK"), "JPEG", quality=90),
        "16-bit png": png16.tobytes(),
        "palette png": _save(portrait.quantize(256), "PNG"),
        "exif-rotated jpg": _save(portrait.transpose(Image.Transpose.ROTATE_90), "JPEG",
                                  quality=90, exif=exif.tobytes()),
    }


@pytest.fixture(scope="module")
def portrait(faces) -> Image.Image:
    return Image.open(io.BytesIO(faces["obama.jpg"])).convert("RGB")


def _group(client) -> str:
    name = "formats_" + uuid.uuid4().hex[:8]
    assert client.post("/v1/groups", json={"name": name}).status_code == 201
    return name


def test_one_portrait_saved_every_way_enrols_through_every_dialect(client, sdk, portrait):
    group, cloudwalk_group = _group(client), _group(client)
    for name, data in saved_every_way(portrait).items():
        native = client.post(f"/v1/groups/{group}/faces",
                             json={"image": b64(data), "tag": name, "key": name})
        assert native.status_code == 201, (name, native.text)
        cloudwalk = client.post("/face/clustering/face/create", data={
            "groupId": cloudwalk_group, "img": b64(data), "tag": name}).json()
        assert cloudwalk["result"] == 0, (name, cloudwalk)
        found = client.post(f"/v1/groups/{group}/identify", json={"image": b64(data)}).json()
        assert found["matches"][0]["same_person"], (name, found)
    baidu_group = "formats_baidu_" + uuid.uuid4().hex[:6]
    for name, data in list(saved_every_way(portrait).items())[:4]:  # HEIC, WEBP, AVIF, TIFF
        added = sdk.addUser(f"u{abs(hash(name)) % 10**6}", name, baidu_group, data)
        assert added.get("error_code", 0) == 0, (name, added)


def test_ingestion_takes_an_archive_of_every_format(client, portrait):
    group = _group(client)
    buffer = io.BytesIO()
    names = {"heic": "a.heic", "webp": "b.webp", "avif": "c.avif", "tiff": "d.tiff",
             "animated gif": "e.gif", "16-bit png": "f.png"}
    photos = saved_every_way(portrait)
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for kind, filename in names.items():
            info = tarfile.TarInfo(filename)
            info.size = len(photos[kind])
            archive.addfile(info, io.BytesIO(photos[kind]))
    accepted = client.post(f"/v1/groups/{group}/faces/bulk", content=buffer.getvalue(),
                           headers={"content-type": "application/x-tar"})
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 240
    while (body := client.get(accepted.json()["poll"]).json())["status"] not in ("done",
                                                                                   "failed"):
        assert time.monotonic() < deadline, body
        time.sleep(1)
    assert body["counts"] == {"enrolled": len(names)}, json.dumps(body)[:1000]


def test_a_48_megapixel_photo_enrols_natively_and_is_answered_in_its_own_pixels(client,
                                                                                  portrait):
    """8000 x 6000 (a 48 MP phone photo): the native API takes it (FACEGATE_MAX_PIXELS), the
    worker detects on a 24 MP copy, and the box comes back in the photo's pixels; CloudWalk
    keeps its document's 6000 x 4000 (8498)."""
    canvas = Image.new("RGB", (8000, 6000), (118, 120, 125))
    face = portrait.resize((portrait.width * 4, portrait.height * 4), Image.BICUBIC)
    left, top = 3100, 2200
    canvas.paste(face, (left, top))
    photo = _save(canvas, "JPEG", quality=88)
    detected = client.post("/v1/detect", json={"image": b64(photo)})
    assert detected.status_code == 200, detected.text
    body = detected.json()
    assert (body["width"], body["height"]) == (8000, 6000)
    [found] = body["faces"]
    # the face in the small portrait, four times larger, moved by the paste
    small = client.post("/v1/detect", json={"image": b64(_save(portrait, "JPEG"))}).json()
    expected = small["faces"][0]["box"]
    box = found["box"]
    assert abs(box["x"] - (left + 4 * expected["x"])) < 40, (box, expected)
    assert abs(box["y"] - (top + 4 * expected["y"])) < 40, (box, expected)
    assert abs(box["width"] - 4 * expected["width"]) < 60, (box, expected)
    group = _group(client)
    enrolled = client.post(f"/v1/groups/{group}/faces", json={"image": b64(photo), "tag": "48"})
    assert enrolled.status_code == 201, enrolled.text
    refused = client.post("/face/clustering/face/create",
                          data={"groupId": group, "img": b64(photo), "tag": "48"}).json()
    assert refused["result"] == 8498 and "6000 x 4000" in refused["info"], refused
