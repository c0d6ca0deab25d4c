"""What a model reads in tools/list: the generated JSON schemas, rewritten to say the same in far fewer bytes.

Every tool definition travels with every model turn, so its bytes are paid again and again. Pydantic's schemas
repeat a title for every field, spell `Optional[X]` as `anyOf [X, null]` with `default: null`, and carry length
limits the server enforces anyway. The input schema keeps what a model needs to call well (types, enums, required,
defaults, descriptions, shared shapes once in `$defs`); the output schema names the top-level fields and their
types, which is what a client validating structured content needs (the text content is rendered for reading).
Validation does not change: arguments are still checked by the tool's own pydantic model.
"""

from __future__ import annotations

from typing import Any

# Titles repeat the property name; lengths and lower bounds are enforced by the tool anyway (and obvious to a model).
_DROP = frozenset({"title", "maxLength", "minLength", "maxItems", "minItems", "minimum", "exclusiveMinimum"})


def compact_input(schema: dict[str, Any]) -> dict[str, Any]:
    out = _compact(schema)
    assert isinstance(out, dict)
    for shape in (out.get("$defs") or {}).values():
        shape.pop("description", None)  # the parameter that uses a shape describes it
    return out


def _compact(node: Any) -> Any:
    if isinstance(node, list):
        return [_compact(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP and not isinstance(value, dict):
            continue
        if key == "default" and (value is None or value is False):
            continue  # absent means off
        if key == "additionalProperties":
            continue  # maps of strings and closed shapes: the tool's own validation says so when it matters
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _compact(prop) for name, prop in value.items()}  # a field may be called "title"
            continue
        out[key] = _compact(value)
    choices = out.get("anyOf")
    if isinstance(choices, list):
        rest = [c for c in choices if c != {"type": "null"}]
        if len(rest) < len(choices):  # optional: absence says it; null adds nothing
            if len(rest) == 1:
                del out["anyOf"]
                out = {**rest[0], **out}
            else:
                out["anyOf"] = rest
    if out.get("description") == "":
        del out["description"]
    return out


def compact_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Top-level fields and their JSON types: enough to validate, and small."""
    if schema is None:
        return None
    properties = {name: {"type": _json_type(prop)} for name, prop in (schema.get("properties") or {}).items()}
    return {"type": "object", "properties": properties}


def _json_type(prop: dict[str, Any]) -> str | list[str]:
    if isinstance(prop.get("type"), str):
        return str(prop["type"])
    if "$ref" in prop or "additionalProperties" in prop:
        return "object"
    if "enum" in prop or "const" in prop:
        return "string"
    choices = [c for c in prop.get("anyOf") or [] if c != {"type": "null"}]
    types = sorted({t for c in choices for t in _flat(_json_type(c))})
    if len(types) == 1:
        return types[0]
    return types or "object"


def _flat(kind: str | list[str]) -> list[str]:
    return [kind] if isinstance(kind, str) else kind


def describe(text: str | None) -> str:
    """A docstring as one line: indentation and line breaks cost bytes and say nothing."""
    return " ".join((text or "").split())
