"""The watch cache against the session's real kube-apiserver (watch_cache.md §b): cold start, CRUD visibility,
a drop in the middle of an event, a stalled connection, CRD deletion and update, RBAC denial and revocation,
bookmarks, and shutdown. Every scenario ends with the invariant: the cache equals a fresh LIST."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import secrets
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import ChangeType, Status
from tests.cluster import TestCluster
from tests.integration.cache.support import (
    FAST,
    WIDGETS,
    assert_matches_list,
    create,
    create_many,
    delete,
    kube_client,
    next_change,
    patch,
    proxied_kubeconfig,
    server_port,
    unique_crd,
)
from tests.kube import MakeUser, apply_crd, create_namespace
from tests.proxy import tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("crds"), pytest.mark.timeout(120)]


async def test_cold_start_syncs_only_after_the_full_paginated_list(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    """§b.1 with N = 0, 1 and 1,000 objects across 50 namespaces (page size 100: 11 pages)."""
    options = dataclasses.replace(FAST, page_size=100)
    async with unique_crd(admin) as (rt, _), kube_client(cluster.kubeconfig) as kube:
        async with CacheManager(kube, options=options) as cache:
            store = await cache.ensure(rt)
            assert not store.synced  # ensure() returns before the first LIST: callers must wait, not read []
            assert await store.wait_synced(timeout=30)
            assert len(store) == 0
            created = await create(admin, rt, "one", namespace)
            assert await store.wait_for_resource_version(created["metadata"]["resourceVersion"], timeout=10)
            assert list(store.snapshot()) == [(namespace, "one")]

        namespaces = [await create_namespace(admin, "cold") for _ in range(50)]
        await create_many(admin, rt, [(namespaces[i % 50], f"obj-{i:04d}") for i in range(1000)])
        async with CacheManager(kube, options=options) as cache:
            store = await cache.ensure(rt)
            assert not store.synced
            assert await store.wait_synced(timeout=60)
            stats = store.stats()
            assert stats.last_list_pages == 11
            assert stats.lists == {"initial": 1}
            assert len(store) == 1001
            await assert_matches_list(store, admin, rt, namespace=namespace)


async def test_create_modify_delete_are_each_visible(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    """§b.2, plus how long a write takes to show in the cache (bounded)."""
    async with kube_client(cluster.kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
        store = await cache.ensure(WIDGETS, namespaces=[namespace])
        assert await store.wait_synced(timeout=30)
        assert len(store) == 0
        latencies: list[float] = []
        with store.subscribe(namespace=namespace, name="w1") as sub:
            started = anyio.current_time()
            created = await create(admin, WIDGETS, "w1", namespace, size=3)
            change = await next_change(sub)
            latencies.append(anyio.current_time() - started)
            assert (change.type, change.resource_version) == (ChangeType.ADDED, created["metadata"]["resourceVersion"])
            assert store.get("w1", namespace)["spec"]["size"] == 3  # type: ignore[index]

            started = anyio.current_time()
            patched = await patch(admin, WIDGETS, "w1", namespace, {"spec": {"size": 4}})
            change = await next_change(sub)
            latencies.append(anyio.current_time() - started)
            assert (change.type, change.resource_version) == (
                ChangeType.MODIFIED,
                patched["metadata"]["resourceVersion"],
            )
            assert store.get("w1", namespace)["spec"]["size"] == 4  # type: ignore[index]

            started = anyio.current_time()
            await delete(admin, WIDGETS, "w1", namespace)
            change = await next_change(sub)
            latencies.append(anyio.current_time() - started)
            assert change.type is ChangeType.DELETED
            assert not change.synthetic
            assert store.get("w1", namespace) is None
        assert max(latencies) < 2.0, latencies  # write → visible in the cache, including the write itself
        await assert_matches_list(store, admin, WIDGETS, namespace=namespace)


async def test_drop_in_the_middle_of_an_event_rewatches_without_applying_it(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """§b.4: the proxy forwards 20 kB of a ~60 kB event (many TLS records), then resets the connection."""
    async with tcp_proxy("127.0.0.1", server_port(cluster.kubeconfig)) as proxy:
        kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "proxied.kubeconfig")
        async with kube_client(kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(WIDGETS, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            created = await create(admin, WIDGETS, "big", namespace)
            assert await store.wait_for_resource_version(created["metadata"]["resourceVersion"], timeout=10)
            proxy.truncate_next(20_000)
            payload = {"metadata": {"annotations": {"payload": secrets.token_hex(30_000)}}}
            patched = await patch(admin, WIDGETS, "big", namespace, payload)
            rv = patched["metadata"]["resourceVersion"]
            assert await store.wait_for_resource_version(rv, namespace=namespace, timeout=15)
            stats = store.stats()
            assert stats.watch_restarts["disconnected"] == 1
            assert stats.watch_restarts["garbage"] == 0  # the fragment was never parsed as an event
            assert stats.lists == {"initial": 1}  # re-watch from the last RV, no relist
            applied = store.changes_since(created["metadata"]["resourceVersion"]).changes
            assert [(c.type, c.name, c.resource_version) for c in applied] == [(ChangeType.MODIFIED, "big", rv)]
            big = store.get("big", namespace)
            assert big is not None
            assert big["metadata"]["annotations"]["payload"] == payload["metadata"]["annotations"]["payload"]
            await assert_matches_list(store, admin, WIDGETS, namespace=namespace)


async def test_stalled_connection_is_detected_within_the_inactivity_timeout(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """§b.5: the proxy stops forwarding but keeps the TCP connection open."""
    options = dataclasses.replace(FAST, inactivity_timeout=2.0)
    async with tcp_proxy("127.0.0.1", server_port(cluster.kubeconfig)) as proxy:
        kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "proxied.kubeconfig")
        async with kube_client(kubeconfig) as kube, CacheManager(kube, options=options) as cache:
            store = await cache.ensure(WIDGETS, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            await anyio.sleep(0.2)  # let the watch open (its HTTP 200) before freezing the link
            assert proxy.stall() >= 1
            stalled_at = anyio.current_time()
            created = await create(admin, WIDGETS, "during-stall", namespace)
            assert await store.wait_for_resource_version(created["metadata"]["resourceVersion"], timeout=15)
            recovered = anyio.current_time() - stalled_at
            proxy.resume()
            assert 1.5 <= recovered < 2.0 + 3.0  # about INACT (2 s), then a fresh watch from the last RV
            stats = store.stats()
            assert stats.watch_restarts["stalled"] == 1
            assert stats.lists == {"initial": 1}
            await assert_matches_list(store, admin, WIDGETS, namespace=namespace)


async def test_crd_deleted_while_watching_then_recreated(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    """§b.12: CR deletions arrive, then 404 → NOT_SERVED with an empty store; recreating the CRD recovers."""
    async with unique_crd(admin) as (rt, crd), kube_client(cluster.kubeconfig) as kube:
        await create_many(admin, rt, [(namespace, f"o{i}") for i in range(3)])
        async with CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(rt)
            assert await store.wait_synced(timeout=30)
            assert len(store) == 3
            with store.subscribe() as sub:
                await client.ApiextensionsV1Api(admin).delete_custom_resource_definition(crd["metadata"]["name"])
                assert await store.wait_status(Status.NOT_SERVED, timeout=60)
                assert len(store) == 0
                gone = {sub.receive_nowait() for _ in range(3)}
                assert {(c.type, c.name) for c in gone if c is not None} == {
                    (ChangeType.DELETED, "o0"),
                    (ChangeType.DELETED, "o1"),
                    (ChangeType.DELETED, "o2"),
                }
            assert store.synced  # sticky
            assert store.last_error is not None
            await apply_crd(admin, crd)
            assert await store.wait_status(Status.LIVE, timeout=30)
            created = await create(admin, rt, "reborn", namespace)
            assert await store.wait_for_resource_version(created["metadata"]["resourceVersion"], timeout=10)
            assert store.stats().lists["served_again"] >= 1
            await assert_matches_list(store, admin, rt, namespace=namespace)


async def test_crd_spec_update_tears_down_the_watch_without_losing_events(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    """§b.13: a CRD update (a printer column) recreates CR storage and closes open watches mid-writes."""
    async with (
        unique_crd(admin) as (rt, crd),
        kube_client(cluster.kubeconfig) as kube,
        CacheManager(kube, options=FAST) as cache,
    ):
        store = await cache.ensure(rt)
        assert await store.wait_synced(timeout=30)

        async def writer() -> None:
            for i in range(30):
                while True:  # while storage is swapped, the apiserver answers 503 (or 429): retry, like a client
                    try:
                        await create(admin, rt, f"c{i:02d}", namespace)
                        break
                    except ApiException as exc:
                        if exc.status not in (429, 503):
                            raise
                        await anyio.sleep(0.1)
                await anyio.sleep(0.03)

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.sleep(0.3)
            column = {"name": "Note", "type": "string", "jsonPath": ".spec.note"}
            await client.ApiextensionsV1Api(admin).patch_custom_resource_definition(
                crd["metadata"]["name"],
                [{"op": "add", "path": "/spec/versions/0/additionalPrinterColumns", "value": [column]}],
                _content_type="application/json-patch+json",
            )
        snapshot = await assert_matches_list(store, admin, rt, namespace=namespace)
        assert {name for _, name in snapshot} >= {f"c{i:02d}" for i in range(30)}
        # The update really closed the watch (kube 1.36: 429 while the new storage warms up, then 410 → relist).
        assert sum(store.stats().watch_restarts.values()) >= 1


async def test_list_allowed_but_watch_forbidden_serves_stale_data(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, make_user: MakeUser
) -> None:
    """§b.14a: synced through LIST, then FORBIDDEN (data kept, marked stale) because WATCH is denied."""
    await create(admin, WIDGETS, "visible", namespace)
    kubeconfig = await make_user(rules=[{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list"]}])
    async with kube_client(kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
        store = await cache.ensure(WIDGETS, namespaces=[namespace])
        assert await store.wait_synced(timeout=30)
        assert await store.wait_status(Status.FORBIDDEN, timeout=10)
        assert list(store.snapshot()) == [(namespace, "visible")]
        assert "watch" in (store.last_error or "")
        await anyio.sleep(0.05)
        stale = store.stale_seconds
        assert stale is not None
        assert stale > 0


async def test_rbac_revoked_mid_watch_then_granted_again(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, make_user: MakeUser
) -> None:
    """§b.14b and c: FORBIDDEN at the next reconnect after revocation; LIVE again within the backoff cap."""
    rules = [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["list", "watch"]}]
    kubeconfig = await make_user(rules=rules)
    options = dataclasses.replace(FAST, watch_timeout=(2.0, 3.0))  # reconnect every few seconds
    rbac = client.RbacAuthorizationV1Api(admin)
    async with kube_client(kubeconfig) as kube, CacheManager(kube, options=options) as cache:
        store = await cache.ensure(WIDGETS, namespaces=[namespace])
        assert await store.wait_synced(timeout=30)
        assert await store.wait_status(Status.LIVE, timeout=10)
        await create(admin, WIDGETS, "kept", namespace)
        binding: Any = await rbac.read_namespaced_role_binding("limited-role", namespace)
        await rbac.delete_namespaced_role_binding("limited-role", namespace)
        assert await store.wait_status(Status.FORBIDDEN, timeout=15)
        assert (namespace, "kept") in store.snapshot()  # the data is kept
        await rbac.create_namespaced_role_binding(
            namespace,
            {"metadata": {"name": "limited-role"}, "roleRef": binding.role_ref.to_dict(), "subjects": binding.subjects},
        )
        assert await store.wait_status(Status.LIVE, timeout=15)
        await assert_matches_list(store, admin, WIDGETS, namespace=namespace)


async def test_bookmarks_keep_an_idle_watch_current(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    """§b.17 compressed: an idle namespace while another churns. The apiserver sends a bookmark 2 s before each
    watch's deadline, so with 4 s watches the idle reflector's RV follows the churn without a relist; with
    bookmarks off it stays at its list RV."""
    busy = await create_namespace(admin, "busy")
    for bookmarks in (True, False):
        options = dataclasses.replace(FAST, watch_timeout=(4.0, 4.0), bookmarks=bookmarks)
        async with kube_client(cluster.kubeconfig) as kube, CacheManager(kube, options=options) as cache:
            store = await cache.ensure(WIDGETS, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            last = ""
            for i in range(5):
                last = (await create(admin, WIDGETS, f"churn-{int(bookmarks)}-{i}", busy))["metadata"][
                    "resourceVersion"
                ]
            caught_up = await store.wait_for_resource_version(last, timeout=6)
            stats = store.stats()
            assert stats.lists == {"initial": 1}
            assert len(store) == 0
            if bookmarks:
                assert caught_up
                assert stats.events["BOOKMARK"] >= 1
            else:
                assert not caught_up
                assert stats.events["BOOKMARK"] == 0
                assert stats.watch_restarts["timeout"] >= 1  # it did reconnect, from its old RV


@pytest.mark.parametrize("phase", ["list", "watch", "backoff"])
async def test_shutdown_leaks_no_tasks_connections_or_sessions(
    cluster: TestCluster, namespace: str, tmp_path: Path, phase: str
) -> None:
    """§b.20: cancel during a LIST (the link hangs), during a WATCH, and during a backoff sleep."""
    loop = asyncio.get_running_loop()
    complaints: list[str] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: complaints.append(str(context.get("message"))))
    before = set(asyncio.all_tasks())
    options = dataclasses.replace(FAST, backoff_initial=30.0)
    try:
        async with tcp_proxy("127.0.0.1", server_port(cluster.kubeconfig)) as proxy:
            kubeconfig = proxied_kubeconfig(cluster.kubeconfig, proxy.port, tmp_path / "proxied.kubeconfig")
            kube_cm = kube_client(kubeconfig)
            kube = await kube_cm.__aenter__()
            try:
                await kube.api()  # load the configuration (not through the network)
                async with CacheManager(kube, options=options) as cache:
                    if phase == "list":
                        proxy.stall_new = True
                    store = await cache.ensure(WIDGETS, namespaces=[namespace])
                    if phase == "list":
                        with anyio.fail_after(10):
                            await proxy.wait_accepted(1)  # the LIST's connection, now hanging
                        await anyio.sleep(0.2)
                        assert not store.synced
                    else:
                        assert await store.wait_synced(timeout=30)
                        assert await store.wait_status(Status.LIVE, timeout=10)
                    if phase == "backoff":
                        proxy.reject(True)
                        proxy.drop()
                        assert await store.wait_status(Status.STALE, timeout=10)  # now sleeping ~30 s
                for api in (await kube.api(), await kube.watch_api()):
                    connector = api.rest_client.pool_manager.connector
                    assert not connector._acquired, f"a response was left open after cancelling in the {phase}"
            finally:
                await kube_cm.__aexit__(None, None, None)
        gc.collect()
        await anyio.lowlevel.checkpoint()
        leftover = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
        assert not leftover
        assert not [c for c in complaints if "Unclosed" in c], complaints
    finally:
        loop.set_exception_handler(previous_handler)
