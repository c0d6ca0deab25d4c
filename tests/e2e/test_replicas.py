"""More than one replica: two `mcp-k8s watch --http` daemons, each with its own cache, behind a round-robin proxy.

The 2026-07-28 protocol is stateless (no initialize, no Mcp-Session-Id), so one client's consecutive calls may land
on different replicas. What a reader gets, asserted here:

- read-after-write holds on the replica that took the write (a write returns only once that replica's cache has
  seen it);
- on the other replica a read right after the write may still show the previous version, and the answer says so:
  its `resource_version` is the one the writer got back (the write is visible) or an older one (the object as it
  was, consistent with that version); a create is always visible (a cache miss is confirmed with the API);
- a `subscriptions/listen` stream lives on the replica that accepted it; when that replica goes away the stream
  ends with `SubscriptionLost`, and listening again (landing on a live replica) delivers updates again.

2025-11-25 clients keep a session in one process, so without affinity their second request meets a replica that
never saw their `initialize`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from mcp import Client, MCPError
from mcp.client.subscriptions import SubscriptionLost

from tests.cluster import TestCluster
from tests.daemons import Daemon, mcp_http_client, watch_daemon
from tests.plugins.cluster import call
from tests.rr_proxy import RoundRobinProxy

pytestmark = pytest.mark.anyio

WATCH = ("widgets.example.com/v1",)


@asynccontextmanager
async def two_replicas(kubeconfig: Path, workdir: Path) -> AsyncIterator[tuple[list[Daemon], RoundRobinProxy]]:
    async with (
        watch_daemon(kubeconfig, WATCH, workdir, name="replica-0") as first,
        watch_daemon(kubeconfig, WATCH, workdir, name="replica-1") as second,
    ):
        backends = [d.mcp_url.removesuffix("/mcp") for d in (first, second)]
        async with RoundRobinProxy(backends).running() as proxy:
            yield [first, second], proxy


def replica_of(proxy: RoundRobinProxy, tool: str, before: int) -> int:
    """The replica that served the one `tools/call` of `tool` forwarded since `before` routes."""
    served = [r.replica for r in proxy.routes[before:] if r.method == "tools/call" and r.name == tool]
    assert len(served) == 1, proxy.routes[before:]
    return served[0]


async def step(c: Client, proxy: RoundRobinProxy, tool: str, **args: Any) -> tuple[int, dict[str, Any]]:
    before = len(proxy.routes)
    answer = await call(c, tool, **args)
    return replica_of(proxy, tool, before), answer


async def test_one_client_across_two_replicas(
    cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient, tmp_path: Path
) -> None:
    async with two_replicas(cluster.kubeconfig, tmp_path) as (_, proxy), mcp_http_client(f"{proxy.url}/mcp") as c:
        where = {"plural": "wg", "namespace": namespace, "name": "w"}
        # The SDK client fetches tools/list once, after its first call; from then on each call is one request, so
        # consecutive calls alternate between the replicas.
        await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        body = {"metadata": {"name": "w"}, "spec": {"size": 0}}
        wrote_on, created = await step(c, proxy, "create_custom_resource", plural="wg", namespace=namespace, body=body)
        read_on, got = await step(c, proxy, "get_custom_resource", **where)
        assert read_on != wrote_on
        assert got["resource_version"] == created["resource_version"]  # a create is visible on every replica

        history = {created["resource_version"]: 0}  # resourceVersion → spec.size: what each version says
        stale = 0
        for size in range(1, 21):
            wrote_on, patched = await step(c, proxy, "patch_custom_resource", **where, patch={"spec": {"size": size}})
            history[patched["resource_version"]] = size
            other_on, other = await step(c, proxy, "get_custom_resource", **where)
            same_on, same = await step(c, proxy, "get_custom_resource", **where)
            assert other_on != wrote_on
            assert same_on == wrote_on
            # The replica that took the write: read-after-write, always.
            assert same["resource_version"] == patched["resource_version"]
            assert same["object"]["spec"]["size"] == size
            # The other replica: this version or an older one, and the resourceVersion says which.
            assert other["resource_version"] in history
            assert other["object"]["spec"]["size"] == history[other["resource_version"]]
            stale += other["resource_version"] != patched["resource_version"]
        print(f"reads on the other replica right after a write that showed the previous version: {stale}/20")


async def test_listen_stream_ends_with_its_replica(
    cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient, tmp_path: Path
) -> None:
    objects = client.CustomObjectsApi(admin)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 0}}
    await objects.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", body)
    uri = f"k8s://example.com/v1/widgets/{namespace}/w"

    async def bump(size: int) -> None:
        await objects.patch_namespaced_custom_object(
            "example.com",
            "v1",
            namespace,
            "widgets",
            "w",
            {"spec": {"size": size}},
            _content_type="application/merge-patch+json",
        )

    async def first_update(sub: Any, size: int) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(bump, size)
            with anyio.fail_after(15):
                async for event in sub:
                    assert getattr(event, "uri", None) == uri
                    return

    async with (
        two_replicas(cluster.kubeconfig, tmp_path) as (replicas, proxy),
        mcp_http_client(f"{proxy.url}/mcp") as c,
    ):
        before = len(proxy.routes)
        async with c.listen(resource_subscriptions=[uri]) as sub:
            holder = next(r.replica for r in proxy.routes[before:] if r.method == "subscriptions/listen")
            await first_update(sub, 1)
            replicas[holder].kill()
            with pytest.raises(SubscriptionLost), anyio.fail_after(15):
                async for _ in sub:
                    pass
        # Listening again lands on the survivor (the dead replica refuses connections and is skipped).
        before = len(proxy.routes)
        async with c.listen(resource_subscriptions=[uri]) as sub:
            again = next(r.replica for r in proxy.routes[before:] if r.method == "subscriptions/listen")
            assert again != holder
            await first_update(sub, 2)
        got = await call(c, "get_custom_resource", plural="wg", namespace=namespace, name="w")
        assert got["object"]["spec"]["size"] == 2


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


async def test_handshake_era_clients_need_affinity(
    cluster: TestCluster, crds: None, namespace: str, tmp_path: Path
) -> None:
    async with two_replicas(cluster.kubeconfig, tmp_path) as (_, proxy):
        with pytest.raises(BaseExceptionGroup) as failed:
            async with mcp_http_client(f"{proxy.url}/mcp", mode="legacy") as c:
                await c.call_tool("list_custom_resources", {"plural": "wg", "namespace": namespace})
        assert (proxy.routes[0].replica, proxy.routes[0].method) == (0, "initialize")
        assert {r.replica for r in proxy.routes} == {0, 1}
        assert any(isinstance(e, MCPError) and e.error.message == "Session not found" for e in leaves(failed.value))
