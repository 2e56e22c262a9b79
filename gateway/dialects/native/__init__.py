"""The native API, mounted at /v1: JSON in and out, HTTP status codes, asynchronous jobs."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from gateway.dialects.native import gallery, ingest, operations
from gateway.dialects.native.dialect import Native, not_found
from gateway.frame import Gateway, endpoint


def mount(gateway: Gateway) -> Mount:
    dialect = Native()
    routes = [Route(path, endpoint(gateway, dialect, handler), methods=[method])
              for path, handler, method in [*operations.ROUTES, *gallery.ROUTES,
                                                     *ingest.ROUTES]]
    return Mount("/v1", app=Starlette(routes=routes,
                                      exception_handlers={HTTPException: not_found}))
