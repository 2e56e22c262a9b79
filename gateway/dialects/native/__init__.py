"""The native API, mounted at /v1: JSON in and out, HTTP status codes, asynchronous jobs."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from gateway.dialects import ApiRoute
from gateway.dialects.native import (
    admin,
    gallery,
    groups,
    ingest,
    operations,
    people,
    persons,
    reembed,
    transfer,
    webhooks,
)
from gateway.dialects.native.dialect import Native, not_found
from gateway.frame import Gateway

PREFIX = "/v1"
FRAME = Native()
ADMIN_FRAME = admin.NativeAdmin()


def routes(gateway: Gateway | None = None) -> list[ApiRoute]:
    """Every /v1 route, from its modules' tables: an app's calls, then the operator's."""
    calls = [*operations.ROUTES, *gallery.ROUTES, *groups.ROUTES, *ingest.ROUTES,
             *people.ROUTES, *persons.ROUTES, *reembed.ROUTES,
             *transfer.ROUTES, *webhooks.ROUTES]
    return ([ApiRoute(PREFIX, path, method, handler, FRAME) for path, handler, method in calls]
            + [ApiRoute(PREFIX, path, method, handler, ADMIN_FRAME)
               for path, handler, method in admin.ROUTES])


def mount(gateway: Gateway, served: list[Route]) -> Mount:
    """The /v1 mount of the routes gateway/routes.py built from `routes`: an unknown path or
    method is answered in the native error form."""
    return Mount(PREFIX, app=Starlette(routes=served,
                                       exception_handlers={HTTPException: not_found}))
