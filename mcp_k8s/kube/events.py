"""Events, newest first with repeats folded together, for one involved object (any kind) or a whole namespace.

core/v1 is the one read path: it serves events written through events.k8s.io/v1 too (same storage), and its field
selectors cover involvedObject.*. Folding and ordering live here with the reads (not in output.py), because which
timestamp means "last seen" depends on which of the two event shapes the writer used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.kube.resources import list_objects
from mcp_k8s.objects import age, clip, format_time, parse_time

EVENTS = ResourceType(group="", version="v1", plural="events", kind="Event", singular="event", namespaced=True)
EVENT_PAGE = 500
EVENT_SCAN_LIMIT = 2_000  # events read per call: enough to sort a busy namespace newest-first, bounded in memory
_MAX_EVENT_MESSAGE = 500


class EventRow(BaseModel):
    """One distinct event (same reason, message and object), its occurrences folded into `count`."""

    type: str | None = None
    reason: str | None = None
    object: str = Field(description="Kind/name of the object the event is about")
    message: str | None = None
    count: int
    last_seen: str | None = Field(default=None, description="RFC 3339 time of the latest occurrence")
    age: str | None = Field(default=None, description="Time since the latest occurrence")
    first_seen: str | None = None
    source: str | None = Field(default=None, description="Component that reported it")
    namespace: str | None = None


class EventList(BaseModel):
    namespace: str | None = Field(default=None, description="Namespace read; absent = all namespaces")
    items: list[EventRow]
    involved: str | None = Field(default=None, description="The object (or kind) the events were filtered for")
    scanned: int = Field(description="Raw events read before folding repeats")
    omitted: int = Field(default=0, description="Distinct events left out by the limit (oldest first)")
    complete: bool = Field(default=True, description="False when more events existed than one call reads")


def _event_times(event: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first, last) occurrence across both event shapes: core/v1 (first/lastTimestamp, count) and
    events.k8s.io/v1 as core/v1 shows it (eventTime, series.lastObservedTime)."""
    meta = event.get("metadata") or {}
    series = event.get("series") or {}
    first = parse_time(event.get("firstTimestamp")) or parse_time(event.get("eventTime"))
    last = (
        parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("lastTimestamp"))
        or parse_time(event.get("eventTime"))
        or first
    )
    created = parse_time(meta.get("creationTimestamp"))
    return first or created, last or created


def _event_count(event: Mapping[str, Any]) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def _api_group(api_version: str | None) -> str | None:
    if not api_version:
        return None
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def _group_repeats(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One group per (reason, message, object): summed count, earliest first, latest last, its newest event."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        key = tuple(
            str(value or "")
            for value in (
                event.get("reason"),
                event.get("message"),
                involved.get("kind"),
                involved.get("namespace"),
                involved.get("name"),
            )
        )
        first, last = _event_times(event)
        source = event.get("reportingComponent") or (event.get("source") or {}).get("component")
        group = groups.get(key)
        if group is None:
            groups[key] = {"event": event, "count": _event_count(event), "first": first, "last": last, "source": source}
            continue
        group["count"] += _event_count(event)
        if first is not None and (group["first"] is None or first < group["first"]):
            group["first"] = first
        if last is not None and (group["last"] is None or last > group["last"]):
            group["last"], group["event"] = last, event  # the newest occurrence speaks for the group
        group["source"] = group["source"] or source
    return list(groups.values())


def fold_events(
    events: Sequence[Mapping[str, Any]], *, limit: int, now: dt.datetime | None = None
) -> tuple[list[EventRow], int]:
    """Fold repeats of (reason, message, object) into one row with summed counts; newest first; at most `limit`.

    Returns (rows, how many distinct rows were left out)."""
    now = now or dt.datetime.now(dt.UTC)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    ordered = sorted(_group_repeats(events), key=lambda g: g["last"] or epoch, reverse=True)
    rows = []
    for group in ordered[:limit]:
        event = group["event"]
        involved = event.get("involvedObject") or {}
        first, last = group["first"], group["last"]
        rows.append(
            EventRow(
                type=event.get("type") or None,
                reason=event.get("reason") or None,
                object=f"{involved.get('kind') or '?'}/{involved.get('name') or '?'}",
                message=clip(str(event["message"]), _MAX_EVENT_MESSAGE) if event.get("message") else None,
                count=group["count"],
                last_seen=format_time(last) if last else None,
                age=age(last, now) if last else None,
                first_seen=format_time(first) if first else None,
                source=group["source"] or None,
                namespace=involved.get("namespace") or (event.get("metadata") or {}).get("namespace"),
            )
        )
    return rows, max(0, len(ordered) - limit)


def involved_selector(rt: ResourceType, name: str | None, namespace: str | None, uid: str | None) -> str:
    """Field selector for events about one object (or every object of a kind, without a name)."""
    parts = [f"involvedObject.kind={rt.kind}"]
    if name:
        parts.append(f"involvedObject.name={name}")
    if namespace and rt.namespaced:
        parts.append(f"involvedObject.namespace={namespace}")
    if uid:
        parts.append(f"involvedObject.uid={uid}")
    return ",".join(parts)


async def _scan(
    kube: KubeClient, namespace: str | None, field_selector: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Every matching event, page by page, up to EVENT_SCAN_LIMIT; (events, whether that was all of them)."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        doc = await list_objects(
            kube, EVENTS, namespace, field_selector=field_selector, limit=EVENT_PAGE, continue_token=token
        )
        events += doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue") or None
        if token is None:
            return events, True
        if len(events) >= EVENT_SCAN_LIMIT:
            return events, False


async def list_events(
    kube: KubeClient,
    discovery: Discovery,
    namespace: str | None,
    *,
    plural: str | None = None,
    name: str | None = None,
    group: str | None = None,
    version: str | None = None,
    uid: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    widen_cluster_scoped: bool = True,
) -> EventList:
    """Events for one involved object (any kind, custom resources included: `plural` may be a kind, plural, singular
    or short name) or for a whole namespace (`plural=None`); `namespace=None` reads all namespaces.

    Events about a cluster-scoped object are read across namespaces, since their writers put them in `default` or
    their own namespace (`widen_cluster_scoped=False` keeps to `namespace`, for a server limited to some
    namespaces). The kind can be shared by two groups, so rows are also checked against the resolved type's group.
    """
    if name and not plural:
        raise errors.hinted(
            errors.InvalidInput,
            "Events about a named object need its type",
            errors.Remedy.NAME_NEEDS_TYPE,
            "give its kind or plural too, e.g. 'widgets' or 'Widget'",
        )
    rt: ResourceType | None = None
    selectors: list[str] = []
    if plural:
        rt = await discovery.resolve(plural, group=group, version=version)
        if not rt.namespaced and widen_cluster_scoped:
            namespace = None
        selectors.append(involved_selector(rt, name, namespace, uid))
    if event_type:
        selectors.append(f"type={event_type}")
    events, complete = await _scan(kube, namespace, ",".join(selectors) or None)
    involved = None
    if rt is not None:
        wanted = rt.group
        events = [e for e in events if _api_group((e.get("involvedObject") or {}).get("apiVersion")) in (None, wanted)]
        involved = f"{rt.kind}/{name}" if name else f"{rt.kind} ({rt.qualified})"
    rows, omitted = fold_events(events, limit=limit)
    return EventList(
        namespace=namespace, items=rows, involved=involved, scanned=len(events), omitted=omitted, complete=complete
    )
