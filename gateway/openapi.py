"""The OpenAPI 3.1 document of every route the gateway serves, generated from the code.

Paths and methods come from the dialects' own route tables (the ones their mounts are built
from); each operation's summary is its handler's docstring; its parameters are read off the
handler's source: every call of the parameter readers (gateway.params.text / integer / flag,
the image inputs) with a literal name, followed into the dialect's own helpers that take
`params` (the helper's defaults and the caller's literal arguments bound as in a call). So a
new parameter is documented by the line that reads it, and tests/unit/test_openapi.py checks
the document against the app's real routes.

What it cannot see: a parameter read under a computed name. Those are few (Baidu's
`quality_conf`-style options are literal) and the request schemas allow other properties.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import metadata
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

from gateway import params as readers
from gateway.dialects import baidu, native
from gateway.dialects.baidu import dialect as baidu_dialect
from gateway.dialects.baidu import faceset, images
from gateway.dialects.cloudwalk import gallery, tool
from gateway.dialects.native import operations
from gateway.inputs import image_input

VERSION = "3.1.0"
_MAX_DEPTH = 4


@dataclass
class Param:
    name: str
    schema: dict
    required: bool = False
    description: str = ""


@dataclass
class Operation:
    path: str
    method: str
    handler: Callable
    dialect: str  # native, native-admin, cloudwalk, baidu
    params: list[Param] = field(default_factory=list)


# --- reading a handler's parameters off its source -------------------------------------------

def _literal(node: ast.AST, env: dict[str, Any], module: dict[str, Any]) -> Any:
    """A call argument's value where it is known without running anything."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        return module.get(node.id, _UNKNOWN)
    if isinstance(node, ast.Attribute):
        base = _literal(node.value, env, module)
        return getattr(base, node.attr, _UNKNOWN) if base is not _UNKNOWN else _UNKNOWN
    if isinstance(node, ast.Subscript):
        base, key = _literal(node.value, env, module), _literal(node.slice, env, module)
        try:
            return base[key] if _UNKNOWN not in (base, key) else _UNKNOWN
        except (KeyError, IndexError, TypeError):
            return _UNKNOWN
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _literal(node.operand, env, module)
        return -value if isinstance(value, (int, float)) else _UNKNOWN
    return _UNKNOWN


_UNKNOWN = object()


def _bound(fn: Callable, call: ast.Call, env: dict, module: dict) -> dict[str, Any]:
    """The callee's arguments by name: the call's literal ones, then its defaults."""
    signature = inspect.signature(fn)
    names = list(signature.parameters)
    values: dict[str, Any] = {}
    for index, arg in enumerate(call.args):
        if index < len(names):
            values[names[index]] = _literal(arg, env, module)
    for keyword in call.keywords:
        if keyword.arg:
            values[keyword.arg] = _literal(keyword.value, env, module)
    for name, parameter in signature.parameters.items():
        if name not in values and parameter.default is not inspect.Parameter.empty:
            values[name] = parameter.default
    return values


def _named(values: dict, key: str = "name") -> bool:
    return isinstance(values.get(key), str) and bool(values[key])


def _text(values: dict) -> list[Param]:
    if not _named(values):
        return []
    return [Param(values["name"], {"type": "string"}, values.get("required", True) is True)]


def _required_text(values: dict) -> list[Param]:
    return [Param(values["name"], {"type": "string"}, True)] if _named(values) else []


def _integer(values: dict) -> list[Param]:
    if not _named(values):
        return []
    schema: dict[str, Any] = {"type": "integer"}
    low, high = values.get("low", 1), values.get("high")
    if isinstance(low, int):
        schema["minimum"] = low
    schema["maximum"] = min(high, readers.MAX_INT) if isinstance(high, int) else readers.MAX_INT
    default = values.get("default")
    if isinstance(default, int):
        schema["default"] = default
    return [Param(values["name"], schema, values.get("default") is None)]


def _flag(values: dict) -> list[Param]:
    return [Param(values["name"], {"type": "boolean"})] if _named(values) else []


