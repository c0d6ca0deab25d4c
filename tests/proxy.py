"""A loopback TCP forwarder with fault controls, for watch-cache tests against the real API server.

TLS passes through untouched (the apiserver's certificate names 127.0.0.1, so a kubeconfig pointed at the proxy
still verifies). Controls act on connections, which is all a client can observe of a network fault:

- `drop()`            cut every open connection now (RST), as a load balancer or NAT reset would;
- `stall()`/`resume()` stop/restart forwarding on the connections open now, keeping them open (a half-dead link);
                       connections opened later flow normally, so a client that gives up and reconnects recovers;
- `stall_new = True`   new connections start stalled (a link that hangs from the first byte);
- `reject(True)`       close new connections as soon as they are accepted (the server is unreachable);
- `truncate_next(n)`   forward only the next n bytes from the server, then cut that connection: with an event that
                       spans several TLS records, the client holds part of a JSON line when the stream breaks.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
import anyio.abc
from anyio.abc import SocketAttribute


@dataclass(eq=False)
class _Connection:
    client: anyio.abc.SocketStream
    server: anyio.abc.SocketStream
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    flowing: anyio.Event = field(default_factory=anyio.Event)
    stalled: bool = False

    def __post_init__(self) -> None:
        self.flowing.set()

    async def gate(self) -> None:
        while self.stalled:
            await self.flowing.wait()

    def stall(self) -> None:
        self.stalled = True
        self.flowing = anyio.Event()

    def resume(self) -> None:
        self.stalled = False
        self.flowing.set()

    def abort(self) -> None:
        """RST both sides: no orderly FIN, like a dropped network path."""
        for stream in (self.client, self.server):
            with suppress(Exception):
                sock = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 (anyio, not Django)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.scope.cancel()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self._connections: set[_Connection] = set()
        self._rejecting = False
        self._truncate: int | None = None
        self.stall_new = False  # new connections start stalled (a link that hangs from the first byte)
        self._accepted_event = anyio.Event()

    # --- controls ---------------------------------------------------------------------------------------------

    def drop(self) -> int:
        """Cut every open connection; returns how many there were."""
        connections = list(self._connections)
        for conn in connections:
            conn.abort()
        return len(connections)

    def stall(self) -> int:
        for conn in self._connections:
            conn.stall()
        return len(self._connections)

    def resume(self) -> None:
        for conn in self._connections:
            conn.resume()

    def reject(self, on: bool = True) -> None:
        self._rejecting = on

    def truncate_next(self, nbytes: int) -> None:
        self._truncate = nbytes

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    # --- plumbing ---------------------------------------------------------------------------------------------

    async def _pump(
        self, conn: _Connection, src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream, down: bool
    ) -> None:
        try:
            while True:
                data = await src.receive()
                await conn.gate()
                if down and self._truncate is not None:
                    budget = self._truncate
                    if len(data) >= budget:
                        self._truncate = None
                        if budget:
                            await dst.send(data[:budget])
                        conn.abort()
                        return
                    self._truncate = budget - len(data)
                await dst.send(data)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            conn.scope.cancel()

    async def wait_accepted(self, count: int = 1) -> None:
        """Wait until `count` connections have been accepted in total."""
        while self.accepted < count:
            await self._accepted_event.wait()

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        self.accepted += 1
        self._accepted_event.set()
        self._accepted_event = anyio.Event()
        if self._rejecting:
            await client.aclose()
            return
        try:
            server = await anyio.connect_tcp(self.target_host, self.target_port)
        except OSError:
            await client.aclose()
            return
        conn = _Connection(client, server)
        if self.stall_new:
            conn.stall()
        self._connections.add(conn)
        try:
            with conn.scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._pump, conn, client, server, False)
                    tg.start_soon(self._pump, conn, server, client, True)
        finally:
            self._connections.discard(conn)
            with anyio.CancelScope(shield=True):
                for stream in (client, server):
                    with suppress(Exception):
                        await stream.aclose()


@asynccontextmanager
async def tcp_proxy(target_host: str, target_port: int) -> AsyncIterator[TcpProxy]:
    """Run a proxy on a free loopback port until the block exits (all connections are closed then)."""
    proxy = TcpProxy(target_host, target_port)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    proxy.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, proxy._handle)
            try:
                yield proxy
            finally:
                tg.cancel_scope.cancel()
                proxy.drop()
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
