"""The images the throughput benchmarks send, made from the test faces (tests/support/faces.py).

- portraits: the 7 portrait test faces, each letterboxed into a 640 x 480 JPEG (one face);
- group: a 1920 x 1080 JPEG with 10 faces, a 5 x 2 grid of head-and-shoulders tiles (the 7
  portraits and 3 people cut from insightface's t1.jpg group photo). A collage, not a real
  group photo: the faces are real, their arrangement is ours, and every face is 100-250 px.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.support.faces import fetch

PORTRAITS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png",
             "Tom_Hanks_54745.png", "yaoming.jpg"]
# Regions of t1.jpg (1280 x 886), each around one of its six people and no other face:
# (left, top, right, bottom).
T1_PEOPLE = [(850, 0, 1070, 330), (405, 200, 630, 560), (0, 190, 230, 560)]
GROUP_FACES = 10


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _letterbox(image: Image.Image, width: int, height: int) -> Image.Image:
    image = image.convert("RGB")
    image.thumbnail((width, height))
    canvas = Image.new("RGB", (width, height), (127, 127, 127))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def portraits_640x480() -> list[bytes]:
    paths = fetch()
    return [_jpeg(_letterbox(Image.open(paths[name]), 640, 480)) for name in PORTRAITS]


def group_1080p() -> bytes:
    paths = fetch()
    t1 = Image.open(paths["t1.jpg"]).convert("RGB")
    tiles = [Image.open(paths[name]) for name in PORTRAITS]
    tiles += [t1.crop(box) for box in T1_PEOPLE]
    canvas = Image.new("RGB", (1920, 1080), (96, 104, 112))
    for k, tile in enumerate(tiles):
        column, row = k % 5, k // 5
        canvas.paste(_letterbox(tile, 384, 540), (column * 384, row * 540))
    return _jpeg(canvas)


def as_array(data: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))
