"""The MCP server: lifespan (kube client, discovery, watch cache), the registered toolsets, and the transports.

One `MCPServer` serves both protocol eras (2025-11-25 with `initialize`, and the stateless 2026-07-28) over stdio or
streamable HTTP. Startup never touches the cluster: the client loads lazily, and types named by --watch start their
reflectors in the background, so an unreachable cluster shows up as a clear tool error rather than a hung start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import (
    CallToolResult,
    InputRequiredResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from mcp.types import Tool as MCPTool
from pydantic import ValidationError

from mcp_k8s import __version__, auth, heap, policy
from mcp_k8s.cache.access import CacheAccess
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.kube.reviews import Reviews
from mcp_k8s.logging import get_logger
from mcp_k8s.settings import Settings, is_loopback
from mcp_k8s.tools import cluster, core, custom_resources, reading, schema, secrets, uris, watching
from mcp_k8s.tools.base import AppState, ToolSpec, describe_argument_errors, select

log = get_logger(__name__)

INSTRUCTIONS = """\
mcp-k8s manages Kubernetes custom resources and secrets and reads pods, logs, events and services.
- Resource types accept a plural, singular, kind or short name (widgets, Widget, wg), optionally with a group.
- Lists return summaries by default (view=full for whole objects) and say when they were cut; follow continue_token.
- Reads of watched types come from a live watch cache (source=cache, with resourceVersion and staleness).
- Secret values are never returned unless the server was started with --allow-secret-values; generated values
  stay in the cluster.
