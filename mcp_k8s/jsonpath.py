"""The JSONPath subset kubectl users write in `--for=jsonpath=...` and custom columns, evaluated on plain dicts.

Supported: `.a.b`, `a.b`, `{.a.b}`, `['a.b']` (keys with dots, e.g. annotations), `[0]` / `[-1]`, `[*]`, and filters
`[?(@.type=="Ready")]` (== and !=, with a string, number or boolean literal). That covers waiting on a phase, a
replica count, an annotation or a condition's status; a general JSONPath engine would be more surface to get wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mcp_k8s import errors

_TOKEN = re.compile(
    r"""\.?(?P<name>[A-Za-z0-9_\-$]+)               # .name or name
      |\[(?P<quote>['"])(?P<qname>.*?)(?P=quote)\]   # ['key.with.dots']
      |\[(?P<index>-?\d+)\]                          # [0]
      |\[(?P<star>\*)\]                              # [*]
      |\[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*(?P<op>==|!=)\s*(?P<lit>"[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\)\]
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Step:
    kind: str  # key | index | star | filter
    key: str = ""
    index: int = 0
    field: tuple[str, ...] = ()
    negate: bool = False
    literal: Any = None


@dataclass(frozen=True)
class Path:
    """A parsed path. `find` returns every match (a filter or [*] can match several)."""

    text: str
    steps: tuple[_Step, ...]

    def find(self, obj: Any) -> list[Any]:
        current = [obj]
        for step in self.steps:
            following: list[Any] = []
            for node in current:
                following.extend(_apply(step, node))
            current = following
        return current


def parse(text: str) -> Path:
    """Parse a path, or raise InvalidInput saying where it stopped making sense."""
    raw = text.strip()
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1].strip()
    if raw.startswith("$"):
        raw = raw[1:]
    if not raw:
        raise errors.InvalidInput("jsonpath is empty; write something like .status.phase.")
    steps: list[_Step] = []
    position = 0
    while position < len(raw):
        match = _TOKEN.match(raw, position)
        if match is None or match.end() == position:
            raise errors.InvalidInput(
                f"jsonpath {text!r} is not understood at {raw[position : position + 20]!r}; "
                "supported: .a.b, ['k.e.y'], "
                '[0], [*] and [?(@.type=="Ready")].'
            )
        if match.group("name") is not None:
            steps.append(_Step("key", key=match.group("name")))
        elif match.group("qname") is not None:
            steps.append(_Step("key", key=match.group("qname")))
        elif match.group("index") is not None:
            steps.append(_Step("index", index=int(match.group("index"))))
        elif match.group("star") is not None:
            steps.append(_Step("star"))
        else:
            steps.append(
                _Step(
                    "filter",
                    field=tuple(match.group("fpath").split(".")),
                    negate=match.group("op") == "!=",
                    literal=_literal(match.group("lit")),
                )
            )
        position = match.end()
    return Path(text=text, steps=tuple(steps))


def _literal(text: str) -> Any:
    if text[0] in "'\"":
        return text[1:-1]
    return json.loads(text)


def _apply(step: _Step, node: Any) -> list[Any]:
    if step.kind == "key":
        return [node[step.key]] if isinstance(node, dict) and step.key in node else []
    if step.kind == "index":
        if isinstance(node, list) and -len(node) <= step.index < len(node):
            return [node[step.index]]
        return []
    items = node if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
    if step.kind == "star":
        return list(items)
    out = []
    for item in items:
        value: Any = item
        for part in step.field:
            value = value.get(part) if isinstance(value, dict) else None
        if (value == step.literal) != step.negate:
            out.append(item)
    return out


def render(values: list[Any]) -> str:
    """kubectl's rendering: scalars as text, several matches space-separated, objects as compact JSON."""
    parts = []
    for value in values:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, bool):
            parts.append("true" if value else "false")
        else:
            parts.append(json.dumps(value, separators=(",", ":")))
    return " ".join(parts)
