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
    max_decode_bytes: int | None = None  # a worker's decode budget: a photo costing more is
    # refused before any pixel is decoded (decode_cost)

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


def pixel_limit(max_pixels: int, max_decode_bytes: int | None = None) -> SizeLimit:
    return SizeLimit(max_pixels=max_pixels, max_decode_bytes=max_decode_bytes)


def native_limit(settings: Settings) -> SizeLimit:
    """The native API's and ingestion's bound: FACEGATE_MAX_PIXELS, and what a worker may
    spend decoding one photo (FACEGATE_DECODE_BUDGET_BYTES)."""
    return pixel_limit(settings.max_pixels, settings.decode_budget_bytes)


def vendor_limit(settings: Settings) -> SizeLimit:
    """CloudWalk's and Baidu's: their documents' 6000 x 4000, unless
    FACEGATE_VENDOR_IMAGE_LIMITS=false relaxes it to the native bound."""
    if settings.vendor_image_limits:
        return SizeLimit(MAX_LONG_SIDE, MAX_SHORT_SIDE,
                         max_decode_bytes=settings.decode_budget_bytes)
    return native_limit(settings)


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
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, from what opening the file read. A PNG's EXIF not seen by then
    sits after the pixels (Pillow would decode every pixel to reach it: a 100-megapixel PNG's
    400 MB and half a second, in a header check): such a PNG counts as upright."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        return image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        return 1


def _checked(data: bytes, limit: SizeLimit) -> tuple[Image.Image, int, int]:
    """The opened image and its upright size, within `limit` (read from the header only)."""
    image = _open(data)
    width, height = _oriented_size(image)
    limit.check(width, height)
    if limit.max_decode_bytes:
        peak = _cost(image, width, height, WORK_PIXELS, True).peak
        if peak > limit.max_decode_bytes:
            raise FaceError(ERRORS.IMAGE_TOO_LARGE, f"{width}x{height} {image.format}: "
                            f"decoding it takes about {peak / 2**20:.0f} MiB, more than a "
                            f"worker may hold ({limit.max_decode_bytes / 2**20:.0f} MiB, "
                            "FACEGATE_DECODE_BUDGET_BYTES)")
    return image, width, height


def probe(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT) -> ImageInfo:
    image, width, height = _checked(data, limit)
    return ImageInfo(FORMATS[image.format], width, height)


# Bytes PIL stores per pixel of a decoded image, by mode (RGB is kept as 4: RGBX)
_STORED = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_BUFFERED_FORMATS = {"WEBP", "AVIF", "HEIF"}
# Modes a box reduction cannot work on directly: what they are converted to first
_BEFORE_REDUCE = {"1": "L", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}


@dataclass(frozen=True)
class DecodeCost:
    """Memory a photo's decoding takes, read from its header: `held` while its working copy
    lives (the RGB array everything runs on), `transient` for a moment on top (the decoded
    pixels before they are reduced, or the photo at its own size for a crop)."""

    held: int
    transient: int

    @property
    def peak(self) -> int:
        return self.held + self.transient


def _stored(mode: str) -> int:
    return _STORED.get(mode, 4)


def _decoded_size(image: Image.Image, work_pixels: int) -> tuple[int, int]:
    """The size `decode` loads the pixels at: a JPEG's DCT scaling reduces it by 2, 4 or 8
    where that still leaves at least the working size."""
    width, height = image.size
    shrink = (width * height / work_pixels) ** 0.5
    if shrink > 1.0 and image.format in ("JPEG", "MPO"):
        scale = 1
        while scale < 8 and shrink / (scale * 2) >= 1.0:
            scale *= 2
        return -(-width // scale), -(-height // scale)
    return width, height


def decode_cost(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT,
                work_pixels: int = WORK_PIXELS, detail: bool = True) -> DecodeCost:
    """What decoding the photo will take (its header only: nothing is decoded), `detail`:
    counting a crop from the photo at its own size too (full_resolution). IMAGE errors as
    probe's."""
    image, width, height = _checked(data, limit)
    return _cost(image, width, height, work_pixels, detail)


def _cost(image: Image.Image, width: int, height: int, work_pixels: int,
          detail: bool) -> DecodeCost:
    stored = _stored(image.mode)
    loaded_w, loaded_h = _decoded_size(image, work_pixels)
    loaded = loaded_w * loaded_h
    working = min(width * height, work_pixels)
    # the loaded pixels, a converted copy where the mode needs one, the reduced RGB image
    # (a WebP, AVIF or HEIF decoder hands its own buffer over: two more copies of it)
    library = 8 if image.format in _BUFFERED_FORMATS else 0
    transient = (loaded * (stored + library) + (loaded * 4 if image.mode != "RGB" else 0)
                 + working * 4)
    if detail and width * height > work_pixels:
        # the photo at its own size, RGB (and an alpha mask while it is composited)
        # (a 16-bit scan also as an array, and as 8-bit grey, on its way to RGB)
        extra = 8 if image.mode.startswith("I;16") else 5
        transient = max(transient, width * height * (stored + library + extra))
    return DecodeCost(held=working * 3, transient=transient)


def decode(data: bytes, limit: SizeLimit = DOCUMENT_LIMIT,
           work_pixels: int = WORK_PIXELS) -> Decoded:
    """The photo's working copy, upright as the EXIF orientation says, at most about
    `work_pixels`. A bigger photo is reduced right after its pixels are loaded (JPEG: while
    they are, by DCT scaling), before any conversion copies it: a 100-megapixel PNG costs its
    decoded pixels once, not five full-size copies (decode_cost says how much)."""
    image, width, height = _checked(data, limit)
    try:
        if image.format in ("JPEG", "MPO") and width * height > work_pixels:
            image.draft("RGB", _decoded_size(image, work_pixels))
        image.load()  # of an animation (GIF, WEBP), the first frame
        factor = int((image.width * image.height / work_pixels) ** 0.5)
        if factor >= 2:
            image = _reducible(image).reduce(factor)  # a box filter: the mean of factor^2 px
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


def _reducible(image: Image.Image) -> Image.Image:
    """The image in a mode Image.reduce averages correctly (palette indices are no values)."""
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info
                             else "RGB")
    if image.mode in _BEFORE_REDUCE:
        return image.convert(_BEFORE_REDUCE[image.mode])
    return image


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
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            image.mode == "P" and "transparency" in image.info):
        # Composited on white, in place on one RGB copy: a transparent background should not
        # read as black, and a big photo should not be copied four times to say so.
        if image.mode not in ("RGBA", "RGBa"):
            image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # scaled to 8 bits a band of rows at a time (a whole float copy of a 100-megapixel
        # scan would be 400 MB)
        array = np.asarray(image)
        top = max(int(array.max()), 1)
        grey = np.empty(array.shape, np.uint8)
        for row in range(0, array.shape[0], 512):
            band = array[row:row + 512].astype(np.int64)
            grey[row:row + 512] = np.clip(band, 0, None) * 255 // top
        return Image.fromarray(grey).convert("RGB")
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
