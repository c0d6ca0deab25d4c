"""Who is calling over HTTP: bearer-token authentication and Host/Origin checks, as ASGI middleware, and the one way
an MCP HTTP listener is run (`serve`).

Every HTTP listener that serves MCP is wrapped in `guard()`: first the Host/Origin check (DNS-rebinding protection:
on a loopback bind only loopback names are accepted; anywhere, a browser's Origin must be the listener's own), then,
with --auth, the bearer token. A request without a valid token gets 401 with `WWW-Authenticate: Bearer` and never
reaches the MCP app; an accepted one carries its `policy.Caller` in the ASGI scope, where the server's caller
middleware picks it up for the policy gate (and, with --impersonate, for the Impersonate-* headers).

Authorities:
- `kubernetes`: a TokenReview per token (the cluster's own authenticators: ServiceAccount tokens, OIDC...), audiences
  configurable, verdicts cached briefly (mcp_k8s/kube/reviews.py).
- `token-file`: static tokens in kube-apiserver's --token-auth-file CSV form (`token,user,uid,"group1,group2"`),
  compared in constant time, re-read when the file changes.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio

from mcp_k8s import errors, heap
from mcp_k8s.kube.reviews import Reviews
from mcp_k8s.logging import get_logger
from mcp_k8s.policy import Caller
from mcp_k8s.settings import is_loopback

log = get_logger(__name__)

CALLER_KEY = "mcp_k8s.caller"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> tuple[Caller | None, str]:
        """The caller a token stands for, or None and why not (for the log; never the token)."""
        ...


class ClusterAuthenticator:
    """--auth kubernetes: the API server decides (TokenReview, cached)."""

    def __init__(self, reviews: Reviews) -> None:
        self._reviews = reviews

    async def authenticate(self, token: str) -> tuple[Caller | None, str]:
        verdict = await self._reviews.authenticate(token)
        return verdict.caller, verdict.reason


@dataclass(frozen=True)
class _Entry:
    token: bytes
    caller: Caller


class TokenFileAuthenticator:
    """--auth token-file PATH: static tokens, reloaded when the file's mtime or size changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._entries: list[_Entry] = []
        self._reload()
        if not self._entries:
            raise errors.NotConfigured(f"The token file {path} holds no tokens; add lines like `TOKEN,user`.")

    def _reload(self) -> None:
        try:
            stat = self._path.stat()
        except OSError as exc:
            if self._stamp is None:
                raise errors.NotConfigured(
                    f"Cannot read the token file {self._path} ({exc.strerror}); fix --auth-token-file."
                ) from None
            return  # mid-rotation: keep the tokens we have
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        self._entries = parse_token_file(self._path.read_text())
        self._stamp = stamp
        log.info("token file loaded", path=str(self._path), tokens=len(self._entries))

    async def authenticate(self, token: str) -> tuple[Caller | None, str]:
        self._reload()
        given = token.encode()
        found: Caller | None = None
        for entry in self._entries:  # no early exit: the time taken does not depend on which entry matched
            if hmac.compare_digest(entry.token, given):
                found = entry.caller
        return found, "" if found else "the token is not in the token file"


def parse_token_file(text: str) -> list[_Entry]:
    """kube-apiserver's static token CSV: token,user[,uid[,"group1,group2"]]; `#` comments and blank lines skipped."""
    out: list[_Entry] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[1].strip():
            continue  # a token without a user cannot be named in the audit log
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        caller = Caller(user=row[1].strip(), uid=(row[2].strip() or None) if len(row) > 2 else None, groups=groups)
        out.append(_Entry(token=row[0].strip().encode(), caller=caller))
    return out


def guard(app: ASGIApp, *, bind_host: str, authenticator: Authenticator | None) -> ASGIApp:
    """Wrap an ASGI app: Host/Origin checks, then (with an authenticator) bearer tokens."""
    loopback = is_loopback(bind_host)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        problem = host_origin_problem(headers, loopback)
        if problem:
            await _reply(send, 403, {"error": problem})
            return
        if authenticator is not None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await _reply(
                    send, 401, {"error": "Send Authorization: Bearer <token>."}, challenge='Bearer realm="mcp-k8s"'
                )
                return
            try:
                caller, reason = await authenticator.authenticate(token.strip())
            except errors.K8sError as exc:
                log.warning("authentication unavailable", error=exc.message)
                await _reply(send, 503, {"error": "The cluster could not verify the token right now; retry shortly."})
                return
            if caller is None:
                log.info("authentication refused", reason=reason, path=scope.get("path"))
                await _reply(
                    send,
                    401,
                    {"error": "The bearer token was not accepted."},
                    challenge='Bearer realm="mcp-k8s", error="invalid_token"',
                )
                return
            scope[CALLER_KEY] = caller
        await app(scope, receive, send)

    return guarded


def host_origin_problem(headers: dict[str, str], loopback: bool) -> str | None:
    """Why a request's Host/Origin is refused (None when fine): DNS-rebinding protection for every listener."""
    host = headers.get("host", "")
    if loopback:
        name = urlsplit(f"//{host}").hostname or ""
        if not is_loopback(name):
            return "This server listens on loopback and accepts only loopback Host names."
    origin = headers.get("origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if loopback:
            if not is_loopback(parts.hostname or ""):
                return "Cross-origin requests are refused."
        elif parts.netloc.lower() != host.lower():
            return "Cross-origin requests are refused."
    return None


async def _reply(send: Send, status: int, body: dict[str, str], *, challenge: str | None = None) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


# Idle keep-alive on the MCP listener. Longer than clients' and load balancers' own idle timeouts (httpx 5 s, cloud
# load balancers 60 s): when the server closes first, a request already sent on that connection fails with a reset.
HTTP_KEEP_ALIVE_SECONDS = 75


async def serve(app: ASGIApp, host: str, port: int) -> None:
    """Run a guarded ASGI app with uvicorn until cancelled, then shut it down gracefully (open streams closed, the
    app's lifespan exited) within a few seconds. Signals stay with whoever runs us."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        lifespan="on",
        timeout_keep_alive=HTTP_KEEP_ALIVE_SECONDS,
        # An access line per request only at debug level: every tool call is logged by the tool boundary (with the
        # caller), and refused requests by `guard`; a second line per request cost as much as the call's own.
        access_log=logging.getLogger().isEnabledFor(logging.DEBUG),
    )
    server = uvicorn.Server(config)
    stopped = anyio.Event()

    async def run() -> None:
        try:
            await server._serve()  # serve() would install its own SIGINT/SIGTERM handlers
        finally:
            stopped.set()

    log.info("serving MCP over streamable HTTP", host=host, port=port)
    async with anyio.create_task_group() as tg:
        heap.freeze()
        tg.start_soon(run)
        try:
            await anyio.sleep_forever()
        finally:
            server.should_exit = True
            with anyio.move_on_after(5, shield=True):
                await stopped.wait()
            tg.cancel_scope.cancel()
