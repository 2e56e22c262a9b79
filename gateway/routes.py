"""Every dialect route, listed once: the app mounts this list (gateway/app.py) and the OpenAPI
document describes it (gateway/openapi/document.py).

Each dialect package lists its own routes (`routes`) and wraps those under its prefix in its
mount (`mount`: its catch-all "not supported" answer, its error handlers); this module only
gathers them, in the order the app matches them.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from gateway.dialects import ApiRoute, baidu, cloudwalk, native
from gateway.frame import Gateway, endpoint

DIALECTS = (cloudwalk, baidu, native)
MOUNTS = {dialect.PREFIX: dialect.mount for dialect in DIALECTS}


def api_routes(gateway: Gateway | None = None) -> list[ApiRoute]:
    """The list. Without a gateway (the OpenAPI document) handlers are built for their
    contracts only."""
    return [route for dialect in DIALECTS for route in dialect.routes(gateway)]


def dialect_routes(gateway: Gateway) -> list[BaseRoute]:
    """The app's routes of the list: each dialect's under its mount, in the list's order."""
    by_mount: dict[str, list[Route]] = {}  # in the order each mount first comes
    for route in api_routes(gateway):
        by_mount.setdefault(route.mount, []).append(
            Route(route.path, endpoint(gateway, route.frame, route.declared),
                  methods=route.methods))
    served: list[BaseRoute] = []
    for mount, built in by_mount.items():
        served += [MOUNTS[mount](gateway, built)] if mount else built
    return served
