"""The Starlette gateway: the app factory, which builds every collaborator and hands it down.

    uvicorn gateway.app:create_app --factory

Each dialect is mounted under its own prefix with its own routes and error answers:
CloudWalk at /face, Baidu at /oauth/2.0/token and /rest/2.0/face/v2, native at /v1; the web
console at /console, the OpenAPI document at /openapi.json and its explorer at /docs.
"""

from __future__ import annotations

import asyncio
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
from gateway.dialects.native.dialect import not_found
from gateway.dispatch import Dispatcher
from gateway.frame import Gateway
from gateway.routes import dialect_routes
from gateway.webhook_outbox import RedisOutbox
from services.gallery.apps import server_key
from services.gallery.database import Gallery
from services.recognition.context import Recognition
from services.recognition.ports import VisionQueue
from services.recognition.webhooks import Sender
from shared import logs, tracing
from shared.budget import ByteBudget
from shared.settings import Settings, get_settings

log = logging.getLogger("facegate.gateway")


PROBE_TIMEOUT_S = 2.0  # a datastore slower than this is down (the probes wait 4-5 s)


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers. Nothing outside it is looked at: restarting gateways
    cures no outage of Redis or PostgreSQL."""
    return JSONResponse({"status": "ok"})


async def _datastores(request: Request) -> tuple[dict[str, str], str | None]:
    """Each datastore's state ("ok" or why not), and pgvector's version when PostgreSQL
    answers. Bounded in time: a pool waiting for a connection during an outage would outlast
    the probe."""

    async def redis() -> None:
        await request.app.state.dispatcher.ping()

    gallery = request.app.state.gateway.recognition.database

    async def postgres() -> None:
        async with gallery.pool.connection() as conn:
            await conn.execute("SELECT 1")

    async def state(check) -> str:
        try:
            await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return "ok"

    checks = {"redis": redis, **({"postgres": postgres} if gallery is not None else {})}
    # side by side: the whole check takes at most PROBE_TIMEOUT_S
    states = dict(zip(checks, await asyncio.gather(*map(state, checks.values())), strict=True))
    pgvector = ".".join(map(str, gallery.pgvector)) if states.get("postgres") == "ok" else None
    return states, pgvector


async def readyz(request: Request) -> JSONResponse:
    """Readiness. Plain: Redis and PostgreSQL answer (503 naming the failing ones), for people,
    compose's health check and scripts that wait for a working stack. With ?degraded=ok, the
    load balancer's question (Kubernetes' readinessProbe): can this process serve? 200 while it
    does, with the datastores' state in the body. During a datastore outage every gateway would
    fail the plain check at once and leave the Service, so clients would meet connection
    refused instead of the dialects' retryable busy answer."""
    states, pgvector = await _datastores(request)
    down = {name: why for name, why in states.items() if why != "ok"}
    body: dict[str, str] = {"status": "ready"}
    if pgvector is not None:
        body["pgvector"] = pgvector
    if not down:
        return JSONResponse(body)
    if request.query_params.get("degraded") == "ok":
        return JSONResponse({**body, "status": "degraded", **down})
    return JSONResponse({**body, "status": "unavailable", **down}, status_code=503)


def _token_key(settings: Settings) -> bytes:
    if not settings.database_url:
        return b""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        return server_key(conn, "oauth-token")


async def start_webhooks(recognition: Recognition, redis, settings: Settings) -> Sender:
    """This gateway's share of the webhook deliveries (services/recognition/webhooks.py)."""
    recognition.webhooks = RedisOutbox(redis, settings.result_ttl_s)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        recognition.webhook_key = server_key(conn, "webhooks")
    sender = Sender(recognition, recognition.webhooks)
    sender.loop = asyncio.create_task(sender.run_forever())
    return sender


def create_app(settings: Settings | None = None, queue: VisionQueue | None = None,
               auth: Authenticator | None = None) -> Starlette:
    """The gateway. By default it talks to the workers through Celery on Redis (Dispatcher)
    and authenticates apps from the gallery; tests may hand in another queue (the in-process
    one, workers/inprocess.py) and authenticator."""
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_json)
    tracing.setup("facegate-gateway")
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
        sender = None
        if dispatcher is not None and gallery is not None:
            sender = await start_webhooks(gateway.recognition, dispatcher.redis, settings)
        yield
        if sender is not None:
            await sender.stop()
        if gallery:
            await gallery.close()
        if dispatcher is not None:
            await dispatcher.stop()

    app = Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/metrics", observe.metrics), *console.routes(),
                *dialect_routes(gateway)],
        lifespan=lifespan,
        middleware=[Middleware(observe.Observe)],
        # a path no mount takes (one with a line break never matches a mount's prefix) is
        # answered in JSON too, in the native form
        exception_handlers={HTTPException: not_found},
    )
    app.state.gateway = gateway
    return app
