"""`mcp-k8s watch`: the watcher daemon — the watch cache on its own, a JSON event stream, health and metrics.

stdout carries one JSON object per line: every change the cache applies (`"event": "change"`) and every status
transition of a watched type (`"event": "status"`), so a shell pipeline or a log shipper can follow the cluster.
`--health-port` serves /healthz (the process is up), /readyz (every watched type has synced; 503 with the details
otherwise) and /metrics (Prometheus text) on 127.0.0.1. `--http HOST:PORT` also serves MCP over streamable HTTP on the
same cache (the CLI passes the app in, so this module stays free of the MCP server).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import anyio
import anyio.abc

from mcp_k8s import auth, errors
from mcp_k8s.cache.manager import CacheManager, WatchedType
from mcp_k8s.cache.store import Change, Status, Store
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.logging import get_logger
from mcp_k8s.settings import Settings, is_loopback

log = get_logger(__name__)

AppFactory = Callable[["DaemonState"], Any]  # DaemonState -> ASGI app


@dataclass
class DaemonState:
    """What the daemon owns and an embedded MCP HTTP server may share."""

    settings: Settings
    kube: KubeClient
    discovery: Discovery
    cache: CacheManager
    started: float = field(default_factory=time.monotonic)
    resolved: dict[str, ResourceType] = field(default_factory=dict)

    @property
    def pending(self) -> list[str]:
        return [spec for spec in self.settings.watch if spec not in self.resolved]


class EventWriter:
    """JSON lines on stdout; a closed pipe (e.g. `| head`) ends the stream, not the daemon."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.closed = False

    def write(self, record: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self.closed = True
            log.warning("the event stream's reader went away; events are no longer written")


def change_record(rt: ResourceType, change: Change) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event": "change",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(change.wall)),
        "resource": rt.display,
        "type": change.type.value,
        "namespace": change.namespace or None,
        "name": change.name,
        "resourceVersion": change.resource_version,
    }
    if change.synthetic:
        record["inferred"] = True
    return record


async def follow(rt: ResourceType, store: Store, writer: EventWriter) -> None:
    """Stream one store's changes and status transitions until cancelled."""
    last_status: Status | None = None

    async def statuses() -> None:
        nonlocal last_status
        while True:
            status = store.status
            if status != last_status:
                last_status = status
                writer.write(
                    {
                        "event": "status",
                        "resource": rt.display,
                        "status": status.value,
                        "synced": store.synced,
                        "objects": len(store),
                        "error": store.last_error,
                    }
                )
            await store.wait_status(*(s for s in Status if s != status), timeout=30)

    async with anyio.create_task_group() as tg:
        tg.start_soon(statuses)
        while True:
            with store.subscribe() as changes:
                try:
                    async for change in changes:
                        writer.write(change_record(rt, change))
                except Exception as exc:  # overflow: the store moved on faster than stdout drained
                    log.warning("event stream fell behind; resubscribing", resource=rt.display, error=str(exc))
                    continue
            return  # the store closed: shutdown


async def resolve_watched(state: DaemonState, writer: EventWriter, tg: anyio.abc.TaskGroup) -> None:
    """Follow each --watch type once discovery serves it (retrying with backoff while the cluster or a CRD is
    missing)."""

    async def start(name: str, rt: ResourceType) -> None:
        store = await state.cache.ensure(rt, namespaces=list(state.settings.allowed_namespaces) or None)
        state.resolved[name] = rt
        tg.start_soon(follow, rt, store, writer)

    await state.discovery.resolve_when_served(state.settings.watch, start)


# --- health and metrics ---------------------------------------------------------------------------------------------


def readiness(state: DaemonState) -> tuple[bool, dict[str, Any]]:
    watched = {w.resource_type.display: w.info().as_dict() for w in state.cache.watched()}
    ready = not state.pending and all(info["synced"] for info in watched.values())
    return ready, {"ready": ready, "pending": state.pending, "types": watched}


