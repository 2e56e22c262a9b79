"""The document: every route of the three dialects (from the route tables their mounts are
built from), each described from its handler (gateway/openapi/handlers.py), plus the
service's own pages."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

from gateway.dialects import baidu, native
from gateway.dialects.baidu import faceset, images
from gateway.dialects.cloudwalk import gallery, tool
from gateway.openapi.handlers import Param, answer_type, read_params, statuses
from gateway.openapi.schemas import BAIDU_ANSWER, CLOUDWALK_ANSWER, PROBLEM, type_schema

VERSION = "3.1.0"


@dataclass
class Operation:
    path: str
    method: str
    handler: Callable
    dialect: str  # native, native-admin, cloudwalk, baidu
    params: list[Param] = field(default_factory=list)



def operations_of_app() -> list[Operation]:
    """Every dialect route, from the tables the mounts are built from."""
    ops = [Operation(native.PREFIX + path, method, handler,
                     "native-admin" if kind.__name__ == "NativeAdmin" else "native")
           for path, handler, method, kind in native.route_table()]
    ops += [Operation("/face" + path, "POST", handler, "cloudwalk")
            for path, handler in {**tool.HANDLERS, **gallery.HANDLERS}.items()]
    ops += [Operation(baidu.PREFIX + path, "POST", handler, "baidu")
            for path, handler in {**images.HANDLERS, **faceset.HANDLERS}.items()]
    for op in ops:
        op.params = read_params(op.handler)
    return ops


_SECURITY = {"native": [{"appId": [], "appSecret": []}, {"bearer": []}],
             "native-admin": [{"adminSecret": []}],
             "cloudwalk": [{"appId": [], "appSecret": []}],
             "baidu": [{"accessToken": []}]}
_TAGS = {"native": "native", "native-admin": "admin", "cloudwalk": "CloudWalk",
         "baidu": "Baidu"}


_VENDOR = {"cloudwalk": "CloudWalk face server API v1.24", "baidu": "Baidu face API v2"}


def _summary(op: Operation) -> tuple[str, str]:
    """The docstring's first sentence, and the rest; a vendor call without one is named by
    the vendor document that specifies it."""
    doc = " ".join((inspect.getdoc(op.handler) or "").split())
    if not doc:
        vendor = _VENDOR.get(op.dialect)
        return (f"{vendor}: {op.path.rsplit('/v2/', 1)[-1]}" if vendor
                else f"{op.method} {op.path}"), ""
    first, dot, rest = doc.partition(". ")
    return first + (dot.strip() if rest else ""), rest.strip()


def _operation_id(op: Operation) -> str:
    words = [w.strip("{}") for w in op.path.strip("/").replace(".", "_").split("/")]
    return f"{op.method.lower()}_{'_'.join(words)}"


def _body_schema(params: list[Param], binary_images: bool) -> dict:
    properties = {}
    for param in params:
        schema = dict(param.schema)
        if binary_images and schema.get("contentEncoding") == "base64":
            schema = {"type": "string", "contentMediaType": "application/octet-stream"}
        if param.description:
            schema["description"] = param.description
        properties[param.name] = schema
    required = [param.name for param in params if param.required]
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def _responses(op: Operation) -> dict:
    if op.dialect in ("cloudwalk",):
        return {"200": {"description": "HTTP 200 always: `result` 0 is success, else an error "
                        "code (CloudWalk face server API v1.24)",
                        "content": {"application/json": {"schema": CLOUDWALK_ANSWER}}}}
    if op.dialect == "baidu":
        return {"200": {"description": "the call's answer or its error (Baidu face API v2)",
                        "content": {"application/json": {"schema": BAIDU_ANSWER}}}}
    annotation = str(inspect.signature(op.handler).return_annotation)
    answer = answer_type(op.handler)
    success = ({"description": "the JPEG", "content": {"image/jpeg": {
        "schema": {"type": "string", "contentMediaType": "image/jpeg"}}}}
               if annotation.endswith("Response") else
               {"description": "success", "content": {"application/json": {
                   "schema": type_schema(answer) if answer else {"type": "object"}}}})
    return {**{str(code): success for code in statuses(op.handler)},
            "default": {"description": "an error: RFC 9457 problem with the code in `error`",
                        "content": {"application/problem+json": {"schema": PROBLEM}}}}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation(op: Operation) -> dict:
    summary, description = _summary(op)
    path_names = _path_params(op.path)
    out: dict[str, Any] = {"operationId": _operation_id(op), "summary": summary,
                           "tags": [_TAGS[op.dialect]], "security": _SECURITY[op.dialect],
                           "responses": _responses(op)}
    if description:
        out["description"] = description
    parameters = [{"name": name, "in": "path", "required": True, "schema": {
        "type": "string", "minLength": 1}} for name in path_names]
    fields = [param for param in op.params if param.name not in path_names]
    if op.method in ("GET", "DELETE"):
        parameters += [{"name": p.name, "in": "query", "required": p.required,
                        "schema": p.schema, **({"description": p.description}
                                               if p.description else {})} for p in fields]
    elif fields or op.dialect != "baidu":
        content = {"application/x-www-form-urlencoded": {"schema": _body_schema(fields, False)}}
        if op.dialect != "baidu":  # Baidu's SDK sends forms only
            content = {"application/json": {"schema": _body_schema(fields, False)}, **content,
                       "multipart/form-data": {"schema": _body_schema(fields, True)}}
        out["requestBody"] = {"required": any(p.required for p in fields), "content": content}
    if parameters:
        out["parameters"] = parameters
    return out


_PLAIN = {
    ("/healthz", "get"): "the process is up",
    ("/readyz", "get"): "Redis and PostgreSQL answer (503 with the failing one otherwise)",
    ("/metrics", "get"): "Prometheus metrics",
    ("/openapi.json", "get"): "this document",
    ("/docs", "get"): "the API explorer (a page of the console, over this document)",
    ("/console", "get"): "the web console (static pages over /v1)",
}


def _version() -> str:
    try:
        return metadata.version("facegate")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


@cache
def document() -> dict:
    paths: dict[str, dict] = {}
    for op in operations_of_app():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    paths["/oauth/2.0/token"] = {"post": {
        "operationId": "post_oauth_token", "tags": ["Baidu"],
        "summary": "an access token for an app (client_credentials), as Baidu's SDKs ask",
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "required": ["grant_type", "client_id",
                                                      "client_secret"],
                       "properties": {"grant_type": {"type": "string",
                                                     "enum": ["client_credentials"]},
                                      "client_id": {"type": "string"},
                                      "client_secret": {"type": "string"}}}}}},
        "responses": {"200": {"description": "access_token, expires_in, scope",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "401": {"description": "invalid_client"},
                      "400": {"description": "unsupported_grant_type"}}}}
    for (path, method), summary in _PLAIN.items():
        paths[path] = {method: {"operationId": path.strip("/").replace(".", "_"),
                                "summary": summary,
                                "tags": ["service"], "security": [],
                                "responses": {"200": {"description": summary}}}}
    return {
        "openapi": VERSION,
        "info": {"title": "facegate", "version": _version(),
                 "description": "Face detection, analysis, 1:1 and 1:N recognition: the native "
                                "API (/v1), CloudWalk's face server API (/face) and Baidu's "
                                "face API v2 (/rest/2.0/face/v2). Generated from the code "
                                "(gateway/openapi/)."},
        "servers": [{"url": "/"}],
        "tags": [{"name": "native"}, {"name": "admin"}, {"name": "CloudWalk"},
                 {"name": "Baidu"}, {"name": "service"}],
        "paths": dict(sorted(paths.items())),
        "components": {"securitySchemes": {
            "appId": {"type": "apiKey", "in": "header", "name": "app_id",
                      "description": "the app's API key (CloudWalk: its name also works)"},
            "appSecret": {"type": "apiKey", "in": "header", "name": "app_secret"},
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "an access_token from /oauth/2.0/token"},
            "accessToken": {"type": "apiKey", "in": "query", "name": "access_token"},
            "adminSecret": {"type": "apiKey", "in": "header", "name": "admin_secret",
                            "description": "FACEGATE_ADMIN_SECRET"}}},
    }
