"""The stored face region (services/vision/align.py face_region): the square a group is
re-embedded from, and the thumbnail made from it."""

from __future__ import annotations

import numpy as np
import pytest

from services.vision.align import GREY, REGION_SIDE, face_region, square_thumbnail
from shared.errors import FaceError
from shared.tasks import VisionRequest, image_spec, read_vision


def _photo(h: int = 600, w: int = 800) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_a_small_face_keeps_its_pixels_in_a_square_twice_its_size():
    image = _photo()
    box = np.array([300.0, 200.0, 340.0, 250.0])  # 40 x 50: the square is 100 px
    region, moved = face_region(image, box)
    assert region.shape == (100, 100, 3)  # never enlarged
    # centred on the box, the photo's own pixels (no resampling at scale 1)
    assert np.array_equal(region, image[175:275, 270:370])
    assert moved.tolist() == [30.0, 25.0, 70.0, 75.0]


def test_a_big_face_is_shrunk_to_the_cap_with_its_box():
    image = _photo(1200, 1600)
    box = np.array([600.0, 300.0, 900.0, 700.0])  # 400 tall: an 800 px square
    region, moved = face_region(image, box)
    assert region.shape == (REGION_SIDE, REGION_SIDE, 3)
    scale = REGION_SIDE / 800
    assert moved == pytest.approx([(600 - 350) * scale, (300 - 100) * scale,
                                   (900 - 350) * scale, (700 - 100) * scale])
    # the box keeps its place in the middle
    assert (moved[0] + moved[2]) / 2 == pytest.approx(REGION_SIDE / 2)


def test_where_the_square_leaves_the_photo_it_is_grey():
    image = _photo(200, 200)
    box = np.array([0.0, 0.0, 60.0, 60.0])  # at the corner: the square starts at -30
    region, moved = face_region(image, box)
    assert region.shape == (120, 120, 3)
    assert (region[:30] == GREY).all() and (region[:, :30] == GREY).all()
    assert np.array_equal(region[30:, 30:], image[:90, :90])
    assert moved.tolist() == [30.0, 30.0, 90.0, 90.0]


def test_the_thumbnail_from_the_region_shows_what_the_photo_would():
    image = np.zeros((400, 400, 3), np.uint8)
    image[150:250, 150:250] = 255  # the "face" fills its box
    box = np.array([150.0, 150.0, 250.0, 250.0])
    region, moved = face_region(image, box)
    from_region = square_thumbnail(region, moved, 64).astype(int)
    from_photo = square_thumbnail(image, box, 64).astype(int)
    assert np.abs(from_region - from_photo).mean() < 2.0


def test_a_request_may_ask_for_regions_and_name_its_embedder():
    spec = image_spec(b"x", embed=True, region=True)
    request = read_vision({"images": [spec], "model": "arcface"})
    assert request.images[0].region and request.model == "arcface"
    assert VisionRequest.model_validate({"images": [image_spec(b"x")]}).model is None
    with pytest.raises(FaceError):
        read_vision({"images": [spec], "model": "no-such-model"})
