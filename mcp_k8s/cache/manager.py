"""The cache manager: one store per watched resource type, its reflectors in an anyio task group, clean shutdown.

Use it as an async context manager around the server's lifetime (or `await tg.start(manager.run)` in a daemon):

    async with CacheManager(kube) as cache:
        store = await cache.ensure(resource_type)               # cluster-wide
        store = await cache.ensure(other, namespaces=["a", "b"]) # one reflector per namespace
        ...

`ensure` starts watching on first use and returns at once; `await store.wait_synced(timeout)` waits for the first
full LIST. Reads that will be answered from a store go through `confirm_get` / `confirm_list` first, which probe
the server when the watch has been silent too long (cache/freshness.py) and say what the answer may claim.
Leaving the block cancels every reflector (closing its open LIST or WATCH response) and ends every
subscription; the KubeClient (and its aiohttp sessions) stays the caller's to close.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import anyio.abc

from mcp_k8s.cache.freshness import PROBE_TIMEOUT, Confirmed, Confirmer
from mcp_k8s.cache.reflector import Reflector, ReflectorOptions
from mcp_k8s.cache.store import DEFAULT_CHANGE_LOG_SIZE, Freshness, FreshnessPolicy, RowForm, Store, StoreInfo
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.logging import get_logger

__all__ = ["CacheManager", "WatchedType"]

log = get_logger(__name__)


@dataclass(frozen=True)
class WatchedType:
    """A watched resource type and its store (what `watched()` lists)."""

    resource_type: ResourceType
    store: Store
    confirmer: Confirmer

    def info(self) -> StoreInfo:
        return self.store.info()


def _key(rt: ResourceType) -> tuple[str, str, str]:
    return (rt.group, rt.version, rt.plural)


class CacheManager:
    """Owns the stores and reflectors. Not reusable: enter it once."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        options: ReflectorOptions | None = None,
        change_log_size: int = DEFAULT_CHANGE_LOG_SIZE,
        freshness: FreshnessPolicy | None = None,
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self._kube = kube
        self._options = options or ReflectorOptions()
        self._freshness = freshness or FreshnessPolicy()
        self._probe_timeout = probe_timeout
        self._change_log_size = change_log_size
        self._watched: dict[tuple[str, str, str], WatchedType] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._lock = anyio.Lock()
        self._state = "new"  # new → running → closed

    async def __aenter__(self) -> CacheManager:
        if self._state != "new":
            raise RuntimeError("a CacheManager can be entered only once")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self._state = "running"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool | None:
        self._state = "closed"
        task_group, self._task_group = self._task_group, None
        assert task_group is not None
        task_group.cancel_scope.cancel()
        try:
            return await task_group.__aexit__(exc_type, exc, tb)
        finally:
            for watched in self._watched.values():
                watched.store.close()
            log.info("watch cache stopped", types=len(self._watched))

    async def run(self, *, task_status: anyio.abc.TaskStatus[CacheManager] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (for `await task_group.start(manager.run)`); started with the manager itself."""
        async with self:
            task_status.started(self)
            await anyio.sleep_forever()

    async def ensure(
        self, rt: ResourceType, *, namespaces: Sequence[str] | None = None, rows: RowForm | None = None
    ) -> Store:
        """The store for `rt`, starting its reflectors on first use (returns before the first sync).

        `namespaces=None` watches cluster-wide; a list watches each namespace separately (for RBAC limited to
        namespaces, or an allowed-namespaces policy); it is ignored for cluster-scoped types. The first call fixes
        the scope: a later call whose namespaces the existing store does not cover raises ValueError. `rows` is
        the listing row the store keeps packed beside each object (fixed by the first call too).
        """
        if self._state != "running" or self._task_group is None:
            raise RuntimeError("the cache manager is not running; use it as `async with CacheManager(...)`")
        wanted = None if (namespaces is None or not rt.namespaced) else tuple(dict.fromkeys(namespaces))
        async with self._lock:
            found = self._watched.get(_key(rt))
            if found is not None:
                store = found.store
                if wanted is not None and not all(store.covers(ns) for ns in wanted):
                    raise ValueError(f"{rt.display} is already watched in {store.namespaces}, not in {list(wanted)}")
                if wanted is None and store.namespaces is not None:
                    raise ValueError(f"{rt.display} is already watched per namespace ({list(store.namespaces)})")
                return store
            store = Store(
                rt.display,
                namespaces=wanted,
                change_log_size=self._change_log_size,
                freshness_policy=self._freshness,
                rows=rows,
            )
            confirmer = Confirmer(self._kube, rt, store, timeout=self._probe_timeout)
            self._watched[_key(rt)] = WatchedType(rt, store, confirmer)
            for shard in store.shards:
                reflector = Reflector(self._kube, rt, shard, options=self._options)
                self._task_group.start_soon(reflector.run, name=f"reflector {rt.display} {shard.namespace or '*'}")
            log.info("watch cache started", resource=rt.display, namespaces=list(wanted) if wanted else None)
            return store

    def get(self, rt: ResourceType) -> Store | None:
        """The store for `rt` if it is watched (same group, version and plural), else None."""
        found = self._watched.get(_key(rt))
        return found.store if found is not None else None

    async def confirm_get(self, rt: ResourceType, name: str, namespace: str | None) -> Confirmed:
        """A cached object (or the server's newer one) with the freshness its answer may claim; `rt` is watched."""
        return await self._watched[_key(rt)].confirmer.confirm_get(name, namespace)

    async def confirm_list(self, rt: ResourceType, namespace: str | None) -> Freshness:
        """The freshness a list answer from `rt`'s store may claim (probing first when due); `rt` is watched."""
        return await self._watched[_key(rt)].confirmer.confirm_list(namespace)

    def watched(self) -> list[WatchedType]:
        """Every watched type with its store, sorted by display name."""
        return sorted(self._watched.values(), key=lambda w: w.resource_type.display)
