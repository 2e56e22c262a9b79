"""Request parameters from the query string and a form-encoded, multipart or JSON body.

A form's values are str, except an uploaded file part, which stays bytes (raw image data); a
JSON body keeps its types; each route's declared model (gateway/contract.py) validates them. A
body is read only up to FACEGATE_MAX_BODY_BYTES, whether or not it declares its length (a
chunked upload is cut off at the limit, not buffered whole); JSON nested too deep is refused.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from shared.errors import ERRORS, FaceError

Params = dict[str, Any]
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
    params.update(data)
    return params
