"""The CloudWalk face server dialect (CloudWalk face server API v1.24), mounted at /face."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from gateway.dialects import ApiRoute
from gateway.dialects.cloudwalk import gallery, tool
from gateway.dialects.cloudwalk.dialect import CloudWalk
from gateway.frame import Gateway, endpoint, unsupported

PREFIX = "/face"
FRAME = CloudWalk()


def routes(gateway: Gateway | None = None) -> list[ApiRoute]:
    """Every CloudWalk call: POST as documented, and GET too, as the CloudWalk server takes
    it (left out of the OpenAPI document)."""
    return [ApiRoute(PREFIX, path, "POST", handler, FRAME, twins=("GET",))
            for path, handler in {**tool.HANDLERS, **gallery.HANDLERS}.items()]


def mount(gateway: Gateway, served: list[Route]) -> Mount:
    """The /face mount of the routes gateway/routes.py built from `routes`."""
    # Last, inside this mount only: any other /face path is CloudWalk's 4100 "not supported".
    catch_all = Route("/{rest:path}", endpoint(gateway, FRAME, unsupported),
                      methods=["GET", "POST"])
    return Mount(PREFIX, app=Starlette(routes=[*served, catch_all]))