- Deletes ask the user to confirm when the client supports it; otherwise they need force=true.
"""


async def watch_configured_types(state: AppState) -> None:
    """Start the reflectors for --watch types. Runs in the background so an unreachable cluster never delays
    start-up; a type not served yet is retried with backoff (a CRD may be installed after the server starts)."""

    async def start(_name: str, rt: ResourceType) -> None:
        await reading.watch_type(state, rt)

    await state.discovery.resolve_when_served(state.settings.watch, start)


def all_toolsets() -> list[ToolSpec]:
    return [*custom_resources.TOOLS, *watching.TOOLS, *secrets.TOOLS, *core.TOOLS, *cluster.TOOLS]


class KubernetesMCPServer(MCPServer[AppState]):
    """MCPServer whose tools/list is written for a model (tools/schema.py) and whose argument-validation errors are
    one readable sentence without the rejected values."""

    _listed: list[MCPTool] | None = None

    async def list_tools(self) -> list[MCPTool]:
        if self._listed is None:  # tools are registered once, at build time: compact them once
            self._listed = [
                tool.model_copy(
                    update={
                        "description": schema.describe(tool.description),
                        "input_schema": schema.compact_input(tool.input_schema),
                        "output_schema": schema.compact_output(tool.output_schema),
                        "annotations": _lean_annotations(tool.annotations),
                    }
                )
                for tool in await super().list_tools()
            ]
        return self._listed

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                message = describe_argument_errors(exc.__cause__)
                raise ToolError(f"Error executing tool {name}: {message}") from exc.__cause__
            raise


def _lean_annotations(annotations: ToolAnnotations | None) -> ToolAnnotations | None:
    """Hints without a second title or the defaults a reader cannot misread (readOnly false, idempotent false);
    destructive is always said for a tool that writes, since its default (true) surprises people."""
    if annotations is None:
        return None
    return ToolAnnotations(
        read_only_hint=annotations.read_only_hint or None,
        destructive_hint=None if annotations.read_only_hint else bool(annotations.destructive_hint),
        idempotent_hint=annotations.idempotent_hint or None,
        open_world_hint=annotations.open_world_hint,
    )


@dataclass(frozen=True)
class Shared:
    """Parts owned by someone else (the watcher daemon) that the server uses instead of creating its own."""

    kube: KubeClient
    discovery: Discovery
    cache: CacheManager


async def caller_scope(ctx: Any, call_next: Any) -> Any:
    """Every MCP message over HTTP runs as the caller its bearer token named (auth.guard put it in the ASGI
    scope), so the policy gate and --impersonate see who asked, in tools, resource reads and subscriptions alike."""
    request = getattr(ctx, "request", None)
    caller = getattr(request, "scope", {}).get(auth.CALLER_KEY) if request is not None else None
    if caller is None:
        return await call_next(ctx)
    with policy.acting(caller=caller):
        return await call_next(ctx)


class KubernetesServer:
    """The MCP server plus what its HTTP face needs: the shared kube client and the reviews that authenticate."""

    def __init__(
        self,
        settings: Settings,
        *,
        shared: Shared | None = None,
        cluster_ready: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """`cluster_ready` is awaited before the first Kubernetes request (see KubeClient)."""
        self.settings = settings
        self.kube = shared.kube if shared is not None else KubeClient(settings, cluster_ready=cluster_ready)
        self.reviews = Reviews(self.kube, audiences=settings.auth_audiences)
        self.mcp = _build_mcp(settings, self.kube, self.reviews, shared)

    def authenticator(self) -> auth.Authenticator | None:
        if self.settings.auth == "kubernetes":
            return auth.ClusterAuthenticator(self.reviews)
        if self.settings.auth == "token-file":
            assert self.settings.auth_token_file is not None
            return auth.TokenFileAuthenticator(self.settings.auth_token_file)
        return None

    def http_app(self, bind_host: str) -> Any:
        """Streamable HTTP behind the Host/Origin guard and (with --auth) bearer authentication."""
        app = self.mcp.streamable_http_app(transport_security=_NO_SDK_GUARD, host=bind_host)
        if self.settings.insecure_no_auth and not is_loopback(bind_host):
            log.warning(
                "serving MCP without authentication on a non-loopback address (--insecure-no-auth): anyone who "
                "reaches it acts with this server's cluster credentials",
                host=bind_host,
            )
        return auth.guard(app, bind_host=bind_host, authenticator=self.authenticator())


# Our own guard (auth.guard) checks Host and Origin on every bind, loopback or not; the SDK's would only cover
# loopback and would reject the pod IP a Service forwards to.
_NO_SDK_GUARD = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def build_server(settings: Settings, *, shared: Shared | None = None) -> MCPServer[AppState]:
    """The MCPServer with its lifespan and the tools this configuration allows."""
    return KubernetesServer(settings, shared=shared).mcp


def _build_mcp(settings: Settings, kube: KubeClient, reviews: Reviews, shared: Shared | None) -> MCPServer[AppState]:
    @asynccontextmanager
    async def serve_state(discovery: Discovery, cache_manager: CacheManager) -> AsyncIterator[AppState]:
        async with anyio.create_task_group() as tg:
            hub = uris.SubscriptionHub(bus, cache_manager)
            access = CacheAccess(cache_manager, kube.policy, reviews if settings.impersonate else None)
            state = AppState(settings=settings, kube=kube, discovery=discovery, cache=access, subscriptions=hub)
            tg.start_soon(hub.run)
            if settings.watch and shared is None:
                tg.start_soon(watch_configured_types, state)
            yield state
            listen.close()
            hub.close()
            tg.cancel_scope.cancel()

    @asynccontextmanager
    async def lifespan(_server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if shared is not None:
            async with serve_state(shared.discovery, shared.cache) as state:
                yield state
            return
        try:
            async with CacheManager(kube) as cache_manager, serve_state(Discovery(kube), cache_manager) as state:
                yield state
        finally:
            with anyio.CancelScope(shield=True):
                await kube.aclose()

    bus = InMemorySubscriptionBus()
    listen = uris.WatchingListenHandler(bus)
    server = KubernetesMCPServer(
        "mcp-k8s",
        title="Kubernetes (mcp-k8s)",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        subscriptions=bus,
        middleware=[caller_scope],
    )
    for tool in select(all_toolsets(), settings):
        server.add_tool(tool.fn, name=tool.name, title=tool.title, annotations=tool.annotations)
    _add_resources(server, listen)
    return server


def _add_resources(server: MCPServer[AppState], listen: uris.WatchingListenHandler) -> None:
    """k8s:// object resources and their subscriptions."""
    server.resource(
        uris.NAMESPACED_TEMPLATE,
        name="namespaced-object",
        mime_type="application/json",
        description="A namespaced Kubernetes object (group 'core' for the core group), from the watch cache",
    )(uris.read_namespaced)
    server.resource(
        uris.CLUSTER_TEMPLATE,
        name="cluster-object",
        mime_type="application/json",
        description="A cluster-scoped Kubernetes object (group 'core' for the core group), from the watch cache",
    )(uris.read_cluster_scoped)
    # Subscriptions in both eras: 2025-11-25 resources/subscribe (MCPServer has no handler of its own) and the
    # 2026-07-28 listen stream, wrapped so that listening for a URI starts watching its type.
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, uris.on_subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, uris.on_unsubscribe)
    lowlevel.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)


async def run_server(settings: Settings, environ: Mapping[str, str]) -> None:
    """Serve until the transport closes. With --sandbox, a local cluster starts beside the server for its lifetime:
    MCP answers at once, and the first Kubernetes request waits until the cluster is ready."""
    if not settings.sandbox:
        await _serve(settings)
        return
    from mcp_k8s import sandbox  # the PKI and process code loads only for --sandbox

    async with sandbox.background_sandbox(environ, demo=settings.demo) as local:
        served = settings.model_copy(update={"kubeconfig": local.kubeconfig, "context": None, "sandbox": False})
        await _serve(served, cluster_ready=local.wait_ready)


async def _serve(settings: Settings, *, cluster_ready: Callable[[], Awaitable[object]] | None = None) -> None:
    server = KubernetesServer(settings, cluster_ready=cluster_ready)
    if settings.transport == "http":
        await auth.serve(server.http_app(settings.host), settings.host, settings.port)
    else:
        heap.freeze()
        await server.mcp.run_stdio_async()
