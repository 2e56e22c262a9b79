"""Turning an image parameter (base64, an uploaded file or a URL) into checked image bytes.

The header is probed here so a non-image or an oversized image is refused at the gateway,
before anything is queued; the worker decodes the pixels.
"""

from __future__ import annotations

from shared.errors import ERRORS, FaceError
from shared.images import SizeLimit, b64decode, probe, vendor_limit
from shared.settings import Settings
from shared.urlfetch import fetch_image


async def image_input(value: str | bytes | None, url: str | None, settings: Settings,
                      limit: SizeLimit | None = None, names: str = "image or image_url"
                      ) -> bytes:
    """The image's bytes (sent, or fetched from `url`), its header checked against `limit` (the
    vendors' by default); `names` are the parameters, for the error when neither came."""
    limit = limit or vendor_limit(settings)
    if isinstance(value, bytes) and value:
        data = value
        try:
            probe(data, limit)
        except FaceError as exc:
            if exc.kind is not ERRORS.IMAGE_FORMAT:  # an image, refused for what it is
                raise
            data = b64decode(value.decode("ascii", "replace"))  # a base64 text file upload
    elif isinstance(value, str) and value.strip():
        data = b64decode(value)
    elif url and url.strip():
        data = await fetch_image(url.strip(), settings)
    else:
        raise FaceError(ERRORS.PARAM_MISSING, f"{names} is required")
    probe(data, limit)
    return data
