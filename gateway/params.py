"""Request parameters from the query string and a form-encoded, multipart or JSON body.

Values are str, except an uploaded file part, which stays bytes (raw image data).
"""

from __future__ import annotations

import json

from starlette.datastructures import UploadFile
from starlette.requests import Request

from shared.errors import ERRORS, FaceError

Params = dict[str, str | bytes]


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
        raise FaceError(ERRORS.PARAM_INVALID, f"request body over {max_body} bytes")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST":
        return params
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=16, max_fields=256, max_part_size=max_body)
        except Exception as exc:
            raise FaceError(ERRORS.PARAM_INVALID, f"unreadable form body: {exc}") from None
        for key, value in form.multi_items():
            params[key] = await value.read() if isinstance(value, UploadFile) else value
        return params
    body = await request.body()
    if len(body) > max_body:
        raise FaceError(ERRORS.PARAM_INVALID, f"request body over {max_body} bytes")
    if not body.strip():
        return params
    try:
        data = json.loads(body)
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID,
                        "body must be JSON, form-encoded or multipart") from None
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
    return value


def integer(params: Params, name: str, default: int | None = None, low: int = 1,
            high: int | None = None) -> int:
    """An integer parameter within [low, high]; required when there is no default."""
    raw = text(params, name, required=default is None)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        raise FaceError(ERRORS.PARAM_INVALID, f"{name} must be in [{low}, {high or 'inf'}]")
    return value
