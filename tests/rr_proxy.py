"""A round-robin HTTP reverse proxy on loopback: each request goes to the next replica, as a Service without session
affinity would send it (kube-proxy balances connections; an L7 proxy or a mesh, requests — this is the harsher one).

Responses are streamed through chunk by chunk, so a `subscriptions/listen` SSE stream stays open on the replica that
took it. A replica that refuses the connection is skipped for that request (as a Service drops a dead endpoint).
`routes` records (replica index, JSON-RPC method, tool or resource name) for every forwarded request.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass
class Route:
    replica: int
    method: str | None
    name: str | None


@dataclass
class RoundRobinProxy:
    backends: Sequence[str]  # base URLs, e.g. http://127.0.0.1:8001
    url: str = ""
    routes: list[Route] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._next = itertools.cycle(range(len(self.backends)))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        method, name = _describe(body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        last_error: Exception | None = None
        for _ in range(len(self.backends)):
            index = next(self._next)
            target = self.backends[index] + request.rel_url.path_qs
            try:
                upstream = await self._session.request(
                    request.method, target, headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ClientConnectionError as exc:
                last_error = exc
                continue
            self.routes.append(Route(index, method, name))
            async with upstream:
                response = web.StreamResponse(status=upstream.status)
                for key, value in upstream.headers.items():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-encoding":
                        response.headers[key] = value
                try:
                    await response.prepare(request)
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                    await response.write_eof()
                except (aiohttp.ClientError, ConnectionResetError):
                    # One side went away mid-stream (the replica died, or the client left): cut the other side
                    # too, as a load balancer would.
                    if request.transport is not None:
                        request.transport.abort()
                return response
        return web.Response(status=502, text=f"no replica answered: {last_error}")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RoundRobinProxy]:
        async with aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)) as session:
            self._session = session
            app = web.Application(client_max_size=8 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            try:
                yield self
            finally:
                await runner.cleanup()


def _describe(body: bytes) -> tuple[str | None, str | None]:
    """The JSON-RPC method and the tool name or resource URI a request is about (None for anything else)."""
    try:
        message = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(message, dict):
        return None, None
    params = message.get("params") or {}
    return message.get("method"), params.get("name") or params.get("uri")
