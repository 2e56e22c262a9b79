"""The Starlette gateway: dialect routes, health, and the dispatcher's life cycle.

    uvicorn gateway.app:create_app --factory
"""

from __future__ import annotations

import contextlib
import logging

import psycopg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import observe
from gateway.auth import Authenticator
from gateway.dialects import baidu, cloudwalk, cloudwalk_gallery, native
from gateway.dispatch import Dispatcher
from services.gallery.apps import server_key
from services.gallery.repository import Gallery
from shared import logs
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
    gallery = request.app.state.gallery
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_json)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        dispatcher = Dispatcher(settings)
        await dispatcher.start()
        app.state.dispatcher = dispatcher
        # Migrations run here too (under an advisory lock), so a new version's gateway brings
        # its schema with it.
        app.state.gallery = (await Gallery.open(settings.database_url, settings.hnsw_min_faces)
                             if settings.database_url else None)
        app.state.auth = Authenticator(app.state.gallery, settings, _token_key(settings),
                                       dispatcher.redis)
        yield
        if app.state.gallery:
            await app.state.gallery.close()
        await dispatcher.stop()

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/metrics", observe.metrics),
                *baidu.routes, *native.routes, *cloudwalk_gallery.routes, *cloudwalk.routes],
        lifespan=lifespan,
        middleware=[Middleware(observe.Observe)],
    )
    app.state.settings = settings
    return app
