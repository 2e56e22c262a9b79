"""The Baidu face API v2 dialect (Baidu face API v2 PHP SDK 2.2.2): /oauth/2.0/token and a
mount at /rest/2.0/face/v2."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from gateway.dialects import ApiRoute
from gateway.dialects.baidu import faceset, images
from gateway.dialects.baidu.dialect import Baidu
from gateway.dialects.baidu.token import OAuth, token_handler
from gateway.frame import Gateway, endpoint, unsupported

PREFIX = "/rest/2.0/face/v2"
TOKEN_PATH = "/oauth/2.0/token"
FRAME = Baidu()


def routes(gateway: Gateway | None = None) -> list[ApiRoute]:
    """The token endpoint (GET or POST, POST documented), outside the mount, then every face
    call. Without a gateway (the OpenAPI document) the token handler is only read for its
    contract."""
    token = ApiRoute("", TOKEN_PATH, "POST", token_handler(gateway), OAuth(), twins=("GET",))
    return [token, *(ApiRoute(PREFIX, path, "POST", handler, FRAME)
                     for path, handler in {**images.HANDLERS, **faceset.HANDLERS}.items())]


def mount(gateway: Gateway, served: list[Route]) -> Mount:
    """The mount of the face calls gateway/routes.py built from `routes` (the token route
    is the app's own, outside it)."""
    # Last, inside this mount only: any other call is Baidu's 216102 "service not support".
    catch_all = Route("/{rest:path}", endpoint(gateway, FRAME, unsupported),
                      methods=["GET", "POST"])
    return Mount(PREFIX, app=Starlette(routes=[*served, catch_all]))
