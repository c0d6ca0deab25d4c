"""A scripted fake kube-apiserver for one custom resource type, on loopback HTTP, for reflector unit tests.

The real server cannot produce every fault on demand (an in-stream 500, a 504 too-large, a 429 with
retryAfterSeconds, garbage lines, a 410 on a continue page), so these tests script them. LIST is served from
`objects` with real pagination; each WATCH request takes the next script from `watches` (or hangs, like an idle
watch). Every request is recorded in `seen`, and tests await `wait_for(kind, count)` instead of sleeping.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web

from mcp_k8s.kube.discovery import ResourceType

WIDGETS = ResourceType(group="example.com", version="v1", plural="widgets", kind="Widget", namespaced=True)
BASE = "/apis/example.com/v1"


class Clock:
    """A clock the test moves by hand (`clock.now += 5`), for stores and reflectors that take one."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def widget(name: str, namespace: str = "ns", rv: int | str = 1, *, uid: str | None = None, **labels: str) -> Any:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "resourceVersion": str(rv),
        "uid": uid or f"uid-{namespace}-{name}",
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
    }
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": {"size": 1}}


def status(code: int, reason: str, message: str = "", **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message or reason,
    }
    if details:
        body["details"] = details
    return body


def line(event_type: str, obj: Any) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode() + b"\n"


def bookmark(rv: int) -> bytes:
    return line(
        "BOOKMARK", {"kind": "Widget", "apiVersion": "example.com/v1", "metadata": {"resourceVersion": str(rv)}}
    )


def error_event(code: int, reason: str, message: str = "", **details: Any) -> bytes:
    return line("ERROR", status(code, reason, message, **details))


@dataclass
class Http:
    """Answer the request with this status and body instead of streaming."""

    code: int
    body: bytes | str | dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Sleep(float):
    """Pause the stream this many seconds."""


ABORT = "abort"  # cut the TCP connection now (mid-stream drop)
HANG = "hang"  # keep the stream open and silent until the client goes away


