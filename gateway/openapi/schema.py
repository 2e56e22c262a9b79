"""JSON Schemas from the declared types (gateway/contract.py's parameter models, the answer
types of shared/answers.py and of each dialect's answers.py), by pydantic, made
self-contained (no $refs) so each operation reads alone and names never collide."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from gateway.contract import Fields


def _inline(node: Any, defs: dict[str, Any], names: bool = False) -> Any:
    """`node` with each $ref replaced by its definition and pydantic's titles left out
    (`names`: node maps property names, which are kept whatever they are)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **rest}
        return {key: _inline(value, defs, key == "properties" and not names)
                for key, value in node.items()
                if key != "$defs" and (names or key != "title")}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _clean(schema: dict) -> dict:
    return _inline(schema, schema.get("$defs", {}))


def type_schema(tp: Any) -> dict:
    """An answer type's schema (a TypedDict, a union, a list...)."""
    return _clean(TypeAdapter(tp).json_schema(mode="serialization"))


def field_schemas(model: type[Fields]) -> tuple[dict[str, dict], set[str]]:
    """Each parameter's schema by its name on the wire, and the names that are required."""
    schema = _clean(model.model_json_schema(by_alias=True, mode="validation"))
    properties = {}
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf", [])
        if ({"type": "null"} in branches and prop.get("default", 0) is None
                and name not in model.CLEARABLE):
            # optional: absent (or blank) on the wire, never a JSON null that means something
            # (a CLEARABLE field's null does: it clears a setting, so it stays documented)
            rest = [branch for branch in branches if branch != {"type": "null"}]
            prop = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
            prop = {**rest[0], **prop} if len(rest) == 1 else {"anyOf": rest, **prop}
        properties[name] = prop
    return properties, set(schema.get("required", []))
