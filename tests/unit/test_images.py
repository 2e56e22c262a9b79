import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gateway.dialects.cloudwalk.codes import cloudwalk_code
from shared.errors import ERRORS, FaceError
from shared.images import WORK_PIXELS, b64decode, decode, pixel_limit, probe


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _code(data: bytes, fn=probe) -> int:
    with pytest.raises(FaceError) as err:
        fn(data)
    return cloudwalk_code(err.value.kind)


def _saved_every_way(image: Image.Image) -> dict[str, bytes]:
    """One picture as phones, cameras and editors save it."""
    frames = [image, Image.new("RGB", image.size, (255, 255, 255))]
    return {
        "jpg": _encode(image, "JPEG"),
        "progressive jpg": _encode(image, "JPEG", progressive=True),
        "cmyk jpg": _encode(image.convert("CMYK"), "JPEG"),
        "png": _encode(image, "PNG"),
        "palette png": _encode(image.convert("P"), "PNG"),
        "16-bit png": _encode(Image.fromarray(
            np.asarray(image.convert("L"), np.uint16) * 257), "PNG"),
        "bmp": _encode(image, "BMP"),
        "webp": _encode(image, "WEBP"),
        "animated webp": _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "avif": _encode(image, "AVIF"),
        "heic": _encode(image, "HEIF"),
        "tiff": _encode(image, "TIFF"),
        "gif": _encode(image, "GIF"),
        "animated gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
    }


def test_every_format_a_phone_or_camera_saves_is_read_first_frame_first():
    image = Image.new("RGB", (64, 48), (200, 40, 30))
    for name, data in _saved_every_way(image).items():
        assert probe(data).width == 64, name
        pixels = decode(data).rgb
        assert pixels.shape == (48, 64, 3), name
        if "16-bit" not in name:  # (grey) of an animation the first frame: red, not white
            assert pixels[..., 0].mean() > 150 and pixels[..., 1].mean() < 90, name
    assert _code(_encode(image, "ICO")) == 8497  # an icon is no photo
    assert _code(_encode(image, "PDF")) == 8497


def test_size_limits_8498_and_8499():
    assert _code(_encode(Image.new("RGB", (8000, 5000)), "JPEG")) == 8498
    assert _code(_encode(Image.new("RGB", (20, 20)), "PNG")) == 8499
    # portrait 4000 x 6000 is inside "6000 x 4000"
    assert probe(_encode(Image.new("L", (4000, 6000)), "JPEG")).height == 6000


def test_a_48_megapixel_photo_is_taken_under_the_pixel_bound_and_worked_on_smaller():
    photo = Image.new("RGB", (8000, 6000), (90, 120, 150))
    data = _encode(photo, "JPEG", quality=80)
    limit = pixel_limit(100_000_000)
    assert probe(data, limit).width == 8000
    decoded = decode(data, limit)
    assert (decoded.width, decoded.height) == (8000, 6000)
    height, width = decoded.rgb.shape[:2]
    assert width * height <= WORK_PIXELS * 1.01 and decoded.scale == pytest.approx(8000 / width)
    assert _code(data, lambda d: probe(d, pixel_limit(40_000_000))) == 8498


def test_decompression_bomb_is_refused_from_the_header():
    # A PNG that claims 100000 x 100000 pixels: refused before any pixel is inflated.
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    assert _code(bomb) == 8498
    assert _code(bomb, decode) == 8498
    assert _code(bomb, lambda d: decode(d, pixel_limit(400_000_000))) == 8498


def test_truncated_and_garbage_data_are_8497():
    jpeg = _encode(Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)), "JPEG")
    assert _code(jpeg[: len(jpeg) // 2], decode) == 8497
    assert _code(b"definitely not an image") == 8497
    with pytest.raises(FaceError) as err:
        b64decode("@@@ not base64 @@@")
    assert err.value.kind is ERRORS.IMAGE_DECODE
    with pytest.raises(FaceError) as err:
        b64decode("")
    assert err.value.kind is ERRORS.IMAGE_DECODE


def test_base64_as_clients_send_it():
    data = b"\x89PNG some bytes"
    import base64

    plain = base64.b64encode(data).decode()
    assert b64decode(plain) == data
    assert b64decode("data:image/png;base64," + plain) == data
    assert b64decode(plain[:8] + "\r\n" + plain[8:]) == data
    assert b64decode(plain.replace("+", " ")) == data


def test_exif_orientation_is_honoured():
    image = Image.new("RGB", (120, 60), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    data = _encode(image, "JPEG", exif=exif.tobytes())
    assert (probe(data).width, probe(data).height) == (60, 120)
    assert decode(data).rgb.shape == (120, 60, 3)


def test_transparent_png_becomes_rgb_on_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    pixels = decode(_encode(image, "PNG")).rgb
    assert pixels.shape == (40, 40, 3) and pixels.min() == 255


def test_a_small_face_of_a_reduced_photo_is_cut_from_the_photos_own_pixels():
    from services.vision.pipeline import Detail

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)  # detail a copy loses
    data = _encode(Image.fromarray(pixels), "PNG")
    photo = decode(data, work_pixels=100 * 75)  # a copy 4 times smaller
    assert photo.scale == pytest.approx(4.0)
    detail = Detail(data, photo, pixel_limit(100_000_000))
    box = np.array([20.0, 10.0, 30.0, 24.0, 0.99])  # 10 x 14 px in the copy
    points = np.array([[22.0, 14.0], [28.0, 14.0], [25.0, 18.0], [23.0, 21.0], [27.0, 21.0]])
    assert detail.region(box, points, need=14) is None  # big enough in the copy
    region, moved, shifted = detail.region(box, points, need=160)
    # the photo's own pixels around the face (grown by Detail.GROW of its side), box and
    # points moved
    grow = int(56 * Detail.GROW)
    left, top = max(80 - grow, 0), max(40 - grow, 0)  # clipped to the photo
    assert np.array_equal(region, pixels[top:top + region.shape[0], left:left + region.shape[1]])
    assert region.shape[:2] == (96 + grow - top, 120 + grow - left)
    assert moved[:4].tolist() == [80 - left, 40 - top, 120 - left, 96 - top]
    assert moved[4] == pytest.approx(0.99)
    assert np.allclose(shifted, points * 4 - [left, top])
    unreduced = decode(data)
    assert Detail(data, unreduced, pixel_limit(100_000_000)).region(box, points, 160) is None


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"])
def test_the_header_check_never_decodes_the_pixels(fmt, monkeypatch):
    """probe and decode_cost read the header only: at the gateway and before the worker's
    decode budget is taken, a 100-megapixel photo must cost nothing (a PNG's EXIF lookup once
    decoded every pixel to find an eXIf chunk after them)."""
    from PIL import ImageFile

    from shared.images import DOCUMENT_LIMIT, WORK_PIXELS, decode_cost, probe

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(buffer, fmt)
    data = buffer.getvalue()

    decoded: list[str] = []

    def no_decoding(self, *args, **kwargs):
        decoded.append(self.format)  # (an error raised here could be swallowed on the way)
        raise OSError("pixels decoded in a header check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert probe(data, DOCUMENT_LIMIT).width == 64
    assert decode_cost(data, DOCUMENT_LIMIT, WORK_PIXELS, True).held > 0
    assert decoded == []
