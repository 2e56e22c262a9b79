"""The Baidu face API v2 dialect (Baidu face API v2 PHP SDK 2.2.2): /oauth/2.0/token and a
mount at /rest/2.0/face/v2."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from gateway.dialects.baidu import faceset, images
from gateway.dialects.baidu.dialect import Baidu
from gateway.dialects.baidu.token import OAuth, token_handler
from gateway.frame import Gateway, endpoint, unsupported

PREFIX = "/rest/2.0/face/v2"


def routes(gateway: Gateway) -> list[BaseRoute]:
    dialect = Baidu()
    calls = [Route(path, endpoint(gateway, dialect, handler), methods=["POST"])
             for path, handler in {**images.HANDLERS, **faceset.HANDLERS}.items()]
    # Last, inside this mount only: any other call is Baidu's 216102 "service not support".
    calls.append(Route("/{rest:path}", endpoint(gateway, dialect, unsupported),
                       methods=["GET", "POST"]))
    token = endpoint(gateway, OAuth(), token_handler(gateway))
    return [Route("/oauth/2.0/token", token, methods=["GET", "POST"]),
            Mount(PREFIX, app=Starlette(routes=calls))]
