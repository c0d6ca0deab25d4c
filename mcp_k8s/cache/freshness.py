"""Confirming a cached answer before it claims to be fresh: bounded probes, one per type in flight.

A watch that has been silent for a few seconds is indistinguishable, from the client's side, from a server that
froze or a connection that died: the client's own inactivity timeout (90 s) and the server's bookmarks (~60 s) are
far too slow for an agent acting on the answer. The API server solves this for itself (KEP-2340, consistent reads
from cache: ask etcd for its current revision, wait until the watch cache has caught up); a client cannot ask for
a bookmark on demand, so it asks the cheapest question whose answer it can check:

- a get: the object itself with resourceVersion "" (a quorum read), compared by resourceVersion with the cached
  copy. Same → confirmed. Newer (or gone) → the answer is the server's object, marked `lagged`, and the store is
  repaired (the watch's own event for it later changes nothing);
- a list: a `limit=1` list of the same scope, proving the server answers (it cannot prove the watch delivered
  everything; a get can).

At most one probe per type is in flight: concurrent reads wait for it (never longer than its deadline) and take
its verdict. A probe with no answer within the deadline (1.5 s) marks the type unconfirmed and restarts its watches
at once; answers then say `unconfirmed` (since the last confirmation) without probing again for `retry` seconds.
When to probe is the store's state table (store.py); this module only does the I/O.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import anyio

from mcp_k8s import errors, policy
from mcp_k8s.cache.store import Freshness, Obj, Store, rv_newer, strip
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.logging import get_logger

__all__ = ["Confirmed", "Confirmer"]

log = get_logger(__name__)

PROBE_TIMEOUT = 1.5


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A get's answer after confirmation: the object to return (None: gone on the server) and its freshness."""

    object: Obj | None
    freshness: Freshness


class Confirmer:
    """Probes for one watched type (all its shards)."""

    def __init__(
        self, kube: KubeClient, resource_type: ResourceType, store: Store, *, timeout: float = PROBE_TIMEOUT
    ) -> None:
        self.kube = kube
        self.resource_type = resource_type
        self.store = store
        self.timeout = timeout
        self._in_flight: anyio.Event | None = None

    async def confirm_list(self, namespace: str | None) -> Freshness:
        """Freshness for a list answer covering `namespace` (None: all), probing first if the table says so."""
        fresh = self.store.freshness(namespace)
        if not fresh.probe_due:
            return fresh
        await self._probe(lambda: self._list_probe(namespace))
        return self.store.freshness(namespace)

    async def confirm_get(self, name: str, namespace: str | None) -> Confirmed:
        """The cached object, or the server's newer one, with what the answer may claim."""
        cached = self.store.get(name, namespace)
        fresh = self.store.freshness(namespace, for_get=True)
        if not fresh.probe_due:
            return Confirmed(cached, fresh)
        found: list[Obj | None] = []

        async def probe() -> None:
            found.append(await self._get_probe(name, namespace))

        await self._probe(probe)
        fresh = self.store.freshness(namespace)
        if not found:  # another read's probe decided, or this one got no answer
            return Confirmed(cached, fresh)
        server = found[0]
        if server is not None:
            strip(server)
        have = (cached or {}).get("metadata", {}).get("resourceVersion") or ""
        want = (server or {}).get("metadata", {}).get("resourceVersion") or ""
        uid_changed = (cached or {}).get("metadata", {}).get("uid") != (server or {}).get("metadata", {}).get("uid")
        if server is None or uid_changed or rv_newer(want, have):
            key = (namespace or "", name) if self.resource_type.namespaced else ("", name)
            log.info("watch cache lagged behind a quorum read; repaired", resource=self.store.resource, name=name)
            self.store.repair(key, server)
            return Confirmed(server, replace(fresh, confirmed=True, lagged=True, probe_due=False))
        # The server's copy is the cached one: this object is confirmed even if the watch itself is down.
        return Confirmed(cached, replace(fresh, confirmed=True, probe_due=False))

    # --- the probe ----------------------------------------------------------------------------------------------

    async def _probe(self, request: Callable[[], Awaitable[Any]]) -> None:
        """Run `request` as the type's one probe, or wait for the one in flight (bounded by the deadline)."""
        if self._in_flight is not None:
            with anyio.move_on_after(self.timeout + 0.5):
                await self._in_flight.wait()
            return
        done = self._in_flight = anyio.Event()
        try:
            answered = failed_here = False
            reason = f"no answer within {self.timeout:g} s"
            # The caller's read was decided before; the probe is the cache's own question, like its watch.
            with anyio.move_on_after(self.timeout), policy.as_server():
                try:
                    await request()
                    answered = True
                except (errors.ServerError, errors.TooManyRequests) as exc:
                    reason, failed_here = exc.message, True  # it answers, but cannot serve this type now
                except errors.Unavailable as exc:
                    reason = exc.message
                except errors.K8sError:
                    answered = True  # the server answered (403, 404 on the list, ...): it is there
            if answered:
                self.store.probe_succeeded()
            else:
                log.warning("watch cache freshness probe failed", resource=self.store.resource, reason=reason)
                self.store.probe_failed(
                    f"The API server did not answer a freshness probe ({reason})", relist=failed_here
                )
        finally:
            self._in_flight = None
            done.set()

    async def _list_probe(self, namespace: str | None) -> None:
        rt = self.resource_type
        op = errors.Operation(verb="list", resource=rt.qualified, namespace=namespace)
        await self.kube.request(
            "GET", rt.path(namespace if rt.namespaced else None), op=op, query=[("limit", 1)], timeout=self.timeout
        )

    async def _get_probe(self, name: str, namespace: str | None) -> Obj | None:
        rt = self.resource_type
        ns = namespace if rt.namespaced else None
        op = errors.Operation(verb="get", resource=rt.qualified, namespace=ns, name=name)
        try:
            obj: Obj = await self.kube.request("GET", rt.path(ns, name), op=op, timeout=self.timeout)
        except errors.NotFound:
            return None
        return obj