def _image(data_key: str, url_key: str) -> list[Param]:
    if not url_key:  # Baidu: base64 only
        return [Param(data_key, {"type": "string", "contentEncoding": "base64"},
                      description="the image, base64")]
    return [Param(data_key, {"type": "string", "contentEncoding": "base64"},
                  description=f"the image: base64 in JSON or a form, a file in multipart "
                              f"(this or {url_key})"),
            Param(url_key, {"type": "string", "format": "uri"},
                  description=f"an http(s) URL the service fetches (this or {data_key})")]


def _image_input(values: dict) -> list[Param]:
    if not _named(values, "data_key") or not isinstance(values.get("url_key"), str):
        return []
    return _image(values["data_key"], values["url_key"])


def _native_images(values: dict) -> list[Param]:
    count = values.get("count")
    keys = (operations.IMAGE_KEYS[count] if count in operations.IMAGE_KEYS  # unknown: any
            else [pair for pairs in operations.IMAGE_KEYS.values() for pair in pairs])
    return [param for data_key, url_key in keys for param in _image(data_key, url_key)]


# reader -> what a call of it reads, from its bound arguments
READERS: dict[Callable, Callable[[dict], list[Param]]] = {
    readers.text: _text,
    readers.integer: _integer,
    readers.flag: _flag,
    image_input: _image_input,
    operations.images: _native_images,
    baidu_dialect.required: _required_text,
}


def _function(node: ast.Call, module: dict) -> Callable | None:
    if isinstance(node.func, ast.Name):
        target = module.get(node.func.id)
        return target if callable(target) else None
    return None


def _passes_params(call: ast.Call) -> bool:
    return any(isinstance(arg, ast.Name) and arg.id == "params" for arg in call.args)


