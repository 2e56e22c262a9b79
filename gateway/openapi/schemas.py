"""JSON Schemas: of the answer types (shared/answers.py), and of the three dialects' answer
envelopes."""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

PROBLEM = {"type": "object", "required": ["status", "error"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"},
    "error": {"type": "object", "properties": {
        "code": {"type": "string"}, "cloudwalk_code": {"type": "integer"},
        "baidu_code": {"type": "integer"}, "message": {"type": "string"}}}}}
CLOUDWALK_ANSWER = {"type": "object", "required": ["result", "info"], "properties": {
    "result": {"type": "integer", "description": "0, or a CloudWalk error code"},
    "info": {"type": "string"}}}
BAIDU_ANSWER = {"type": "object", "description": "`result` and `log_id`, or `error_code` "
                 "and `error_msg` (Baidu face API v2)", "properties": {
                     "log_id": {"type": "integer"}, "error_code": {"type": "integer"},
                     "error_msg": {"type": "string"}}}


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
