"""The manager: starting reflectors on first use, scope rules, status rows, and a clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest

from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.reflector import ReflectorOptions
from mcp_k8s.cache.store import Status
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.settings import Settings
from tests.unit.cache.fakeapi import WIDGETS, FakeApi, serve, widget

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

OPTIONS = ReflectorOptions(backoff_initial=0.02, backoff_jitter=0.0, watch_timeout=(30, 30))
CLUSTER_SCOPED = ResourceType(group="example.com", version="v1", plural="gizmos", kind="Gizmo", namespaced=False)


async def test_ensure_get_watched_and_clean_stop(tmp_path: Path) -> None:
    fake = FakeApi()
    fake.put(widget("a", "ns1"))
    fake.put(widget("b", "ns2"))
    before = set(asyncio.all_tasks())
    async with serve(fake, tmp_path) as kubeconfig:
        kube = KubeClient(Settings(kubeconfig=kubeconfig))
        async with CacheManager(kube, options=OPTIONS) as cache:
            assert cache.get(WIDGETS) is None
            store = await cache.ensure(WIDGETS, namespaces=["ns1", "ns2"])
            assert await cache.ensure(WIDGETS, namespaces=["ns2"]) is store  # covered: same store
            with pytest.raises(ValueError, match="per namespace"):
                await cache.ensure(WIDGETS)
            with pytest.raises(ValueError, match="already watched"):
                await cache.ensure(WIDGETS, namespaces=["ns3"])
            assert cache.get(WIDGETS) is store
            assert await store.wait_synced(timeout=10)
            assert sorted(store.snapshot()) == [("ns1", "a"), ("ns2", "b")]
            rows = cache.watched()
            assert [r.resource_type for r in rows] == [WIDGETS]
            assert rows[0].info().status is Status.LIVE
            await fake.wait_for("watch", 2)  # one watch per namespace
            paths = sorted(s.query.get("resourceVersion", "") for s in fake.of("watch"))
            assert len(paths) == 2
            subscription = store.subscribe()
        # Leaving the block ended the subscription and every reflector.
        assert [c async for c in subscription] == []
        subscription.close()
        with pytest.raises(RuntimeError, match="not running"):
            await cache.ensure(WIDGETS)
        await kube.aclose()
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert not leftover


async def test_run_in_a_task_group_and_cluster_scoped_types_ignore_namespaces(tmp_path: Path) -> None:
    fake = FakeApi()
    async with serve(fake, tmp_path) as kubeconfig:
        kube = KubeClient(Settings(kubeconfig=kubeconfig))
        try:
            async with anyio.create_task_group() as tg:
                cache = await tg.start(CacheManager(kube, options=OPTIONS).run)
                store = await cache.ensure(CLUSTER_SCOPED, namespaces=["ignored"])
                assert store.namespaces is None
                tg.cancel_scope.cancel()
        finally:
            await kube.aclose()
