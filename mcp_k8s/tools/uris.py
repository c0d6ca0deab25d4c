"""MCP resources: every object of a watched type at a `k8s://` URI, readable and subscribable in both protocol eras.

    k8s://{group}/{version}/{plural}/{namespace}/{name}     namespaced objects
    k8s://{group}/{version}/{plural}/{name}                 cluster-scoped objects   (group "core" = the core group)

Reads go through the same cache-first path as get_custom_resource, and so through the same policy gate; subscribing
or listening is authorized as a watch of that object for the caller before anything is attached. Updates come from
the watch cache: a listener on each store turns changes into URIs, a debouncer coalesces bursts (a controller that
rewrites an object ten times in 50 ms produces one notification), and each URI goes to 2025-era sessions that called
`resources/subscribe` and onto the 2026-07-28 `subscriptions/listen` bus. Subscribing to or listening for a URI
starts watching its type, so updates flow even for a type nobody has read yet.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.subscriptions import ListenHandler, ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from mcp_k8s import errors
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import Change
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.logging import get_logger, scrub
from mcp_k8s.tools import hints, reading
from mcp_k8s.tools.base import AppState

log = get_logger(__name__)

SCHEME = "k8s"
CORE = "core"
NAMESPACED_TEMPLATE = "k8s://{group}/{version}/{plural}/{namespace}/{name}"
CLUSTER_TEMPLATE = "k8s://{group}/{version}/{plural}/{name}"
DEBOUNCE_SECONDS = 0.1
_QUEUE = 10_000


def uri_for(rt: ResourceType, namespace: str | None, name: str) -> str:
    group = rt.group or CORE
    if rt.namespaced and namespace:
        return f"{SCHEME}://{group}/{rt.version}/{rt.plural}/{namespace}/{name}"
    return f"{SCHEME}://{group}/{rt.version}/{rt.plural}/{name}"


def parse_uri(uri: str) -> tuple[str, str, str, str | None, str]:
    """(group, version, plural, namespace, name) from a k8s:// URI; InvalidInput for anything else."""
    parts = urlsplit(uri)
    segments = [unquote(p) for p in [parts.netloc, *parts.path.split("/")[1:]]]
    if parts.scheme != SCHEME or len(segments) not in (4, 5) or not all(segments):
        raise errors.InvalidInput(
            f"{uri[:200]!r} is not a k8s:// object URI; use "
            "k8s://{group}/{version}/{plural}/{namespace}/{name} (no namespace for cluster-scoped types; "
            "the core group is 'core')."
        )
    group = "" if segments[0] == CORE else segments[0]
    if len(segments) == 5:
        return group, segments[1], segments[2], segments[3], segments[4]
    return group, segments[1], segments[2], None, segments[3]


async def _resolve(state: AppState, uri: str) -> tuple[ResourceType, str | None, str]:
    group, version, plural, namespace, name = parse_uri(uri)
    rt = await state.discovery.resolve(plural, group=group, version=version)
    if rt.namespaced and namespace is None:
        raise errors.InvalidInput(f"{rt.display} is namespaced; its URIs name a namespace: {uri_for(rt, 'NS', name)}.")
    if not rt.namespaced and namespace is not None:
        raise errors.InvalidInput(
            f"{rt.display} is cluster-scoped; its URIs have no namespace: {uri_for(rt, None, name)}."
        )
    ns = await state.namespace(namespace) if rt.namespaced else None
    return rt, ns, name


class SubscriptionHub:
    """Fans cache changes out to subscribers of either era, debounced. One per server lifespan."""

    def __init__(self, bus: SubscriptionBus, manager: CacheManager) -> None:
        self._bus = bus
        self._manager = manager  # the raw stores: the hub is the server's own consumer, not a tool
        self._legacy: dict[str, dict[int, Any]] = {}  # uri -> {connection id: session}
        self._attached: set[int] = set()
        self._send: MemoryObjectSendStream[str]
        self._receive: MemoryObjectReceiveStream[str]
        self._send, self._receive = anyio.create_memory_object_stream[str](_QUEUE)
        self.dropped = 0

    def attach(self, rt: ResourceType) -> None:
        """Listen to the changes of a watched type's store (once per store). Callers authorize first."""
        store = self._manager.get(rt)
        if store is None or id(store) in self._attached:
            return
        self._attached.add(id(store))

        def on_change(change: Change) -> None:
            try:
                self._send.send_nowait(uri_for(rt, change.namespace or None, change.name))
            except anyio.WouldBlock:
                self.dropped += 1  # a flood: those URIs' subscribers get the next change instead

        store.add_listener(on_change)

    def subscribe(self, uri: str, session: Any) -> None:
        self._legacy.setdefault(uri, {})[_connection_id(session)] = session

    def unsubscribe(self, uri: str, session: Any) -> None:
        self._legacy.get(uri, {}).pop(_connection_id(session), None)

    async def run(self) -> None:
        """Coalesce URIs for DEBOUNCE_SECONDS after the first, then notify each once."""
        async with self._receive:
            async for first in self._receive:
                pending = {first}
                with anyio.move_on_after(DEBOUNCE_SECONDS):
                    async for uri in self._receive:
                        pending.add(uri)
                for uri in sorted(pending):
                    await self._notify(uri)

    async def _notify(self, uri: str) -> None:
        await self._bus.publish(ResourceUpdated(uri=uri))
        for key, session in list(self._legacy.get(uri, {}).items()):
            try:
                await session.send_resource_updated(uri)
            except Exception:  # the client went away: forget its subscriptions
                log.debug("dropping a closed resource subscription", uri=uri)
                self._legacy.get(uri, {}).pop(key, None)

    def close(self) -> None:
        self._send.close()


