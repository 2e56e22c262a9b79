"""The native API, mounted at /v1: JSON in and out, HTTP status codes, asynchronous jobs."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from gateway.dialects.native import (
    admin,
    gallery,
    groups,
    ingest,
    operations,
    people,
    webhooks,
)
from gateway.dialects.native.dialect import Native, not_found
from gateway.frame import Gateway, endpoint

PREFIX = "/v1"


def route_table() -> list[tuple[str, object, str, type]]:
    """Every /v1 route: (path under the mount, handler, method, dialect class). The OpenAPI
    document (gateway/openapi/) is generated from this same table."""
    app_routes = [*operations.ROUTES, *gallery.ROUTES, *groups.ROUTES, *ingest.ROUTES,
                  *people.ROUTES, *webhooks.ROUTES]
    return ([(path, handler, method, Native) for path, handler, method in app_routes]
            + [(path, handler, method, admin.NativeAdmin)
               for path, handler, method in admin.ROUTES])


def mount(gateway: Gateway) -> Mount:
    dialects = {Native: Native(), admin.NativeAdmin: admin.NativeAdmin()}
    routes = [Route(path, endpoint(gateway, dialects[kind], handler), methods=[method])
              for path, handler, method, kind in route_table()]
    return Mount(PREFIX, app=Starlette(routes=routes,
                                       exception_handlers={HTTPException: not_found}))
