"""Turning an image parameter (base64, an uploaded file or a URL) into checked image bytes.

The header is probed here so a non-image or an oversized image is refused at the gateway,
before anything is queued; the worker decodes the pixels.
"""

from __future__ import annotations

from gateway.params import Params
from shared.errors import ERRORS, FaceError
from shared.images import SizeLimit, b64decode, probe, vendor_limit
from shared.settings import Settings
from shared.urlfetch import fetch_image


async def image_input(params: Params, data_key: str, url_key: str, settings: Settings,
                      limit: SizeLimit | None = None) -> bytes:
    """The image's bytes, its header checked against `limit` (the vendors' by default)."""
    limit = limit or vendor_limit(settings)
    value = params.get(data_key)
    url = params.get(url_key)
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
    elif isinstance(url, str) and url.strip():
        data = await fetch_image(url.strip(), settings)
    elif isinstance(url, bytes) and url.strip():
        data = await fetch_image(url.decode().strip(), settings)
    else:
        raise FaceError(ERRORS.PARAM_MISSING, f"{data_key} or {url_key} is required")
    probe(data, limit)
    return data
