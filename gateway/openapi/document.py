"""The document: every route of the three dialects (from the one list the app mounts,
gateway/routes.py), each described from its declared contract (gateway/contract.py):
parameters and their constraints from its model, answers field by field from its answer type,
success statuses as declared; plus the service's own pages."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from typing import Any

from gateway.contract import Declared
from gateway.dialects.baidu import answers as baidu_answers
from gateway.dialects.baidu.token import OAuthError
from gateway.dialects.cloudwalk import answers as cloudwalk_answers
from gateway.openapi.schema import field_schemas, type_schema
from gateway.routes import api_routes
from shared import build
from shared.answers import Problem

VERSION = "3.1.0"


@dataclass
class Operation:
    path: str
    method: str
    declared: Declared
    dialect: str  # native, native-admin, cloudwalk, baidu, oauth


def operations_of_app() -> list[Operation]:
    """Every dialect route, from the list the app mounts (gateway/routes.py)."""
    return [Operation(route.full_path, route.method, route.declared, route.frame.name)
            for route in api_routes()]


_SECURITY = {"native": [{"appId": [], "appSecret": []}, {"bearer": []}],
             "native-admin": [{"adminSecret": []}],
             "cloudwalk": [{"appId": [], "appSecret": []}],
             "baidu": [{"accessToken": []}], "oauth": []}
_TAGS = {"native": "native", "native-admin": "admin", "cloudwalk": "CloudWalk",
         "baidu": "Baidu", "oauth": "Baidu"}
_VENDOR = {"cloudwalk": "CloudWalk face server API v1.24", "baidu": "Baidu face API v2"}


def _summary(op: Operation) -> tuple[str, str]:
    """The docstring's first sentence, and the rest; a vendor call without one is named by
    the vendor document that specifies it."""
    doc = " ".join((inspect.getdoc(op.declared.handler) or "").split())
    if not doc:
        vendor = _VENDOR.get(op.dialect)
        return (f"{vendor}: {op.path.rsplit('/v2/', 1)[-1]}" if vendor
                else f"{op.method} {op.path}"), ""
    first, dot, rest = doc.partition(". ")
    return first + (dot.strip() if rest else ""), rest.strip()


def _operation_id(op: Operation) -> str:
    words = [w.strip("{}") for w in op.path.strip("/").replace(".", "_").split("/")]
    return f"{op.method.lower()}_{'_'.join(words)}"


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _with(envelope: dict, answer: dict) -> dict:
    """The answer's fields inside a dialect's envelope."""
    out = {**answer, "type": "object"}
    out["properties"] = {**envelope["properties"], **answer.get("properties", {})}
    out["required"] = sorted({*envelope.get("required", ()), *answer.get("required", ())})
    return out


_CLOUDWALK_FAILURE = type_schema(cloudwalk_answers.Failure)
_BAIDU_FAILURE = type_schema(baidu_answers.Failure)
_PROBLEM = type_schema(Problem)


def _responses(op: Operation) -> dict:
    declared = op.declared
    if op.dialect == "cloudwalk":
        success = _with(_CLOUDWALK_FAILURE, type_schema(declared.answer_type))
        return {"200": _json({"anyOf": [success, _CLOUDWALK_FAILURE]},
                             "HTTP 200 always: `result` 0 and the answer, or an error code "
                             "and `info` (CloudWalk face server API v1.24)")}
    if op.dialect == "baidu":
        success = _with({"properties": {"log_id": {"type": "integer"}},
                         "required": ["log_id"]}, type_schema(declared.answer_type))
        return {"200": _json({"anyOf": [success, _BAIDU_FAILURE]},
                             "HTTP 200 always: `log_id` and the answer, or `error_code` and "
                             "`error_msg` (Baidu face API v2)")}
    if op.dialect == "oauth":
        failure = _json(type_schema(OAuthError), "an OAuth error (RFC 6749, section 5.2)")
        return {"200": _json(type_schema(declared.answer_type), "the access token"),
                "400": failure, "401": failure, "429": failure, "503": failure}
    if declared.binary:
        success = {"description": "the JPEG", "content": {"image/jpeg": {
            "schema": {"type": "string", "contentMediaType": "image/jpeg"}}}}
    else:
        success = _json(type_schema(declared.answer_type), "success")
    return {**{str(code): success for code in declared.statuses},
            "default": {"description": "an error: RFC 9457 problem with the code in `error`",
                        "content": {"application/problem+json": {"schema": _PROBLEM}}}}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _body(properties: dict[str, dict], required: set[str], binary_images: bool) -> dict:
    shown = {}
    for name, schema in properties.items():
        if binary_images and schema.get("contentEncoding") == "base64":
            schema = {"type": "string", "contentMediaType": "application/octet-stream",
                      **({"description": schema["description"]} if "description" in schema
                         else {})}
        shown[name] = schema
    out: dict[str, Any] = {"type": "object", "properties": shown}
    if required & set(shown):
        out["required"] = sorted(required & set(shown))
    return out


def _operation(op: Operation) -> dict:
    summary, description = _summary(op)
    out: dict[str, Any] = {"operationId": _operation_id(op), "summary": summary,
                           "tags": [_TAGS[op.dialect]], "security": _SECURITY[op.dialect],
                           "responses": _responses(op)}
    if description:
        out["description"] = description
    properties, required = field_schemas(op.declared.params)
    path_names = _path_params(op.path)
    parameters = [{"name": name, "in": "path", "required": True,
                   "schema": properties.get(name, {"type": "string", "minLength": 1})}
                  for name in path_names]
    fields = {name: schema for name, schema in properties.items() if name not in path_names}
    if op.method in ("GET", "DELETE"):
        parameters += [{"name": name, "in": "query", "required": name in required,
                        "schema": schema} for name, schema in fields.items()]
    elif fields or op.dialect == "native":
        content = {"application/x-www-form-urlencoded": {
            "schema": _body(fields, required, False)}}
        if op.dialect in ("native", "native-admin", "cloudwalk"):  # Baidu's SDK sends forms
            content = {"application/json": {"schema": _body(fields, required, False)},
                       **content,
                       "multipart/form-data": {"schema": _body(fields, required, True)}}
        out["requestBody"] = {"required": bool(required & set(fields)), "content": content}
    if parameters:
        out["parameters"] = parameters
    return out


_PLAIN = {
    ("/healthz", "get"): "liveness: the process is up (nothing else is looked at)",
    ("/readyz", "get"): "readiness: Redis and PostgreSQL answer (503 naming the failing one "
                        "otherwise); ?degraded=ok: 200 while this process serves, with the "
                        "datastores' state in the body (Kubernetes' readiness probe)",
    ("/metrics", "get"): "Prometheus metrics",
    ("/openapi.json", "get"): "this document",
    ("/docs", "get"): "the API explorer (a page of the console, over this document)",
    ("/console", "get"): "the web console (static pages over /v1)",
}


@cache
def document() -> dict:
    paths: dict[str, dict] = {}
    for op in operations_of_app():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    for (path, method), summary in _PLAIN.items():
        paths[path] = {method: {"operationId": path.strip("/").replace(".", "_"),
                                "summary": summary,
                                "tags": ["service"], "security": [],
                                "responses": {"200": {"description": summary}}}}
    return {
        "openapi": VERSION,
        "info": {"title": "facegate", "version": build.version(),
                 "description": "Face detection, analysis, 1:1 and 1:N recognition: the native "
                                "API (/v1), CloudWalk's face server API (/face) and Baidu's "
                                "face API v2 (/rest/2.0/face/v2). Generated from the declared "
                                "contracts (gateway/contract.py, gateway/openapi/)."},
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