def _connection_id(session: Any) -> int:
    """Sessions are per request; the connection behind them identifies a subscriber."""
    return id(getattr(session, "_connection", session))


async def watch_uri(state: AppState, uri: str) -> None:
    """Authorize a watch of the object behind `uri` for this caller, make sure its type is watched, and let its
    changes reach the hub."""
    rt, ns, name = await _resolve(state, uri)
    store = await reading.watch_type(state, rt)
    if store is not None:
        await store.authorize("watch", ns, name)
        state.subscriptions.attach(rt)


async def read_resource(uri: str, state: AppState) -> str:
    """The object as JSON; a refusal or bad URI is invalid params (-32602) with our one sentence."""
    try:
        rt, ns, name = await _resolve(state, uri)
        if await reading.watch_type(state, rt) is not None:
            state.subscriptions.attach(rt)
        obj = (await reading.read_object(state, rt, ns, name)).object
    except errors.NotFound as exc:
        raise ResourceNotFoundError(hints.sentence(exc)) from None
    except (errors.NotAllowed, errors.Forbidden, errors.InvalidInput) as exc:
        raise MCPError(INVALID_PARAMS, scrub(hints.sentence(exc)), {"uri": uri[:500]}) from None
    except errors.K8sError as exc:
        raise ResourceError(scrub(hints.sentence(exc))) from None
    return scrub(json.dumps(obj, separators=(",", ":")))


async def read_namespaced(
    group: str, version: str, plural: str, namespace: str, name: str, ctx: Context[Any, Any]
) -> str:
    """A namespaced Kubernetes object as JSON (from the watch cache when it can answer)."""
    state: AppState = ctx.request_context.lifespan_context
    return await read_resource(f"{SCHEME}://{group}/{version}/{plural}/{namespace}/{name}", state)


async def read_cluster_scoped(group: str, version: str, plural: str, name: str, ctx: Context[Any, Any]) -> str:
    """A cluster-scoped Kubernetes object as JSON (from the watch cache when it can answer)."""
    state: AppState = ctx.request_context.lifespan_context
    return await read_resource(f"{SCHEME}://{group}/{version}/{plural}/{name}", state)


async def on_subscribe(ctx: ServerRequestContext[AppState, Any], params: SubscribeRequestParams) -> EmptyResult:
    """2025-11-25 `resources/subscribe`: remember the session, start watching the URI's type."""
    state = ctx.lifespan_context
    try:
        await watch_uri(state, str(params.uri))
    except errors.K8sError as exc:
        raise MCPError(INVALID_PARAMS, hints.sentence(exc), {"uri": str(params.uri)}) from None
    state.subscriptions.subscribe(str(params.uri), ctx.session)
    return EmptyResult()


async def on_unsubscribe(ctx: ServerRequestContext[AppState, Any], params: UnsubscribeRequestParams) -> EmptyResult:
    ctx.lifespan_context.subscriptions.unsubscribe(str(params.uri), ctx.session)
    return EmptyResult()


class WatchingListenHandler:
    """2026-07-28 `subscriptions/listen`: start watching each requested URI's type, then serve the SDK's stream."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self._inner = ListenHandler(bus)

    async def __call__(
        self, ctx: ServerRequestContext[AppState, Any], params: SubscriptionsListenRequestParams
    ) -> SubscriptionsListenResult:
        for uri in params.notifications.resource_subscriptions or ():
            try:
                await watch_uri(ctx.lifespan_context, str(uri))
            except errors.K8sError as exc:
                raise MCPError(INVALID_PARAMS, hints.sentence(exc), {"uri": str(uri)}) from None
        return await self._inner(ctx, params)

    def close(self) -> None:
        self._inner.close()
