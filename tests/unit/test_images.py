import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gateway.dialects.cloudwalk.codes import cloudwalk_code
from shared.errors import ERRORS, FaceError
from shared.images import b64decode, decode, probe


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _code(data: bytes, fn=probe) -> int:
    with pytest.raises(FaceError) as err:
        fn(data)
    return cloudwalk_code(err.value.kind)


def test_jpg_png_bmp_are_accepted_and_gif_is_not():
    image = Image.new("RGB", (64, 48), (10, 20, 30))
    for fmt, name in (("JPEG", "jpg"), ("PNG", "png"), ("BMP", "bmp")):
        assert probe(_encode(image, fmt)).format == name
        assert decode(_encode(image, fmt)).shape == (48, 64, 3)
    assert _code(_encode(image, "GIF")) == 8497


def test_size_limits_8498_and_8499():
    assert _code(_encode(Image.new("RGB", (8000, 5000)), "JPEG")) == 8498
    assert _code(_encode(Image.new("RGB", (20, 20)), "PNG")) == 8499
    # portrait 4000 x 6000 is inside "6000 x 4000"
    assert probe(_encode(Image.new("L", (4000, 6000)), "JPEG")).height == 6000


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
    assert decode(data).shape == (120, 60, 3)


def test_transparent_png_becomes_rgb_on_white():
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    pixels = decode(_encode(image, "PNG"))
    assert pixels.shape == (40, 40, 3) and pixels.min() == 255
