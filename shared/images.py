"""Image input rules: formats, size limits, EXIF orientation, safe decoding.

Formats: what phones and cameras save (FORMATS): JPEG (progressive, CMYK, MPO), PNG (16-bit,
palette), BMP, WEBP, AVIF, HEIC/HEIF (pillow-heif), TIFF and GIF; of an animation, the first
frame. Sizes: each dialect gives its bound (SizeLimit): CloudWalk's and Baidu's documents say
at most 6000 x 4000 (DOCUMENT_LIMIT; Baidu adds its own 4096 px edge), the native API and
ingestion accept up to FACEGATE_MAX_PIXELS (100 megapixels by default).

`probe` reads only the header, so the gateway refuses oversized or non-image input without
decoding it; `decode` is what the worker runs. Neither trusts the declared size: a file whose
header promises more pixels than the limit is refused before any pixel is decoded, which is
what stops decompression bombs, and a truncated file fails the decode with a clean error.
A photo over WORK_PIXELS is decoded to a working copy of about that size (JPEG's DCT scaling,
"draft" mode, where it applies, so a 48-megapixel photo never occupies its full size in
memory), and `decode` says the scale, so boxes are reported in the photo's own pixels. A face
too small in that copy for the embedder's input is cropped from the photo at its own size
(`full_resolution`, decoded only for such a photo: services/vision/pipeline.py).
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
from pillow_heif import register_heif_opener

from shared.errors import ERRORS, FaceError
from shared.settings import Settings

register_heif_opener()  # HEIC/HEIF: every iPhone's default

MAX_LONG_SIDE = 6000
MAX_SHORT_SIDE = 4000
MIN_SIDE = 24
# The most pixels any dialect may be set to accept (FACEGATE_MAX_PIXELS is validated below it).
HARD_MAX_PIXELS = 400_000_000
# Detection, alignment and analysis run on at most this many pixels (6000 x 4000: what every
# photo within the vendors' limits is, so those are worked on at full size as before).
WORK_PIXELS = MAX_LONG_SIDE * MAX_SHORT_SIDE
# PIL's name -> ours
FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "BMP": "bmp", "WEBP": "webp",
           "AVIF": "avif", "HEIF": "heic", "TIFF": "tiff", "GIF": "gif"}
FORMAT_NAMES = "jpg, png, bmp, webp, avif, heic, tiff or gif"
# Files taken as photos from an archive or a directory (ingestion, `facegate ingest`).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".avif", ".heic", ".heif",
                  ".gif", ".tif", ".tiff")
# PIL's own bomb guard, set above any limit we allow so it never fires before our clearer
# error (our limits are checked on the header, before any pixel is decoded).
Image.MAX_IMAGE_PIXELS = HARD_MAX_PIXELS + 1
_EXIF_ORIENTATION = 0x0112
_DATA_URL = re.compile(r"^data:image/[a-zA-Z0-9.+-]+;base64,")
_WHITESPACE = re.compile(r"[\r\n\t]")
_URLSAFE = str.maketrans("-_", "+/")


@dataclass(frozen=True)
class ImageInfo:
    format: str  # FORMATS' names
    width: int  # after EXIF orientation
    height: int


@dataclass(frozen=True)
class SizeLimit:
    """The largest photo a caller may send: sides (a vendor document's rule) or pixels."""

    max_long: int | None = None
    max_short: int | None = None
    max_pixels: int | None = None

    def check(self, width: int, height: int) -> None:
        long_side, short_side = max(width, height), min(width, height)
        if (self.max_long and long_side > self.max_long) or \
                (self.max_short and short_side > self.max_short):
            raise FaceError(ERRORS.IMAGE_TOO_LARGE, f"{width}x{height}: more than "
                            f"{self.max_long} x {self.max_short} pixels")
        if self.max_pixels and width * height > self.max_pixels:
            raise FaceError(ERRORS.IMAGE_TOO_LARGE, f"{width}x{height}: more than "
                            f"{self.max_pixels / 1e6:g} megapixels")
        if width < MIN_SIDE or height < MIN_SIDE:
            raise FaceError(ERRORS.IMAGE_TOO_SMALL, f"{width}x{height}")


# CloudWalk face server API v1.24, "input image rules": at most 6000 x 4000
DOCUMENT_LIMIT = SizeLimit(MAX_LONG_SIDE, MAX_SHORT_SIDE)


def pixel_limit(max_pixels: int) -> SizeLimit:
    return SizeLimit(max_pixels=max_pixels)


def native_limit(settings: Settings) -> SizeLimit:
    """The native API's and ingestion's bound: FACEGATE_MAX_PIXELS."""
    return pixel_limit(settings.max_pixels)


def vendor_limit(settings: Settings) -> SizeLimit:
    """CloudWalk's and Baidu's: their documents' 6000 x 4000, unless
    FACEGATE_VENDOR_IMAGE_LIMITS=false relaxes it to the native bound."""
    return DOCUMENT_LIMIT if settings.vendor_image_limits else native_limit(settings)


@dataclass(frozen=True)
class Decoded:
    """A photo's working copy: RGB, upright; `width` and `height` the photo's own (upright)."""

    rgb: np.ndarray
    width: int
    height: int

    @property
    def scale(self) -> float:
        """The photo's size over the copy's (1.0: the photo itself)."""
        return self.width / self.rgb.shape[1]


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
                        f"more than {HARD_MAX_PIXELS / 1e6:g} megapixels") from exc
    except Exception as exc:  # PIL raises many types for non-images
        raise FaceError(ERRORS.IMAGE_FORMAT, f"not a {FORMAT_NAMES} image") from exc
    if image.format not in FORMATS:
        raise FaceError(ERRORS.IMAGE_FORMAT, f"unsupported image format {image.format} "
                                             f"(accepted: {FORMAT_NAMES})")
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _checked(data: bytes, limit: SizeLimit) -> tuple[Image.Image, int, int]:
    """The opened image and its upright size, within `limit` (read from the header only)."""
    image = _open(data)
    width, height = _oriented_size(image)
    limit.check(width, height)
    return image, width, height


