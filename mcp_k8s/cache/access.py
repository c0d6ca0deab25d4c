"""The only door from the tools to the watch cache: every cached read is a policy decision first.

The cache is filled with the server's own identity, so a read from it must pass the same gate an API request would
(`Policy.check`), and with --impersonate also the caller's own RBAC (a SubjectAccessReview, cached a few seconds).
Tools get `CachedType` views, never the `Store`: a view has no read that skips the decision, so a tool that forgets
cannot read past it. The server's own consumers (the daemon's event stream, the subscription hub) keep the
`CacheManager`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from mcp_k8s import errors, policy
from mcp_k8s.cache.freshness import Confirmed
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import ChangeWindow, Freshness, Key, Obj, RowForm, Status, Store, StoreInfo, Subscription
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.reviews import Reviews


class CacheAccess:
    """The cache as tools may use it: gated views, started on first use within the allowed namespaces."""

    def __init__(self, manager: CacheManager, gate: policy.Policy, reviews: Reviews | None = None) -> None:
        self._manager = manager
        self._policy = gate
        self._reviews = reviews  # set with --impersonate: cached reads also ask the caller's RBAC

    def get(self, rt: ResourceType) -> CachedType | None:
        """The view of `rt` if it is already watched."""
        store = self._manager.get(rt)
        return CachedType(rt, store, self) if store is not None else None

    async def ensure(self, rt: ResourceType, *, rows: RowForm | None = None) -> CachedType:
        """The view of `rt`, starting its watch (scoped to the allowed namespaces) if the caller may watch it;
        a new store keeps each object's row in the form `rows`.

        Raises NotAllowed when the policy refuses the watch, ValueError when an existing watch has another scope.
        """
        for namespace in self._policy.visible_namespaces(None) if rt.namespaced else [None]:
            self._policy.check(_request(rt, "watch", namespace))
        store = await self._manager.ensure(rt, namespaces=list(self._policy.allowed_namespaces) or None, rows=rows)
        return CachedType(rt, store, self)

    async def authorize(self, request: policy.Request) -> None:
        """The gate for one cached read: our policy, then (impersonating) the caller's own RBAC."""
        self._policy.check(request)
        caller = policy.current().caller
        if self._reviews is None or caller is None:
            return
        if not await self._reviews.permits(caller, request):
            where = f' in namespace "{request.namespace}"' if request.namespace else " cluster-wide"
            named = f' "{request.name}"' if request.name else ""
            raise errors.Forbidden(
                f'Forbidden: user "{caller.user}" may not {request.verb} {request.qualified}{named}{where}; ask for '
                "that RBAC permission, or call check_access to see what is allowed.",
                status=403,
                reason="Forbidden",
            )

    def namespaces(self, namespace: str | None) -> Sequence[str | None]:
        return self._policy.visible_namespaces(namespace)


def _request(rt: ResourceType, verb: str, namespace: str | None, name: str | None = None) -> policy.Request:
    return policy.Request.of(
        verb, group=rt.group, resource=rt.plural, namespace=namespace, name=name, namespaced=rt.namespaced
    )


