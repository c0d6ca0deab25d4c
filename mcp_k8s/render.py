"""Answers as text for a model to read: kubectl-like tables for lists, YAML-like text for one object, then one line
of metadata (where the answer came from, how fresh, what was cut and how to get the rest).

The structured content (the output schema's JSON) travels beside this text, so clients that validate or compute
still get exact values; the text is what a model reads, and JSON repeated as text would cost it twice the tokens.
A rendering is a pure function of the structured content: no I/O, nothing the structured answer does not hold.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Row fields a table leaves out: identifiers for tooling, not for reading (the structured content has them).
_HIDDEN_COLUMNS = frozenset({"resource_version", "uid", "generation"})
# Answer fields shown first, in this order, on the metadata line.
_LEAD = ("resource", "kind", "namespace", "source", "resource_version", "synced", "stale_seconds", "count")
_GAP = "   "


def render(content: Mapping[str, Any]) -> str:
    """The text block of a tool answer: its rows as a table (more lists of rows as titled tables), its object as
    YAML, then the remaining fields as `key: value` lines."""
    tables = [k for k, v in content.items() if isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v)]
    parts: list[str] = []
    for index, key in enumerate(tables):
        rows = content[key]
        if all("metadata" in row for row in rows):  # whole objects (view=full): YAML documents, like -o yaml
            rendered = "\n---\n".join(yaml_text(row) for row in rows)
        else:
            rendered = table(rows, shared_namespace=content.get("namespace"))
        parts.append(rendered if index == 0 else f"{key}:\n{rendered}")
    if not tables:
        empty = next((k for k in ("items", "changes") if content.get(k) == []), None)
        if empty:
            parts.append(f"(no {empty})")
    body = content.get("object")
    if body and (type(body) is dict or isinstance(body, Mapping)):
        parts.append(yaml_text(body))
    rest = {k: v for k, v in content.items() if k not in (*tables, "object") and v not in (None, [], {}, "")}
    if rest:
        parts.append(meta_lines(rest))
    return "\n".join(parts)


def table(rows: Sequence[Mapping[str, Any]], *, shared_namespace: Any = None) -> str:
    """Aligned columns like `kubectl get`: upper-case headers, one line per row."""
    columns = [c for c in _columns(rows) if c not in _HIDDEN_COLUMNS]
    if shared_namespace and "namespace" in columns:
        columns.remove("namespace")  # one namespace: said once on the metadata line
    headers = [c.upper() for c in columns]
    cells = [headers, *([_fast_cell(row.get(c)) for c in columns] for row in rows)]
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    line = _GAP.join(f"{{:<{w}}}" for w in widths)  # one format string for every line: padding done in C
    return "\n".join(line.format(*r).rstrip() for r in cells)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of every row, in first-seen order (rows usually share one set of keys: checked at C speed)."""
    if not rows:
        return []
    first = rows[0].keys()
    if all(row.keys() == first for row in rows):
        return list(first)
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _fast_cell(value: Any) -> str:
    """Most cells are short strings or numbers: skip the general path for them."""
    if type(value) is str and "\n" not in value and "\t" not in value:
        return value
    if type(value) is int:
        return str(value)
    return cell(value)


def cell(value: Any) -> str:
    """One table cell: scalars as they are, conditions as Type=Status(Reason), maps as k=v, lists joined by ','."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, Mapping):
        if "type" in value and "status" in value:
            reason = f"({value['reason']})" if value.get("reason") else ""
            return f"{value['type']}={value['status']}{reason}"
        return ",".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value) or ""
    return str(value)


def meta_lines(fields: Mapping[str, Any]) -> str:
    """`key: value` lines, the answer's identity first; nested values as compact JSON."""
    ordered = [k for k in _LEAD if k in fields] + [k for k in fields if k not in _LEAD]
    return "\n".join(f"{key}: {_scalar(fields[key])}" for key in ordered)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return _compact(value)


_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # built once, not per dumps() call


def yaml_text(obj: Mapping[str, Any]) -> str:
    """Block-style YAML (what `kubectl get -o yaml` shows), keys in the object's own order.

    JSON-shaped data needs only a small emitter: plain scalars where YAML reads them back as the same string, and
    JSON's double-quoted form (valid YAML) everywhere else. It is several times faster than PyYAML's pure-Python
    representer, which dominated a cached get.
    """
    lines: list[str] = []
    _emit_mapping(obj, 0, lines)
    return "\n".join(lines)


def _emit_mapping(node: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in node.items():
        label = f"{pad}{_key_text(key if type(key) is str else str(key))}:"
        kind = type(value)
        if kind is str:  # the common leaf first: plain JSON types are checked by exact type, ABCs only after
            lines.append(f"{label} {_scalar_text(value)}")
        elif kind is dict or (kind is not list and isinstance(value, Mapping)):
            if value:
                lines.append(label)
                _emit_mapping(value, indent + 2, lines)
            else:
                lines.append(f"{label} {{}}")
        elif kind is list:
            if value:
                lines.append(label)
                _emit_sequence(value, indent, lines)
            else:
                lines.append(f"{label} []")
        else:
            lines.append(f"{label} {_leaf(value)}")


def _emit_sequence(items: list[Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Mapping) and item:
            start = len(lines)
            _emit_mapping(item, indent + 2, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2 :]}"
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            _emit_sequence(item, indent + 2, lines)
        else:
            lines.append(f"{pad}- {_leaf(item)}")


def _leaf(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _scalar_text(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar_text(str(value))


@functools.lru_cache(maxsize=2048)
def _key_text(key: str) -> str:
    """Keys repeat from object to object (metadata, name, namespace...): quote each once. Values are not memoized, so
    no value (a secret one, say) outlives the answer that carried it."""
    return _scalar_text(key)


def _scalar_text(text: str) -> str:
    """A string as YAML reads it back unchanged: plain when safe, else JSON-quoted."""
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not _NUMBER.match(text):
        return text
    return json.dumps(text, ensure_ascii=False)


_PLAIN = re.compile(r"^[A-Za-z0-9_/.(][A-Za-z0-9 _./()=+,@-]*(?<! )$")
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?$|^0[xob]|^\d{4}-\d\d?-\d\d?")  # and dates
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~", ".inf", ".nan"})
