"""The one request frame every dialect's endpoints run in, and what the app factory hands each
dialect.

    authenticate (the dialect's credentials) -> read parameters (query, path, form, multipart,
    JSON; bounded) and validate them with the route's declared model (gateway/contract.py;
    a failure is the dialect's PARAM_MISSING / PARAM_INVALID naming the field) -> the handler
    (translates to and from the recognition core) -> the dialect's
    success body; a FaceError -> the dialect's error body, from its own code table; anything
    outage of Redis or PostgreSQL is SYSTEM_BUSY (retryable, gateway/outages.py); anything else
    is logged and answered as the dialect's "system error"

A dialect is an object with those four answers (Dialect below); gateway/dialects/<name>/ holds
one, its routes, and nothing else.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.contract import Declared, declare
from gateway.observe import record_error
from gateway.outages import as_outage
from gateway.params import BodyHold, read_params
from gateway.shares import CALLER
from services.recognition.context import Recognition
from shared.budget import ByteBudget
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.settings import Settings

log = logging.getLogger("facegate.gateway")


@dataclass
class Gateway:
    """The gateway's collaborators: built by the app factory; the gallery and the authenticator
    are filled in when the app starts (they need the event loop)."""

    settings: Settings
    recognition: Recognition
    auth: Authenticator | None = None
    bodies: ByteBudget | None = None  # request bodies held at once (FACEGATE_BODY_BUDGET_BYTES)


class Dialect(Protocol):
    name: str

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        """The calling app's id, or FaceError."""

    def success(self, request: Request, answer: Any) -> Response:
        """The handler's answer as the dialect's success."""

    def failure(self, request: Request, exc: FaceError) -> Response:
        """An error in the dialect's form and code."""

    def code(self, kind: ErrorKind) -> int | str:
        """The number (or name) the dialect prints for an error kind (for metrics and logs)."""


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (uvicorn applies X-Forwarded-For only from
    trusted proxies, --forwarded-allow-ips)."""
    return request.client.host if request.client else ""


@declare()
async def unsupported(ctx: Recognition, request: Request, params: Any) -> None:
    """A path under a dialect's mount that it does not serve, answered in its form."""
    raise FaceError(ERRORS.NOT_SUPPORTED, request.url.path)


def endpoint(gateway: Gateway, dialect: Dialect, declared: Declared
             ) -> Callable[[Request], Awaitable[Response]]:
    # A route may accept more than FACEGATE_MAX_BODY_BYTES (ingestion's archives): its contract
    # names the setting that bounds its bodies.
    max_body = getattr(gateway.settings, declared.max_body_setting)

    async def route(request: Request) -> Response:
        hold = BodyHold(gateway.bodies)
        try:
            request.state.app_id = await dialect.authenticate(gateway, request)
            CALLER.set(request.state.app_id)
            raw = await read_params(request, max_body, hold)
            params = declared.read({**raw, **request.path_params})
            answer = await declared.handler(gateway.recognition, request, params)
            return dialect.success(request, answer)
        except FaceError as exc:
            record_error(request, dialect.code(exc.kind))
            return dialect.failure(request, exc)
        except Exception as exc:
            error = as_outage(exc)
            if error is None:
                log.exception("%s %s failed", dialect.name, request.url.path)
                error = FaceError(ERRORS.SYSTEM)
            else:
                # where it came from, in one line: which client met the outage
                origin = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
                log.warning("%s %s: %s (%s: %s, at %s)", dialect.name, request.url.path,
                            error.detail, type(exc).__name__, exc,
                            f"{origin.filename}:{origin.lineno}" if origin else "?")
            record_error(request, dialect.code(error.kind))
            return dialect.failure(request, error)
        finally:
            hold.release()

    return route
