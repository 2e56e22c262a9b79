"""The CloudWalk face server dialect (CloudWalk face server API v1.24), mounted at /face."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from gateway.dialects.cloudwalk import gallery, tool
from gateway.dialects.cloudwalk.dialect import CloudWalk
from gateway.frame import Gateway, endpoint, unsupported

_METHODS = ["GET", "POST"]


def mount(gateway: Gateway) -> Mount:
    dialect = CloudWalk()
    routes = [Route(path, endpoint(gateway, dialect, handler), methods=_METHODS)
              for path, handler in {**tool.HANDLERS, **gallery.HANDLERS}.items()]
    # Last, inside this mount only: any other /face path is CloudWalk's 4100 "not supported".
    routes.append(Route("/{rest:path}", endpoint(gateway, dialect, unsupported),
                        methods=_METHODS))
    return Mount("/face", app=Starlette(routes=routes))
