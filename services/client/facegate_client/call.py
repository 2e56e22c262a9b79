"""What both clients run: a Call (one request, the type of its answer, how the result is read
from it) or a generator of Calls and Pauses (a page loop, a job polled) that returns the
result. The sync client sends with httpx.Client and sleeps; the async one awaits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from ._version import __version__
from .errors import ApiError

T = TypeVar("T")
ImageInput = bytes | Path | str  # bytes, a file path, or an http(s) URL the server fetches


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    # the declared type of the success body (the server's contract, checked against
    # /openapi.json by tests/unit/test_client_openapi.py); None: not JSON
    answer: Any
    read: Callable[[httpx.Response], T]
    options: dict[str, Any] = field(default_factory=dict)  # httpx's request arguments
    idempotent: bool = True  # a 503 may be retried (retry.py)


@dataclass(frozen=True)
class Pause:
    seconds: float


Steps = Generator[Call[Any] | Pause, Any, T]
Operation = Call[T] | Steps[T]


def headers(app_id: str, app_secret: str, admin_secret: str) -> dict[str, str]:
    """Every request's credentials (an app's, the admin's for /v1/admin)."""
    sent = {"app_id": app_id, "app_secret": app_secret,
            "user-agent": f"facegate-client/{__version__}"}
    if admin_secret:
        sent["admin_secret"] = admin_secret
    return sent


def checked(response: httpx.Response) -> httpx.Response:
    """The response, or ApiError for a native error answer (an RFC 9457 problem)."""
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"message": response.text[:500]}}
        raise ApiError(response.status_code, body.get("error") or {}, body)
    return response


def body(response: httpx.Response) -> Any:
    return checked(response).json()


def body_field(name: str) -> Callable[[httpx.Response], Any]:
    """Reads one field of the answer (a page's list)."""
    return lambda response: body(response)[name]


def content(response: httpx.Response) -> bytes:
    return checked(response).content


def unchecked(response: httpx.Response) -> Any:
    """CloudWalk's answers: HTTP 200 with `result` and `info`, errors included."""
    return response.json()


def request(method: str, path: str, answer: Any, *, read: Callable[[httpx.Response], Any] = body,
            idempotent: bool = True, **options: Any) -> Call[Any]:
    return Call(method, path, answer, read, options, idempotent)


def image_fields(image: ImageInput, data_key: str = "image", url_key: str = "image_url"
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(form fields, files) for one image parameter."""
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        return {url_key: image}, {}
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return {}, {data_key: (data_key, data, "application/octet-stream")}


# The keys bulk loads give an item by default (the server's shared/images.py; the unit tests
# check they stay the same), so key="auto" enrols a photo once however often it is sent.
def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def url_key(url: str) -> str:
    return hashlib.sha256(f"url:{url}".encode()).hexdigest()
