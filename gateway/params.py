"""Request parameters from the query string and a form-encoded, multipart or JSON body.

A form's values are str, except an uploaded file part, which stays bytes (raw image data); a
JSON body keeps its types; each route's declared model (gateway/contract.py) validates them. A
body is read only up to FACEGATE_MAX_BODY_BYTES, whether or not it declares its length (a
chunked upload is cut off at the limit, not buffered whole); JSON nested too deep is refused.
Every body's bytes are taken from the process's budget (FACEGATE_BODY_BUDGET_BYTES) as they
arrive, until the request ends: when the budget is spent a request is answered busy before more
of it is read, so many large uploads at once cannot take the gateway's memory. Bytes are taken
as they come, not by the declared length, so a client that declares much and sends little holds
only what it sent; one that sends nothing for BODY_IDLE_S is answered and dropped.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from shared.budget import ByteBudget
from shared.errors import ERRORS, FaceError

Params = dict[str, Any]
# bodies kept as they are, under "body": the forms an ingestion request may take
RAW_BODY_TYPES = ("application/x-ndjson", "application/jsonl", "text/csv", "application/x-tar",
                  "application/gzip", "application/x-gzip", "application/zip",
                  "application/octet-stream")  # ids and offsets stay inside PostgreSQL's bigint


BODY_IDLE_S = 30.0  # longest wait for the next piece of a request body


def _too_large(max_body: int) -> FaceError:
    return FaceError(ERRORS.PARAM_INVALID, f"request body over {max_body} bytes")


class BodyHold:
    """The bytes one request's body has taken from the gateway's budget (None: no budget),
    given back when the request ends (the frame calls release)."""

    def __init__(self, budget: ByteBudget | None) -> None:
        self.budget = budget
        self.taken = 0

    def take(self, size: int) -> None:
        if self.budget is None or size <= 0:
            return
        if not self.budget.try_take(size):
            raise FaceError(ERRORS.SYSTEM_BUSY, "the gateway holds as many request bodies as "
                            "it may at once (FACEGATE_BODY_BUDGET_BYTES); retry in a few seconds")
        self.taken += size

    def cover(self, seen: int) -> None:
        """The body has reached `seen` bytes: take what the hold does not cover yet."""
        self.take(seen - self.taken)

    def release(self) -> None:
        if self.budget is not None and self.taken:
            self.budget.give(self.taken)
        self.taken = 0


def limited(receive: Receive, max_body: int, hold: BodyHold | None = None) -> Receive:
    """The request's body stream, refused as soon as it passes max_body bytes, its bytes
    taken from `hold`'s budget as they arrive."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        try:
            message = await asyncio.wait_for(receive(), BODY_IDLE_S)
        except TimeoutError:
            raise FaceError(ERRORS.PARAM_INVALID, f"no part of the request body came for "
                            f"{BODY_IDLE_S:.0f} s; send it again") from None
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_body:
                raise _too_large(max_body)
            if hold is not None:
                hold.cover(seen)
        return message

    return receive_limited


async def read_params(request: Request, max_body: int, hold: BodyHold | None = None) -> Params:
    params: Params = dict(request.query_params)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise _too_large(max_body)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in ("POST", "PATCH", "PUT"):
        return params
    request = Request(request.scope, limited(request.receive, max_body, hold))
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
