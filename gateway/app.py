"""The Starlette gateway: the app factory, which builds every collaborator and hands it down.

    uvicorn gateway.app:create_app --factory

Each dialect is mounted under its own prefix with its own routes and error answers:
CloudWalk at /face, Baidu at /oauth/2.0/token and /rest/2.0/face/v2, native at /v1; the web
console at /console, the OpenAPI document at /openapi.json and its explorer at /docs.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import console, observe
from gateway.auth import Authenticator
from gateway.dialects import baidu, cloudwalk, native
from gateway.dialects.native.dialect import not_found
from gateway.dispatch import Dispatcher
from gateway.frame import Gateway
from services.gallery.apps import server_key
from services.gallery.database import Gallery
from services.recognition.context import Recognition
from services.recognition.ports import VisionQueue
from shared import logs
from shared.budget import ByteBudget
from shared.settings import Settings, get_settings

log = logging.getLogger("facegate.gateway")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await request.app.state.dispatcher.ping()
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "redis": str(exc)}, status_code=503)
    body = {"status": "ready"}
    gallery = request.app.state.gateway.recognition.database
    if gallery is not None:
        try:
            async with gallery.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "postgres": str(exc)}, status_code=503)
        body["pgvector"] = ".".join(map(str, gallery.pgvector))
    return JSONResponse(body)


def _token_key(settings: Settings) -> bytes:
    if not settings.database_url:
        return b""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return server_key(conn, "oauth-token")


def create_app(settings: Settings | None = None, queue: VisionQueue | None = None,
               auth: Authenticator | None = None) -> Starlette:
    """The gateway. By default it talks to the workers through Celery on Redis (Dispatcher)
    and authenticates apps from the gallery; tests may hand in another queue (the in-process
    one, workers/inprocess.py) and authenticator."""
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_json)
    gateway = Gateway(settings, Recognition(settings, queue), auth,
                      ByteBudget(settings.body_budget_bytes))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        dispatcher = None
        if queue is None:
            dispatcher = Dispatcher(settings)
            await dispatcher.start()
            gateway.recognition.queue = dispatcher
        app.state.dispatcher = dispatcher
        # Migrations run here too (under an advisory lock), so a new version's gateway brings
        # its schema with it.
        gallery = (await Gallery.for_settings(settings) if settings.database_url else None)
        gateway.recognition.database = gallery
        if auth is None:
            gateway.auth = Authenticator(gallery and gallery.apps, settings,
                                         _token_key(settings), dispatcher.redis)
        yield
        if gallery:
            await gallery.close()
        if dispatcher is not None:
            await dispatcher.stop()

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/metrics", observe.metrics), *console.routes(),
                cloudwalk.mount(gateway), *baidu.routes(gateway), native.mount(gateway)],
        lifespan=lifespan,
        middleware=[Middleware(observe.Observe)],
        # a path no mount takes (one with a line break never matches a mount's prefix) is
        # answered in JSON too, in the native form
        exception_handlers={HTTPException: not_found},
    )
    app.state.gateway = gateway
    return app
