"""The dialect routes are listed once (gateway/routes.py): the app mounts that list and the
OpenAPI document describes it. Both are checked against it here; tests/integration/
test_openapi.py checks the document against the running app."""

from starlette.routing import Mount, Route

from gateway.dialects import baidu, cloudwalk, native
from gateway.frame import Gateway
from gateway.openapi import document, operations_of_app
from gateway.routes import DIALECTS, api_routes, dialect_routes
from services.recognition.context import Recognition
from shared.budget import ByteBudget
from shared.settings import Settings

CATCH_ALL = "/{rest:path}"


def _served(routes, prefix: str = "") -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _served(route.routes, prefix + route.path)
        elif isinstance(route, Route) and route.path != CATCH_ALL:
            found |= {(prefix + route.path, method) for method in route.methods
                      if method != "HEAD"}
    return found


def test_the_app_serves_the_list():
    settings = Settings()
    gateway = Gateway(settings, Recognition(settings, None), None,
                      ByteBudget(settings.body_budget_bytes))
    listed = {(route.full_path, method) for route in api_routes() for method in route.methods}
    assert _served(dialect_routes(gateway)) == listed


def test_the_document_describes_the_list():
    listed = {(route.full_path, route.method) for route in api_routes()}
    assert {(op.path, op.method) for op in operations_of_app()} == listed
    documented = {(path, method.upper()) for path, methods in document()["paths"].items()
                  for method in methods if path.startswith(("/v1/", "/face/", "/rest/",
                                                            "/oauth/"))}
    assert documented == listed


def test_each_dialect_keeps_its_mount():
    mounts = {route.mount for route in api_routes()}
    assert mounts == {"", cloudwalk.PREFIX, baidu.PREFIX, native.PREFIX}
    assert {dialect.PREFIX for dialect in DIALECTS} == mounts - {""}
    # the only route outside a mount: Baidu's token endpoint, where Baidu's SDKs ask for it
    assert [route.full_path for route in api_routes() if not route.mount] == [baidu.TOKEN_PATH]
