"""Request parameters from the query string and a form-encoded, multipart or JSON body.

Values are str, except an uploaded file part, which stays bytes (raw image data). A body is read
only up to FACEGATE_MAX_BODY_BYTES, whether or not it declares its length (a chunked upload is
cut off at the limit, not buffered whole); text may not hold NUL characters (PostgreSQL refuses
them); integers lie within [low, high] and inside PostgreSQL's bigint; JSON nested too deep is
refused.
"""

from __future__ import annotations

import json
import math

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from shared.errors import ERRORS, FaceError

Params = dict[str, str | bytes]
MAX_INT = 2**62
# bodies kept as they are, under "body": the forms an ingestion request may take
RAW_BODY_TYPES = ("application/x-ndjson", "application/jsonl", "text/csv", "application/x-tar",
                  "application/gzip", "application/x-gzip", "application/zip",
                  "application/octet-stream")  # ids and offsets stay inside PostgreSQL's bigint


def _too_large(max_body: int) -> FaceError:
    return FaceError(ERRORS.PARAM_INVALID, f"request body over {max_body} bytes")


def limited(receive: Receive, max_body: int) -> Receive:
    """The request's body stream, refused as soon as it passes max_body bytes."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_body:
                raise _too_large(max_body)
        return message

    return receive_limited


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


async def read_params(request: Request, max_body: int) -> Params:
    params: Params = dict(request.query_params)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_body)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in ("POST", "PATCH", "PUT"):
        return params
    request = Request(request.scope, limited(request.receive, max_body))
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=16, max_fields=256, max_part_size=max_body)
        except FaceError:
            raise
        except Exception as exc:
            raise FaceError(ERRORS.PARAM_INVALID, f"unreadable form body: {exc}") from None
        for key, value in form.multi_items():
            params[key] = await value.read() if isinstance(value, UploadFile) else value
        return params
    body = await request.body()
    if not body.strip():
        return params
    if content_type in RAW_BODY_TYPES:  # read by the handler that takes them (ingestion)
        params["body"] = body
        return params
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise FaceError(ERRORS.PARAM_INVALID,
                        "body must be JSON (nested at most a few hundred levels), form-encoded "
                        "or multipart") from None
    if not isinstance(data, dict):
        raise FaceError(ERRORS.PARAM_INVALID, "JSON body must be an object")
    params.update({key: _scalar(value) for key, value in data.items() if value is not None})
    return params


def flag(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    text = value.decode() if isinstance(value, bytes) else value
    if text.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if text.strip().lower() in ("false", "0", "no", "off", "null"):
        return False
    raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be true or false")


def text(params: Params, name: str, required: bool = True) -> str:
    value = params.get(name)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None or not value.strip():
        if required:
            raise FaceError(ERRORS.PARAM_MISSING, f"{name} is required")
        return ""
    if "\x00" in value:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} holds a NUL character")
    return value


def integer(params: Params, name: str, default: int | None = None, low: int = 1,
            high: int | None = None) -> int:
    """An integer parameter within [low, high] (high at most MAX_INT); required when there is no
    default."""
    high = MAX_INT if high is None else min(high, MAX_INT)
    raw = text(params, name, required=default is None)
    if not raw:
        return default
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be an integer")
    if not low <= value <= high:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be in [{low}, {high}]")
    return value


def number(params: Params, name: str) -> float | None:
    """A finite number parameter, None when absent (the caller checks its range)."""
    raw = text(params, name, required=False)
    if not raw:
        return None
    try:
        value = float(raw) if len(raw) <= 40 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be a number")
    return value
