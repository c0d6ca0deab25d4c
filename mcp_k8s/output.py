"""Answers for a model: clean objects, short summaries, a byte budget on everything, and honest truncation.

Three habits keep answers cheap in tokens without hiding anything: (1) objects are stripped of what no reader needs
(managedFields, the last-applied annotation); (2) lists default to a summary row per object (name, namespace, age,
the status conditions that matter); (3) every answer is fitted to a byte budget, and a cut answer says so with the
exact way to get the rest (a continue token, a narrower selector, or a field projection).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s import jsonpath as jp

# Re-exported as the answer vocabulary the tools speak: one age format, one clip, one stripped object.
from mcp_k8s.objects import age as age
from mcp_k8s.objects import age_of_seconds, parse_time
from mcp_k8s.objects import clip as clip
from mcp_k8s.objects import strip_object as strip_object

# Conditions worth a line in a summary; others are kept in the full view.
KEY_CONDITIONS = ("Ready", "Available", "Progressing", "Synced", "Healthy", "Established", "Degraded", "Failed")
_MAX_STRING = 2_000
_MAX_CONDITION_MESSAGE = 200

T = TypeVar("T")


class Condition(BaseModel):
    type: str
    status: str
    reason: str | None = None
    message: str | None = None


class Summary(BaseModel):
    """One row per object in a summary listing."""

    name: str
    namespace: str | None = None
    age: str | None = None
    phase: str | None = Field(default=None, description="status.phase or status.state when the type has one")
    conditions: list[Condition] = Field(default_factory=list, description="Key status conditions")
    resource_version: str | None = None


def conditions_of(obj: Mapping[str, Any], *, key_only: bool) -> list[Condition]:
    return [Condition(**c) for c in _condition_rows(obj, key_only=key_only)]


def _condition_rows(obj: Mapping[str, Any], *, key_only: bool) -> list[dict[str, str]]:
    """The conditions worth a line, as dicts without empty fields (what `Condition` dumps to)."""
    status = obj.get("status")
    found = status.get("conditions") if isinstance(status, dict) else None
    if not found or not isinstance(found, list):
        return []
    out: list[dict[str, str]] = []
    for c in found:
        if not isinstance(c, dict) or "type" not in c:
            continue
        kind = str(c["type"])
        if key_only and kind not in KEY_CONDITIONS and len(found) > 3:
            continue
        state = str(c.get("status", ""))
        row = {"type": kind, "status": state}
        reason = c.get("reason")
        if reason is not None:
            row["reason"] = str(reason)
        # Messages matter when something is wrong; on a healthy condition they are noise.
        message = c.get("message")
        if message and state != ("False" if kind in ("Degraded", "Failed") else "True"):
            row["message"] = clip(str(message), _MAX_CONDITION_MESSAGE)
        out.append(row)
    return out


def summarize(obj: Mapping[str, Any]) -> Summary:
    meta = obj.get("metadata") or {}
    return Summary(**_summary_fields(obj, ()), age=age(meta.get("creationTimestamp")))


def summary_row(obj: Mapping[str, Any], columns: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """A listing row, as `kubectl get` would show it: name, namespace, the CRD's printer columns (key, JSONPath),
    phase and key conditions, age."""
    return _aged(_summary_fields(obj, columns), _created_at(obj))


@dataclass(frozen=True)
class SummaryRows:
    """Summary rows for one type's printer columns, in the form the watch cache keeps beside each stored object.

    The reflector packs a row when it stores an object (it holds the decoded object then), so the first read of a
    page unpacks ~100 bytes per row instead of decoding ~1.5 KB and summarising it. Age is the one time-dependent
    field: the creation time is packed as epoch seconds and the age computed on every read. Equal forms (the same
    columns) make equal rows, which is how the cache knows its packed rows answer a reader's form.
    """

    columns: tuple[tuple[str, str], ...] = ()

    def pack(self, obj: Mapping[str, Any]) -> bytes:
        return orjson.dumps((_created_at(obj), _summary_fields(obj, self.columns)))

    def unpack(self, data: bytes) -> dict[str, Any]:
        created_at, row = orjson.loads(data)
        return _aged(row, created_at)

    def row(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return summary_row(obj, self.columns)


def _created_at(obj: Mapping[str, Any]) -> float | None:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return None if created is None else created.timestamp()


def _aged(row: dict[str, Any], created_at: float | None) -> dict[str, Any]:
    if created_at is not None:
        row["age"] = age_of_seconds(time.time() - created_at)
    return row


def _summary_fields(obj: Mapping[str, Any], columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A summary without its age, as the dict `Summary` dumps to, plus the printer columns. Built as a dict (a first
    read of a page pays for 100 of these, and the model round trip was most of that); `summarize` wraps it."""
    meta = obj.get("metadata") or {}
    status = obj.get("status")
    summary: dict[str, Any] = {"name": str(meta.get("name", ""))}
    if meta.get("namespace") is not None:
        summary["namespace"] = str(meta["namespace"])
    phase = (status.get("phase") or status.get("state")) if isinstance(status, dict) and status else None
    if phase is not None:
        summary["phase"] = str(phase)
    conditions = _condition_rows(obj, key_only=True)
    if conditions:
        summary["conditions"] = conditions
    if meta.get("resourceVersion") is not None:
        summary["resource_version"] = str(meta["resourceVersion"])
    if not columns:
        return summary
    row: dict[str, Any] = {k: summary[k] for k in ("name", "namespace") if k in summary}
    for key, path in columns:
        if key in ("name", "namespace", "age"):
            continue
        value = _column(obj, path)
        if value is not None:
            row[key] = value
    for key in ("phase", "conditions", "resource_version"):
        if key in summary and key not in row:
            row[key] = summary[key]
    return row


