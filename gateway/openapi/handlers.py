"""What a handler says about itself, read off its source: the parameters it reads, the HTTP
statuses it returns, the answer type it declares.

Parameters: every call of the parameter readers (gateway.params.text / integer / number /
flag, the image inputs, Baidu's `required`) with a literal name, followed into the dialect's
own helpers that take `params` (the helper's defaults and the caller's literal arguments bound
as in a call); `if` branches on known values are followed or skipped, and a parameter read only on
some paths is optional. What it cannot see: a parameter read under a computed name (none
today; the request schemas allow other properties).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

from gateway import params as readers
from gateway.dialects.baidu import dialect as baidu_dialect
from gateway.dialects.native import operations
from gateway.inputs import image_input

MAX_DEPTH = 4


@dataclass
class Param:
    name: str
    schema: dict
    required: bool = False
    description: str = ""



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


def _number(values: dict) -> list[Param]:
    return [Param(values["name"], {"type": "number"}, False)] if _named(values) else []


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
    readers.number: _number,
    image_input: _image_input,
    operations.images: _native_images,
    baidu_dialect.required: _required_text,
}


@cache
def _tree(fn: Callable) -> ast.Module:
    """A function's source, parsed once (its parameters and its statuses both read it)."""
    return ast.parse(textwrap.dedent(inspect.getsource(fn)))


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
    tree = _tree(fn)
    # a handler made by a factory (native operation("detect")) knows its closure's values
    env = {**inspect.getclosurevars(fn).nonlocals, **(env or {})}
    found: dict[str, Param] = {}
    for node, branch in _nodes(tree, env, module, conditional):
        if isinstance(node, ast.Call):
            target = _function(node, module)
            if target in READERS:
                for param in READERS[target](_bound(target, node, env, module)):
                    _add(found, param, branch)
            elif (target is not None and depth < MAX_DEPTH and _passes_params(node)
                  and getattr(target, "__module__", "").startswith("gateway.")):
                inner = _bound(target, node, env, module)
                for param in read_params(target, inner, depth + 1, branch):
                    _add(found, param, branch)
            elif (isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == "params"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                _add(found, Param(node.args[0].value, {"type": "string"}), branch)
    return list(found.values())


def statuses(fn: Callable, depth: int = 0) -> list[int]:
    """The HTTP statuses a native handler returns: the literal second members of its
    `return body, status` (an `a if c else b` gives both), followed into what it returns the
    call of (a handler that ends `return await _operate(...)`); 200 when none is written."""
    fn = inspect.unwrap(fn)
    module = fn.__globals__
    found: list[int] = []
    for node in ast.walk(_tree(fn)):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Tuple) and len(value.elts) == 2:
            status = value.elts[1]
            for leaf in ((status.body, status.orelse) if isinstance(status, ast.IfExp)
                         else (status,)):
                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, int):
                    found.append(leaf.value)
        elif isinstance(value, ast.Call) and depth < MAX_DEPTH:
            target = _function(value, module)
            if target is not None and getattr(target, "__module__", "").startswith("gateway."):
                found += statuses(target, depth + 1)
    return sorted(set(found)) or [200]


def answer_type(handler: Callable) -> Any:
    """The body type a native handler declares (`-> tuple[Answer, int]`, Answer a TypedDict or
    a union of them), else None."""
    try:
        returned = get_type_hints(inspect.unwrap(handler)).get("return")
    except (NameError, TypeError):
        return None
    if get_origin(returned) is not tuple:
        return None
    body = get_args(returned)[0]
    members = get_args(body) if get_origin(body) in (Union, UnionType) else (body,)
    return body if all(is_typeddict(member) for member in members) else None