class CachedType:
    """One watched type as a tool sees it. State (synced, status, staleness) is free to read; objects are not."""

    def __init__(self, rt: ResourceType, store: Store, access: CacheAccess) -> None:
        self.resource_type = rt
        self._store = store
        self._access = access

    # --- state: says nothing about any object -----------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._store.synced

    @property
    def status(self) -> Status:
        return self._store.status

    @property
    def stale_seconds(self) -> float | None:
        return self._store.stale_seconds

    @property
    def last_error(self) -> str | None:
        return self._store.last_error

    @property
    def resource_version(self) -> str:
        return self._store.resource_version

    def info(self) -> StoreInfo:
        return self._store.info()

    def covers(self, namespace: str | None) -> bool:
        return self._store.covers(namespace)

    async def wait_synced(self, timeout: float | None = None) -> bool:
        return await self._store.wait_synced(timeout)

    async def wait_status(self, *statuses: Status, timeout: float | None = None) -> bool:
        return await self._store.wait_status(*statuses, timeout=timeout)

    async def wait_for_resource_version(
        self, resource_version: str, *, namespace: str | None = None, timeout: float | None = None
    ) -> bool:
        return await self._store.wait_for_resource_version(resource_version, namespace=namespace, timeout=timeout)

    # --- reads: each one decided first ------------------------------------------------------------------------

    def _ns(self, namespace: str | None) -> str | None:
        return namespace if self.resource_type.namespaced else None

    async def get(self, name: str, namespace: str | None = None) -> Obj | None:
        await self._access.authorize(_request(self.resource_type, "get", self._ns(namespace), name))
        return self._store.get(name, self._ns(namespace))

    async def confirmed_get(self, name: str, namespace: str | None = None) -> Confirmed | None:
        """The object (None when not cached) with the freshness its answer may claim: probes the server first when
        the watch has been silent too long, and returns the server's copy when the cache lagged."""
        await self._access.authorize(_request(self.resource_type, "get", self._ns(namespace), name))
        if (self._ns(namespace) or "", name) not in self._store:
            return None
        return await self._access._manager.confirm_get(self.resource_type, name, self._ns(namespace))

    async def freshness(self, namespace: str | None = None) -> Freshness:
        """What a list answer covering `namespace` (None: all) may claim, probing first when due (no objects)."""
        return await self._access._manager.confirm_list(self.resource_type, self._ns(namespace))

    async def list(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        after: Key | None = None,
        limit: int | None = None,
        rows: RowForm | None = None,
    ) -> builtins.list[Obj]:
        """Objects the caller may see (or, with `rows`, their rows in that form), in key order: one namespace, or
        (namespace None) every namespace the policy allows. `after`/`limit` page through them at the cost of the
        page alone."""
        scopes = await self._permitted("list", self._ns(namespace))
        return self._store.list(
            namespace=self._ns(namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            after=after,
            limit=limit,
            namespaces=None if scopes is None else {ns or "" for ns in scopes},
            rows=rows,
        )

    async def changes_since(
        self, resource_version: str | None = None, seconds: float | None = None, namespace: str | None = None
    ) -> ChangeWindow:
        scopes = await self._permitted("watch", self._ns(namespace))
        window = self._store.changes_since(
            resource_version=resource_version, seconds=seconds, namespace=self._ns(namespace)
        )
        if scopes is not None:
            allowed = set(scopes)
            window = ChangeWindow(
                changes=[c for c in window.changes if (c.namespace or None) in allowed],
                complete=window.complete,
                resource_version=window.resource_version,
            )
        return window

    async def subscribe(self, *, namespace: str | None = None, name: str | None = None) -> Subscription:
        """A stream of changes (use `with await view.subscribe(...) as changes`), for a caller who may watch them."""
        ns = self._ns(namespace)
        await self._access.authorize(_request(self.resource_type, "watch", ns, name))
        if ns is None and self.resource_type.namespaced:
            await self._permitted("watch", None)
        return self._store.subscribe(namespace=ns, name=name)

    async def authorize(self, verb: str, namespace: str | None, name: str | None = None) -> None:
        """Decide a read of this type without making it (a subscription that will read later)."""
        await self._access.authorize(_request(self.resource_type, verb, self._ns(namespace), name))

    async def _permitted(self, verb: str, namespace: str | None) -> builtins.list[str | None] | None:
        """Authorize a read of one namespace, or of all: None means 'everything', a list means 'only these'."""
        if not self.resource_type.namespaced or namespace is not None:
            await self._access.authorize(_request(self.resource_type, verb, namespace))
            return None if namespace is None else [namespace]
        scopes = self._access.namespaces(None)
        for ns in scopes:
            await self._access.authorize(_request(self.resource_type, verb, ns))
        return None if scopes == [None] else builtins.list(scopes)


__all__ = ["CacheAccess", "CachedType"]