@dataclass
class Seen:
    kind: str  # list | watch | discovery | get
    query: dict[str, str]
    at: float


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}
        self.rv = 100
        self.watches: list[list[Any] | Http] = []
        self.lists: list[Http] = []  # scripted LIST answers, taken one per request before the normal ones
        self.expire_continue = 0  # answer this many continue-token requests with 410
        self.list_gate: anyio.Event | None = None  # when set, pages after the first wait for it
        self.served = True
        self.frozen: anyio.Event | None = None  # when set, LIST and GET requests wait for it (a frozen server)
        self.seen: list[Seen] = []
        self._changed = anyio.Event()
        self.url = ""

    # --- state helpers ----------------------------------------------------------------------------------------

    def put(self, obj: Any) -> Any:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        return obj

    def remove(self, namespace: str, name: str) -> Any:
        self.rv += 1
        obj = self.objects.pop((namespace, name))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj

    def count(self, kind: str) -> int:
        return sum(1 for s in self.seen if s.kind == kind)

    def of(self, kind: str) -> list[Seen]:
        return [s for s in self.seen if s.kind == kind]

    async def wait_for(self, kind: str, count: int, timeout: float = 10.0) -> Seen:
        """Wait until `count` requests of `kind` have arrived; returns the count-th one."""
        with anyio.fail_after(timeout):
            while self.count(kind) < count:
                await self._changed.wait()
        return self.of(kind)[count - 1]

    def _record(self, kind: str, request: web.Request) -> None:
        self.seen.append(Seen(kind, dict(request.query), anyio.current_time()))
        self._changed.set()
        self._changed = anyio.Event()

    # --- handlers ---------------------------------------------------------------------------------------------

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        self._record("discovery", request)
        if not self.served:
            return _json(status(404, "NotFound", "the server could not find the requested resource"), 404)
        return _json({"kind": "APIResourceList", "groupVersion": "example.com/v1", "resources": [{"name": "widgets"}]})

    async def collection(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") in ("true", "1"):
            return await self._watch(request)
        return await self._list(request)

    async def item(self, request: web.Request) -> web.StreamResponse:
        self._record("get", request)
        if self.frozen is not None:
            await self.frozen.wait()
        found = self.objects.get((request.match_info["namespace"], request.match_info["name"]))
        if found is None:
            return _json(status(404, "NotFound", "widgets not found"), 404)
        return _json(found)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        self._record("list", request)
        if self.frozen is not None:
            await self.frozen.wait()
        if not self.served:
            return _json(status(404, "NotFound", "the server could not find the requested resource"), 404)
        if self.lists:
            return _respond(self.lists.pop(0))
        token = request.query.get("continue")
        if token and self.expire_continue > 0:
            self.expire_continue -= 1
            return _json(status(410, "Expired", "The provided continue parameter is too old"), 410)
        if token and self.list_gate is not None:
            await self.list_gate.wait()
        limit = int(request.query.get("limit") or 0) or len(self.objects) or 1
        namespace = request.match_info.get("namespace")
        keys = sorted(k for k in self.objects if namespace is None or k[0] == namespace)
        list_rv, offset = token.split(":") if token else (str(self.rv), "0")
        start = int(offset)
        page = [self.objects[k] for k in keys[start : start + limit]]
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        if start + limit < len(keys):
            meta["continue"] = f"{list_rv}:{start + limit}"
        # Like the real server, list items carry no kind/apiVersion for built-ins; CRs do. Strip them to test both.
        items = [{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")} for obj in page]
        return _json({"kind": "WidgetList", "apiVersion": "example.com/v1", "metadata": meta, "items": items})

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self._record("watch", request)
        if not self.served:  # like the real server once the CRD is gone (the reflector may re-watch, not relist)
            return _json(status(404, "NotFound", "the server could not find the requested resource"), 404)
        script = self.watches.pop(0) if self.watches else [HANG]
        if isinstance(script, Http):
            return _respond(script)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for step in script:
            if isinstance(step, Sleep):
                await anyio.sleep(float(step))
            elif step == ABORT:
                assert request.transport is not None
                request.transport.abort()
                return response
            elif step == HANG:  # the handler is cancelled when the client disconnects (handler_cancellation)
                await anyio.sleep_forever()
            elif isinstance(step, anyio.Event):  # hold the stream until the test says go
                await step.wait()
            elif callable(step):  # evaluated when streamed, so the change happens after the LIST
                await response.write(step())
            else:
                await response.write(step)
        await response.write_eof()
        return response


def _json(body: Any, code: int = 200) -> web.Response:
    return web.Response(status=code, body=json.dumps(body).encode(), content_type="application/json")


def _respond(answer: Http) -> web.Response:
    if isinstance(answer.body, dict):
        return web.Response(
            status=answer.code,
            body=json.dumps(answer.body).encode(),
            content_type="application/json",
            headers=answer.headers,
        )
    data = answer.body.encode() if isinstance(answer.body, str) else answer.body
    return web.Response(status=answer.code, body=data, headers={"Content-Type": "text/html", **answer.headers})


@asynccontextmanager
async def serve(fake: FakeApi, tmp_path: Path) -> AsyncIterator[Path]:
    """Run the fake on a loopback port; yields a kubeconfig pointing at it."""
    app = web.Application()
    app.router.add_get(BASE, fake.discovery)
    app.router.add_get(f"{BASE}/widgets", fake.collection)
    app.router.add_get(f"{BASE}/namespaces/{{namespace}}/widgets", fake.collection)
    app.router.add_get(f"{BASE}/namespaces/{{namespace}}/widgets/{{name}}", fake.item)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        fake.url = f"http://127.0.0.1:{port}"
        kubeconfig = tmp_path / "fake.kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
                    "users": [{"name": "u", "user": {"token": "fake-token"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                }
            )
        )
        yield kubeconfig
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