def _column(obj: Mapping[str, Any], path: str) -> Any:
    try:
        found = _parsed(path).find(obj)
    except errors.K8sError:
        return None
    if not found:
        return None
    return found[0] if len(found) == 1 and isinstance(found[0], str | int | float | bool) else jp.render(found)


@functools.lru_cache(maxsize=1024)
def _parsed(path: str) -> jp.Path:
    return jp.parse(path)


def size_of(value: Any) -> int:
    """Bytes of the JSON the client will receive (compact UTF-8, as the SDK serialises structured content)."""
    if isinstance(value, BaseModel):
        return len(value.model_dump_json(exclude_none=True).encode())
    try:
        return len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except orjson.JSONEncodeError:  # what orjson refuses (integers beyond 64 bits, deep nesting)
        return len(json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False).encode())


class Truncation(BaseModel):
    """Present when an answer was cut to fit the byte budget."""

    omitted: int = Field(description="How many items (or fields) were left out")
    hint: str = Field(description="How to get the rest")


def fit_items(
    items: Sequence[T],
    budget: int,
    overhead: int,
    *,
    measure: Callable[[T], int],
) -> int:
    """How many leading items fit in `budget` bytes after `overhead`; at least one, so progress is always possible."""
    used = overhead
    for count, item in enumerate(items):
        used += measure(item) + 1
        if used > budget:
            return max(1, count)
    return len(items)


CUT_HINT = "The page did not fit the answer budget; pass continue_token for the rest, or narrow it with {narrow}."
_FIELD_SLACK = 48  # the JSON keys and punctuation of count, continue_token and truncated


def cut_page(
    rows: Sequence[Any],
    budget: int,
    overhead: int,
    *,
    hint: str,
    token_for: Callable[[int], str | None] = lambda _fit: None,
    also_omitted: int = 0,
) -> tuple[int, str | None, Truncation | None]:
    """How many leading rows to show, the continue token, and the truncation note: the one way every list answer
    is cut, so the whole answer (rows, token and note included) never exceeds the budget. At least one row, so a
    reader always makes progress. `also_omitted` counts rows dropped earlier (a limit) in the note."""
    sizes = [size_of(r) + 1 for r in rows]
    fit = fit_items(rows, budget, overhead, measure=size_of)
    while True:
        omitted = len(rows) - fit + also_omitted
        truncated = Truncation(omitted=omitted, hint=hint) if fit < len(rows) else None
        token = token_for(fit)
        extras = len(token or "") + (size_of(truncated) if truncated else 0) + _FIELD_SLACK
        if fit <= 1 or overhead + sum(sizes[:fit]) + extras <= budget:
            return fit, token, truncated
        fit -= 1


def shrink_object(obj: Any, budget: int) -> tuple[Any, list[str]]:
    """Cut long strings and long lists inside one object until it fits; returns (object, paths cut)."""
    if size_of(obj) <= budget:
        return obj, []
    work = copy.deepcopy(obj)
    cut: list[str] = []
    limit = _MAX_STRING
    while size_of(work) > budget and limit >= 50:
        _shrink(work, "", limit, cut)
        limit //= 4
    return work, sorted(set(cut))


def _shrink(node: Any, path: str, limit: int, cut: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and len(value) > limit:
                node[key] = value[:limit] + f"… [{len(value) - limit} more characters]"
                cut.append(child)
            elif isinstance(value, list) and len(value) > max(3, limit // 100):
                keep = max(3, limit // 100)
                node[key] = [*value[:keep], f"… [{len(value) - keep} more items]"]
                cut.append(child)
            else:
                _shrink(value, child, limit, cut)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _shrink(value, f"{path}[{index}]", limit, cut)


def project(obj: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Keep only the dotted paths asked for (plus apiVersion/kind/metadata.name/namespace for orientation)."""
    out: dict[str, Any] = {k: obj[k] for k in ("apiVersion", "kind") if k in obj}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: meta[k] for k in ("name", "namespace") if k in meta}
    for path in fields:
        parts = [p for p in path.strip().split(".") if p]
        if not parts:
            continue
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                value = _MISSING
                break
            value = value[part]
        if value is _MISSING:
            continue
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


_MISSING = object()


# Opaque continue tokens: the model passes them back verbatim; we must be able to tell ours from garbage.
def encode_token(payload: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        raise errors.InvalidInput(
            "continue_token is not one this server issued; pass the exact token from the previous answer, or omit it "
            "to start from the beginning."
        )
    return payload