def probe(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT) -> ImageInfo:
    image, width, height = _checked(data, limit)
    return ImageInfo(FORMATS[image.format], width, height)


def decode(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT,
           work_pixels: int = WORK_PIXELS) -> Decoded:
    """The photo's working copy, upright as the EXIF orientation says, at most about
    `work_pixels`."""
    image, width, height = _checked(data, limit)
    shrink = (width * height / work_pixels) ** 0.5
    try:
        if shrink > 1.0 and image.format in ("JPEG", "MPO"):
            # DCT scaling: decoded at 1/2, 1/4 or 1/8 of the size straight from the file
            image.draft("RGB", (int(image.width / shrink) + 1, int(image.height / shrink) + 1))
        image.load()  # of an animation (GIF, WEBP), the first frame
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = _to_rgb(image)
        if image.width * image.height > work_pixels * 1.01:
            factor = (image.width * image.height / work_pixels) ** 0.5
            image = image.resize((max(1, round(image.width / factor)),
                                  max(1, round(image.height / factor))), Image.BILINEAR,
                                 reducing_gap=2.0)
        rgb = np.array(image)  # a writable copy: torch refuses read-only buffers
    except FaceError:
        raise
    except Exception as exc:  # truncated or corrupt pixel data
        raise FaceError(ERRORS.IMAGE_DECODE, f"corrupt image data: {exc}") from exc
    return Decoded(rgb, width, height)


def full_resolution(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT) -> Image.Image:
    """The photo at its own size, upright, RGB: for crops of faces that are small in the
    working copy (its whole size in memory while it is held)."""
    image, _, _ = _checked(data, limit)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return image if image.mode == "RGB" else _to_rgb(image)
    except Exception as exc:
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
