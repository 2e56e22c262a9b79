"""Image input rules (CloudWalk face server API v1.24, "input image rules"): formats, size
limits, EXIF orientation, safe decoding.

`probe` reads only the header, so the gateway refuses oversized or non-image input without
decoding it; `decode` is what the worker runs. Neither trusts the declared size: a file whose
header promises more pixels than the limit is refused before any pixel is decoded, which is
what stops decompression bombs, and a truncated file fails the decode with a clean error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from shared.errors import ERRORS, FaceError

MAX_LONG_SIDE = 6000
MAX_SHORT_SIDE = 4000
MIN_SIDE = 24
FORMATS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}
# Files taken as photos from an archive or a directory (ingestion, `facegate ingest`); the
# formats not in FORMATS are taken too, and reported as bad images rather than skipped.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
# PIL's own bomb guard, set just above our limit so it never fires before our clearer error.
Image.MAX_IMAGE_PIXELS = MAX_LONG_SIDE * MAX_SHORT_SIDE + 1
_EXIF_ORIENTATION = 0x0112
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,")
_WHITESPACE = re.compile(r"[\r\n\t]")
_URLSAFE = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class ImageInfo:
    format: str  # jpg, png or bmp
    width: int  # after EXIF orientation
    height: int


def b64decode(text: str) -> bytes:
    """Base64 as clients really send it: with line breaks, a data-URL prefix, or '+' turned
    into ' ' by a form encoder that was not told to escape it."""
    if not text or not text.strip():
        raise FaceError(ERRORS.IMAGE_DECODE, "empty image data")
    cleaned = _DATA_URL.sub("", _WHITESPACE.sub("", text.strip())).replace(" ", "+")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        data = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        try:  # the URL-safe alphabet, still strictly validated
            data = base64.b64decode(cleaned.translate(_URLSAFE), validate=True)
        except (binascii.Error, ValueError):
            raise FaceError(ERRORS.IMAGE_DECODE, "invalid base64") from exc
    if not data:
        raise FaceError(ERRORS.IMAGE_DECODE, "empty image data")
    return data


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL's own text names its internals ("decompression bomb DOS attack"): say ours
        raise FaceError(ERRORS.IMAGE_TOO_LARGE,
                        f"more than {MAX_LONG_SIDE} x {MAX_SHORT_SIDE} pixels") from exc
    except Exception as exc:  # PIL raises many types for non-images
        raise FaceError(ERRORS.IMAGE_FORMAT, "not a jpg, png or bmp image") from exc
    if image.format not in FORMATS:
        raise FaceError(ERRORS.IMAGE_FORMAT, f"unsupported image format {image.format}")
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _check_size(width: int, height: int) -> None:
    if max(width, height) > MAX_LONG_SIDE or min(width, height) > MAX_SHORT_SIDE:
        raise FaceError(ERRORS.IMAGE_TOO_LARGE, f"{width}x{height}")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise FaceError(ERRORS.IMAGE_TOO_SMALL, f"{width}x{height}")


def probe(data: bytes) -> ImageInfo:
    image = _open(data)
    width, height = _oriented_size(image)
    _check_size(width, height)
    return ImageInfo(FORMATS[image.format], width, height)


def decode(data: bytes) -> np.ndarray:
    """RGB uint8 array, H x W x 3, upright as the EXIF orientation says."""
    image = _open(data)
    _check_size(*_oriented_size(image))
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = _to_rgb(image)
        return np.array(image)  # a writable copy: torch refuses read-only buffers
    except FaceError:
        raise
    except Exception as exc:  # truncated or corrupt pixel data
        raise FaceError(ERRORS.IMAGE_DECODE, f"corrupt image data: {exc}") from exc


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite on white: a transparent background should not read as black.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float32)
        scale = 255.0 / max(float(array.max()), 1.0)
        return Image.fromarray((array * scale).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def content_key(data: bytes) -> str:
    """An enrolment's default idempotency key for a photo sent inline: its bytes' SHA-256."""
    return hashlib.sha256(data).hexdigest()


def url_key(url: str) -> str:
    """An enrolment's default idempotency key for a photo given by URL."""
    return hashlib.sha256(f"url:{url}".encode()).hexdigest()


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
