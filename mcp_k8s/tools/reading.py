"""The read path every tool shares: when the watch cache may answer, reading one object cache-first, and waiting
for the cache to see a write.

A store answers only when it can vouch for the answer: synced at least once (never an empty list that really means
"not synced yet"), still served and permitted, and not staler than a budget. Otherwise the caller goes to the API and
says so. Writes wait (bounded) until the cache has seen them, so a read right after a write is consistent. Every read
here goes through the gated cache views (cache/access.py) or the gated client: the policy gate decides, not this
module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import anyio

from mcp_k8s import output
from mcp_k8s.cache.access import CachedType
from mcp_k8s.cache.store import ChangeType, Status, SubscriptionOverflow
from mcp_k8s.kube import resources
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.tools.base import AppState

WARM_WAIT = 3.0  # how long a read waits for a type's first sync before falling back to the API
WRITE_WAIT = 3.0  # how long a write waits for the cache to see it
STALENESS_BUDGET = 60.0  # a disconnected cache older than this is not trusted for answers


async def watch_type(state: AppState, rt: ResourceType) -> CachedType | None:
    """The cached view of `rt`, starting its watch on first use (the gate decides whether this caller may);
    None when the existing watch has another scope."""
    found = state.cache.get(rt)
    if found is not None:
        return found
    try:
        return await state.cache.ensure(rt, rows=await summary_rows(state, rt))
    except ValueError:
        return None


async def summary_rows(state: AppState, rt: ResourceType) -> output.SummaryRows:
    """The summary row a list of `rt` shows (the CRD's printer columns), also what its store keeps packed."""
    return output.SummaryRows(tuple((c.key, c.json_path) for c in await state.discovery.printer_columns(rt)))


async def readable_store(state: AppState, rt: ResourceType, namespace: str | None) -> CachedType | None:
    """A store that may answer reads for (rt, namespace) right now, or None (then read from the API)."""
    store = await watch_type(state, rt)
    if store is None or (rt.namespaced and namespace is not None and not store.covers(namespace)):
        return None
    if not store.synced and store.status == Status.STARTING:
        # Wake on any verdict, not only on sync: a forbidden or unserved type must fall back at once.
        await store.wait_status(Status.LIVE, Status.STALE, Status.FORBIDDEN, Status.NOT_SERVED, timeout=WARM_WAIT)
    if not store.synced or store.status in (Status.NOT_SERVED, Status.FORBIDDEN):
        return None
    stale = store.stale_seconds
    if stale is not None and stale > STALENESS_BUDGET:
        return None
    return store


def cache_note(store: CachedType | None, rt: ResourceType) -> str | None:
    """Why an answer came from the API although the type is watched (so the model knows what it got)."""
    if store is None:
        return None
    if not store.synced:
        return f"The watch cache for {rt.display} is still warming up; this answer came from a direct API read."
    return f"The watch cache for {rt.display} is {store.status.value}; this answer came from a direct API read."


async def await_write(state: AppState, rt: ResourceType, namespace: str | None, obj: dict[str, Any]) -> bool | None:
    """After a create/patch: wait until the cache holds this resourceVersion. None when the type is not cached."""
    store = state.cache.get(rt)
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if store is None or not store.synced or not rv:
        return None
    return await store.wait_for_resource_version(rv, namespace=namespace if rt.namespaced else None, timeout=WRITE_WAIT)


async def await_delete(state: AppState, rt: ResourceType, namespace: str | None, name: str) -> bool | None:
    """After a delete: wait until the cache no longer holds the object. None when the type is not cached."""
    store = state.cache.get(rt)
    if store is None or not store.synced:
        return None
    ns = namespace if rt.namespaced else None
    with await store.subscribe(namespace=ns, name=name) as changes:  # subscribe first, then look: no lost wake-up
        if await store.get(name, ns) is None:
            return True
        with anyio.move_on_after(WRITE_WAIT):
            try:
                async for change in changes:
                    if change.type == ChangeType.DELETED:
                        return True
            except SubscriptionOverflow:
                pass
    return await store.get(name, ns) is None


@dataclass(frozen=True)
class Read:
    """One object and where it came from, for an answer's header."""

    object: dict[str, Any]
    source: Literal["cache", "api"]
    stale_seconds: float | None
    cache: dict[str, Any] | None = None  # source=cache: freshness, last_heard_seconds, unconfirmed_since, lagged

    @property
    def resource_version(self) -> str | None:
        return (self.object.get("metadata") or {}).get("resourceVersion")


async def read_object(state: AppState, rt: ResourceType, namespace: str | None, name: str) -> Read:
    """One object from the cache when it can answer, else from the API (get_custom_resource, k8s:// reads, and
    the existence check before a confirmation)."""
    store = await readable_store(state, rt, namespace)
    # Probes the server first when the watch has been silent; the server's copy when the cache lagged.
    found = await store.confirmed_get(name, namespace) if store is not None else None
    if found is not None and found.object is not None:
        fields = found.freshness.as_fields()
        return Read(found.object, "cache", fields["stale_seconds"], fields["cache"])  # stored stripped already
    # A cache miss is confirmed with the API: the cache may be a few milliseconds behind a create.
    return Read(output.strip_object(await resources.get_object(state.kube, rt, namespace, name)), "api", None)