def metrics(state: DaemonState) -> str:
    """Prometheus text exposition of the cache's state and counters."""
    lines = [
        "# HELP mcp_k8s_cache_objects Objects held by the watch cache.",
        "# TYPE mcp_k8s_cache_objects gauge",
    ]
    watched: list[WatchedType] = state.cache.watched()
    for w in watched:
        lines.append(f'mcp_k8s_cache_objects{{resource="{w.resource_type.display}"}} {len(w.store)}')
    lines += [
        "# HELP mcp_k8s_cache_synced 1 once the type has completed a full LIST.",
        "# TYPE mcp_k8s_cache_synced gauge",
    ]
    for w in watched:
        lines.append(f'mcp_k8s_cache_synced{{resource="{w.resource_type.display}"}} {int(w.store.synced)}')
    lines += ["# HELP mcp_k8s_cache_status 1 for the type's current status.", "# TYPE mcp_k8s_cache_status gauge"]
    for w in watched:
        for status in Status:
            value = int(w.store.status == status)
            lines.append(
                f'mcp_k8s_cache_status{{resource="{w.resource_type.display}",status="{status.value}"}} {value}'
            )
    lines += [
        "# HELP mcp_k8s_cache_stale_seconds Seconds since the watch was last live (0 when live).",
        "# TYPE mcp_k8s_cache_stale_seconds gauge",
    ]
    for w in watched:
        lines.append(
            f'mcp_k8s_cache_stale_seconds{{resource="{w.resource_type.display}"}} {w.store.stale_seconds or 0:.3f}'
        )
    lines += [
        "# HELP mcp_k8s_cache_watches_active WATCH requests open to the API server now (one per type and namespace"
        " shard, shared by every client).",
        "# TYPE mcp_k8s_cache_watches_active gauge",
    ]
    for w in watched:
        lines.append(
            f'mcp_k8s_cache_watches_active{{resource="{w.resource_type.display}"}} {w.store.stats().watches_open}'
        )
    counters = (
        ("mcp_k8s_cache_events_total", "Watch events applied, by type.", "events", "type"),
        ("mcp_k8s_cache_lists_total", "Completed LISTs, by reason.", "lists", "reason"),
        (
            "mcp_k8s_cache_watch_restarts_total",
            "Watch restarts, by why the previous watch ended.",
            "watch_restarts",
            "reason",
        ),
    )
    for metric, help_text, attribute, label in counters:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        for w in watched:
            for key, count in sorted(getattr(w.store.stats(), attribute).items()):
                lines.append(f'{metric}{{resource="{w.resource_type.display}",{label}="{key}"}} {count}')
    lines += [
        "# HELP mcp_k8s_uptime_seconds Seconds since the daemon started.",
        "# TYPE mcp_k8s_uptime_seconds gauge",
        f"mcp_k8s_uptime_seconds {time.monotonic() - state.started:.1f}",
    ]
    return "\n".join(lines) + "\n"


async def serve_health(state: DaemonState, port: int, *, task_status: anyio.abc.TaskStatus[int]) -> None:
    """A minimal HTTP/1.1 responder for probes: three GET endpoints need no web framework, and serve no MCP, so
    this listener may bind the pod IP (the kubelet cannot reach 127.0.0.1 inside a pod) without exposing tools."""
    host = state.settings.health_host
    listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio typed attribute, not Django)
    log.info("health endpoints listening", address=f"{host}:{bound}")
    task_status.started(bound)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            with anyio.move_on_after(10):
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 8192:
                    chunk = await stream.receive(4096)
                    if not chunk:
                        return
                    request += chunk
                first, *header_lines = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                line = first.split()
                path = line[1].split("?", 1)[0] if len(line) >= 2 else "/"
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
                if auth.host_origin_problem(headers, loopback=is_loopback(host)):  # DNS rebinding, as on MCP
                    status, content_type, body = "403 Forbidden", "text/plain", b"foreign Host or Origin\n"
                else:
                    status, content_type, body = _route(state, line[0] if line else "", path)
                head = (
                    f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n"
                )
                await stream.send(head.encode() + body)

    await listener.serve(handle)


def _route(state: DaemonState, method: str, path: str) -> tuple[str, str, bytes]:
    if method != "GET":
        return "405 Method Not Allowed", "text/plain", b"only GET\n"
    if path == "/healthz":
        return "200 OK", "text/plain", b"ok\n"
    if path == "/readyz":
        ready, detail = readiness(state)
        return ("200 OK" if ready else "503 Service Unavailable"), "application/json", json.dumps(detail).encode()
    if path == "/metrics":
        return "200 OK", "text/plain; version=0.0.4", metrics(state).encode()
    return "404 Not Found", "text/plain", b"try /healthz, /readyz or /metrics\n"


async def run_daemon(settings: Settings, mcp_app: AppFactory | None = None) -> None:
    """Run until SIGINT/SIGTERM, then stop every reflector and close the client."""
    if not settings.watch:
        raise errors.InvalidInput("mcp-k8s watch needs at least one --watch RESOURCE (e.g. widgets.example.com/v1).")
    writer = EventWriter(sys.stdout)
    kube = KubeClient(settings)
    try:
        async with CacheManager(kube) as cache, anyio.create_task_group() as tg:
            state = DaemonState(settings=settings, kube=kube, discovery=Discovery(kube), cache=cache)
            if settings.health_port is not None:
                await tg.start(serve_health, state, settings.health_port)
            if settings.http_address and mcp_app is not None:
                host, _, port = settings.http_address.rpartition(":")
                tg.start_soon(auth.serve, mcp_app(state), host or "127.0.0.1", int(port))
            tg.start_soon(resolve_watched, state, writer, tg)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    log.info("stopping", signal=signal.Signals(signum).name)
                    break
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await kube.aclose()
