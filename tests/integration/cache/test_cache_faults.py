"""Faults that need a control plane of our own (never the session's): a kube-apiserver restart (§b.3), and a 410
forced by compacting etcd while the reflector is cut off (§b.6, with the deletions and recreations of §b.9/10).

The compaction scenario runs kube-apiserver with --watch-cache=false, so a watch from a compacted revision reaches
etcd and fails with a real in-stream 410 (the watch cache would answer from its own, time-based history).
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from mcp_k8s import sandbox
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import ChangeType, Status
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
)
from tests.kube import api_client, apply_test_crds, create_namespace
from tests.proxy import tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


@pytest.mark.usefixtures("own_plane_allowed")
async def test_apiserver_restart_loses_no_updates_and_duplicates_nothing() -> None:
    """§b.3: writes just before a restart, refused connections while it is down, then 429/410 and a relist."""
    async with sandbox.start_control_plane(dict(os.environ)) as plane, api_client(plane.admin_kubeconfig) as admin:
        await apply_test_crds(admin)
        ns = await create_namespace(admin, "restart")
        await create_many(admin, WIDGETS, [(ns, f"w{i:02d}") for i in range(20)])
        async with kube_client(plane.admin_kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(WIDGETS)
            assert await store.wait_synced(timeout=30)
            # Other clients write right before the restart; some events may still be in flight when it stops.
            for i in range(5):
                await patch(admin, WIDGETS, f"w{i:02d}", ns, {"spec": {"size": 10 + i}})
            for i in range(10, 13):
                await delete(admin, WIDGETS, f"w{i:02d}", ns)
            await create_many(admin, WIDGETS, [(ns, f"x{i}") for i in range(3)])
            await plane.stop_apiserver(grace=1.0)  # a crash, not a drain: the open watch would hold it 15 s
            assert await store.wait_status(Status.STALE, timeout=30)
            with anyio.fail_after(30):  # a refused connection has no event of its own; its counter is observable
                while store.stats().watch_restarts["connect"] < 2:
                    await anyio.sleep(0.05)
            assert store.stats().lists == {"initial": 1}  # refused connections are retried as WATCH, not LIST
            await plane.start_apiserver()
            await create(admin, WIDGETS, "after", ns)
            await assert_matches_list(store, admin, WIDGETS, namespace=ns, timeout=60)
            stats = store.stats()
            # The new server's watch cache starts at the current RV: 410 for our older one (maybe after 429s or
            # 503s while it starts), then one NotOlderThan relist; nothing is lost and nothing duplicated.
            assert stats.watch_restarts["expired"] == 1, stats.watch_restarts
            assert stats.lists == {"initial": 1, "expired": 1}


@pytest.mark.usefixtures("own_plane_allowed")
async def test_compaction_while_cut_off_gives_one_410_and_a_correct_relist(tmp_path: Path) -> None:
    """§b.6, 9, 10: while the reflector cannot connect, X is deleted, Y deleted and recreated (new uid), Z
    modified and W created; etcd is compacted. Reconnecting gets 410, and exactly one NotOlderThan relist
    produces the synthetic changes."""
    args = ["--watch-cache=false"]
    async with (
        sandbox.start_control_plane(dict(os.environ), apiserver_args=args) as plane,
        api_client(plane.admin_kubeconfig) as admin,
    ):
        await apply_test_crds(admin)
        ns = await create_namespace(admin, "compact")
        for name in ("keep", "x-gone", "y-reborn", "z-edited"):
            await create(admin, WIDGETS, name, ns)
        async with tcp_proxy("127.0.0.1", server_port(plane.admin_kubeconfig)) as proxy:
            kubeconfig = proxied_kubeconfig(plane.admin_kubeconfig, proxy.port, tmp_path / "proxied.kubeconfig")
            async with kube_client(kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
                store = await cache.ensure(WIDGETS, namespaces=[ns])
                assert await store.wait_synced(timeout=30)
                assert await store.wait_status(Status.LIVE, timeout=10)
                old_uid = store.get("y-reborn", ns)["metadata"]["uid"]  # type: ignore[index]
                with store.subscribe(namespace=ns) as sub:
                    proxy.reject(True)
                    proxy.drop()
                    assert await store.wait_status(Status.STALE, timeout=10)
                    await delete(admin, WIDGETS, "x-gone", ns)
                    await delete(admin, WIDGETS, "y-reborn", ns)
                    reborn = await create(admin, WIDGETS, "y-reborn", ns)
                    await patch(admin, WIDGETS, "z-edited", ns, {"spec": {"size": 7}})
                    await create(admin, WIDGETS, "w-new", ns)
                    await plane.compact_etcd()
                    proxy.reject(False)
                    changes = [await next_change(sub) for _ in range(5)]
                assert all(c.synthetic for c in changes)
                assert sorted((c.type.value, c.name) for c in changes) == [
                    ("ADDED", "w-new"),
                    ("ADDED", "y-reborn"),
                    ("DELETED", "x-gone"),
                    ("DELETED", "y-reborn"),
                    ("MODIFIED", "z-edited"),
                ]
                uids = {c.type: c.uid for c in changes if c.name == "y-reborn"}
                assert uids == {ChangeType.DELETED: old_uid, ChangeType.ADDED: reborn["metadata"]["uid"]}
                stats = store.stats()
                assert stats.lists == {"initial": 1, "expired": 1}  # exactly one relist, NotOlderThan
                assert stats.watch_restarts["expired"] == 1
                await assert_matches_list(store, admin, WIDGETS, namespace=ns)