def _branch(test: ast.AST, env: dict, module: dict) -> bool | None:
    """An `if` test on known values (`name == "literal"`, `name in (...)`), else None."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left = _literal(test.left, env, module)
        right = _literal(test.comparators[0], env, module)
        if isinstance(test.comparators[0], (ast.Tuple, ast.List, ast.Set)):
            right = [_literal(item, env, module) for item in test.comparators[0].elts]
        if left is _UNKNOWN or right is _UNKNOWN or (isinstance(right, list)
                                                      and _UNKNOWN in right):
            return None
        if isinstance(test.ops[0], ast.Eq):
            return left == right
        if isinstance(test.ops[0], ast.In):
            return left in right
    return None


def _nodes(node: ast.AST, env: dict, module: dict, conditional: bool = False):
    """(node, whether it runs only on some paths) in source order, without the branches
    known not to run; simple assignments of known values go into env on the way."""
    if isinstance(node, ast.If):
        live = _branch(node.test, env, module)
        if live is not None:
            for child in (node.body if live else node.orelse):
                yield from _nodes(child, env, module, conditional)
            return
        yield node, conditional
        yield from _nodes(node.test, env, module, conditional)
        for child in (*node.body, *node.orelse):  # either may run: neither always does
            yield from _nodes(child, env, module, True)
        return
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)):
        value = _literal(node.value, env, module)
        if value is not _UNKNOWN:
            env[node.targets[0].id] = value
    yield node, conditional
    for child in ast.iter_child_nodes(node):
        yield from _nodes(child, env, module, conditional)


def _add(found: dict[str, Param], param: Param, conditional: bool) -> None:
    """A parameter read only on some paths is not required; read on every path, it is if
    that reading requires it."""
    param = replace(param, required=param.required and not conditional)
    if param.name not in found:
        found[param.name] = param
    elif param.required:
        found[param.name].required = True


def read_params(fn: Callable, env: dict | None = None, depth: int = 0,
                conditional: bool = False) -> list[Param]:
    """Every parameter `fn` reads, in source order (the first reading sets its schema)."""
    fn = inspect.unwrap(fn)
    module = fn.__globals__
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    # a handler made by a factory (native operation("detect")) knows its closure's values
    env = {**inspect.getclosurevars(fn).nonlocals, **(env or {})}
    found: dict[str, Param] = {}
    for node, branch in _nodes(tree, env, module, conditional):
        if isinstance(node, ast.Call):
            target = _function(node, module)
            if target in READERS:
                for param in READERS[target](_bound(target, node, env, module)):
                    _add(found, param, branch)
            elif (target is not None and depth < _MAX_DEPTH and _passes_params(node)
                  and getattr(target, "__module__", "").startswith("gateway.")):
                inner = _bound(target, node, env, module)
                for param in read_params(target, inner, depth + 1, branch):
                    _add(found, param, branch)
            elif (isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == "params"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                _add(found, Param(node.args[0].value, {"type": "string"}), branch)
    return list(found.values())


# --- the routes ------------------------------------------------------------------------------

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


_PROBLEM = {"type": "object", "required": ["status", "error"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    "error": {"type": "object", "properties": {
        "code": {"type": "string"}, "cloudwalk_code": {"type": "integer"},
        "baidu_code": {"type": "integer"}, "message": {"type": "string"}}}}}
_CLOUDWALK_ANSWER = {"type": "object", "required": ["result", "info"], "properties": {
    "result": {"type": "integer", "description": "0, or a CloudWalk error code"},
    "info": {"type": "string"}}}
_BAIDU_ANSWER = {"type": "object", "description": "`result` and `log_id`, or `error_code` "
                 "and `error_msg` (Baidu face API v2)", "properties": {
                     "log_id": {"type": "integer"}, "error_code": {"type": "integer"},
                     "error_msg": {"type": "string"}}}
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


_SCALARS = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}, type(None): {"type": "null"}}


def type_schema(tp: Any) -> dict:
    """JSON Schema of an answer type (shared/answers.py): TypedDicts, lists, dicts, unions."""
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is Any:
        return {}
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, UnionType):
        return {"anyOf": [type_schema(arg) for arg in args]}
    if origin is list:
        return {"type": "array", "items": type_schema(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    if is_typeddict(tp):
        hints = get_type_hints(tp)
        out: dict[str, Any] = {"type": "object", "properties": {
            name: type_schema(hint) for name, hint in hints.items()}}
        required = sorted(tp.__required_keys__)
        if required:
            out["required"] = required
        return out
    return {}


def answer_type(handler: Callable) -> Any:
    """The body type a native handler declares (`-> tuple[Answer, int]`), else None."""
    try:
        returned = get_type_hints(inspect.unwrap(handler)).get("return")
    except (NameError, TypeError):
        return None
    if get_origin(returned) is tuple and is_typeddict(get_args(returned)[0]):
        return get_args(returned)[0]
    return None


def _responses(op: Operation) -> dict:
    if op.dialect in ("cloudwalk",):
        return {"200": {"description": "HTTP 200 always: `result` 0 is success, else an error "
                        "code (CloudWalk face server API v1.24)",
                        "content": {"application/json": {"schema": _CLOUDWALK_ANSWER}}}}
    if op.dialect == "baidu":
        return {"200": {"description": "the call's answer or its error (Baidu face API v2)",
                        "content": {"application/json": {"schema": _BAIDU_ANSWER}}}}
    annotation = str(inspect.signature(op.handler).return_annotation)
    success = ({"description": "the JPEG", "content": {"image/jpeg": {
        "schema": {"type": "string", "contentMediaType": "image/jpeg"}}}}
               if annotation.endswith("Response") else
               {"description": "success", "content": {"application/json": {
                   "schema": type_schema(answer_type(op.handler))
                   if answer_type(op.handler) else {"type": "object"}}}})
    return {**{str(code): success for code in _statuses(op.handler)},
            "default": {"description": "an error: RFC 9457 problem with the code in `error`",
                        "content": {"application/problem+json": {"schema": _PROBLEM}}}}


def _statuses(fn: Callable, depth: int = 0) -> list[int]:
    """The HTTP statuses a native handler returns: the literal second members of its
    `return body, status` (an `a if c else b` gives both), followed into what it returns the
    call of (a handler that ends `return await _operate(...)`); 200 when none is written."""
    fn = inspect.unwrap(fn)
    module = fn.__globals__
    found: list[int] = []
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Tuple) and len(value.elts) == 2:
            status = value.elts[1]
            for leaf in ((status.body, status.orelse) if isinstance(status, ast.IfExp)
                         else (status,)):
                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, int):
                    found.append(leaf.value)
        elif isinstance(value, ast.Call) and depth < _MAX_DEPTH:
            target = _function(value, module)
            if target is not None and getattr(target, "__module__", "").startswith("gateway."):
                found += _statuses(target, depth + 1)
    return sorted(set(found)) or [200]


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
                                "(gateway/openapi.py)."},
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
