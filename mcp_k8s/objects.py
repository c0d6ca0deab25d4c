"""Facts about Kubernetes objects as plain JSON, shared by every layer: keys, timestamps, age, noise, clipping.

The bottom of the package (it imports nothing from it), so the cache, the answer shaping, the kube/ calls and the
error messages all read an object, an age or a clipped sentence the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

# kubectl's copy of the object as last applied: it can double an object's size, and for a Secret it holds the values.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def strip_noise(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields and the last-applied annotation in place (client-go's TransformFunc idea); returns `obj`."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
            if not annotations:
                del meta["annotations"]
    return obj


def strip_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`strip_noise` on a copy: the input is untouched (it may be an object the watch cache shares)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = meta = dict(meta)
        if isinstance(meta.get("annotations"), dict):
            meta["annotations"] = dict(meta["annotations"])
    return strip_noise(out)


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp from the API (second or microsecond precision), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_time(value: dt.datetime) -> str:
    """RFC 3339 with a `Z`, as the API writes it."""
    return value.isoformat().replace("+00:00", "Z")


def age(timestamp: Any, now: dt.datetime | None = None) -> str | None:
    """kubectl-style age (45s, 12m, 5h, 3d) of an API timestamp (or a parsed one)."""
    then = timestamp if isinstance(timestamp, dt.datetime) else parse_time(timestamp)
    if then is None:
        return None
    return age_of_seconds(((now or dt.datetime.now(dt.UTC)) - then).total_seconds())


def age_of_seconds(seconds: float) -> str:
    """`age` of something `seconds` old (for callers that keep times as epoch seconds: no datetime arithmetic)."""
    whole = int(seconds)
    if whole < 0:
        return "0s"
    if whole >= 172_800:
        return f"{whole // 86_400}d"
    if whole >= 7_200:
        return f"{whole // 3_600}h"
    if whole >= 60:
        return f"{whole // 60}m"
    return f"{whole}s"


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters: runs of white space fold to one space, and a cut ends in an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
