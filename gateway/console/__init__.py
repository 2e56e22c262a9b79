"""The web console: plain HTML, CSS and JavaScript (no build step, nothing fetched at run
time), served by the gateway at /console. The pages call the same /v1 API as any client, with
the credentials the user signs in with (kept in the tab's sessionStorage, sent as the
app_id / app_secret headers); the Apps page uses the admin credential. /docs is the API
explorer page of the console, over /openapi.json."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.openapi import document

STATIC = Path(__file__).parent / "static"
# The pages run only their own script and talk only to this origin: an injected tag or a
# framing site gets nothing (user data is always inserted as text, never as HTML).
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
     b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def with_security_headers(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *SECURITY_HEADERS]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


async def api_page(request: Request) -> RedirectResponse:
    return RedirectResponse("/console/#/api")


async def console_root(request: Request) -> RedirectResponse:
    return RedirectResponse("/console/")


def routes() -> list[BaseRoute]:
    return [Route("/openapi.json", openapi_json), Route("/docs", api_page),
            Route("/console", console_root),
            Mount("/console", app=with_security_headers(StaticFiles(directory=STATIC, html=True)),
                  name="console")]
