"""Answers as text for a model to read: kubectl-like tables for lists, YAML-like text for one object, then one line
of metadata (where the answer came from, how fresh, what was cut and how to get the rest).

The structured content (the output schema's JSON) travels beside this text, so clients that validate or compute
still get exact values; the text is what a model reads, and JSON repeated as text would cost it twice the tokens.
A rendering is a pure function of the structured content: no I/O, nothing the structured answer does not hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
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
    if isinstance(body, Mapping) and body:
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
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    headers = [c.upper() for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [_line(headers, widths)]
    lines += [_line(r, widths) for r in cells]
    return "\n".join(lines)


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return _GAP.join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


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
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def yaml_text(obj: Mapping[str, Any]) -> str:
    """Block-style YAML (what `kubectl get -o yaml` shows), keys in the object's own order."""
    import yaml  # deferred: the first answer that needs it pays the import, not start-up

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(obj, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    return text.rstrip("\n")
