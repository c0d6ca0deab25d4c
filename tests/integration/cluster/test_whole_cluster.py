"""What only a whole cluster does: the controller manager and the scheduler at work, seen through the watch cache
and the tools (rollouts, garbage collection, namespace teardown, a crash loop with its events and previous logs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from mcp import Client

from mcp_k8s import sandbox
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import create_namespace
from tests.plugins.cluster import call, mcp_client
from tests.plugins.kwok import MakePods

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
WIDGETS = ("example.com", "v1", "widgets")


@pytest.fixture(autouse=True)
def _local_only(cluster: TestCluster) -> None:
    if cluster.external:
        pytest.skip("runs pods on a KWOK node on this machine's loopback")


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 90.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (the last value) after `timeout`."""
    last: Any = None
    with anyio.move_on_after(timeout):
        while True:
            last = await check()
            if last:
                return last
            await anyio.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")


def deployment(name: str, node: str, replicas: int) -> dict[str, Any]:
    """A Deployment whose pods the scheduler can place only on the session's KWOK node."""
    pod = sandbox.kwok_pod("unused", node)
    pod_spec = {"nodeSelector": {"kubernetes.io/hostname": node}, "tolerations": pod["spec"]["tolerations"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {**pod_spec, "containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


async def cached_names(c: Client, plural: str, namespace: str) -> list[str] | None:
    """Names from the watch cache (None while the answer still comes from the API)."""
    listed = await call(c, "list_custom_resources", plural=plural, namespace=namespace)
    return sorted(i["name"] for i in listed["items"]) if listed["source"] == "cache" else None


async def test_a_scaled_deployment_runs_pods_that_the_cache_and_list_pods_see(
    settings: Settings, admin: client.ApiClient, namespace: str, kwok_node: str
) -> None:
    apps = client.AppsV1Api(admin)
    await apps.create_namespaced_deployment(namespace, deployment("web", kwok_node, replicas=1))
    await apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    async with mcp_client(settings) as c:

        async def running() -> list[dict[str, Any]]:
            rows = (await call(c, "list_pods", namespace=namespace))["items"]
            ok = len(rows) == 3 and all(r["phase"] == "Running" and r["ready"] == "1/1" for r in rows)
            return rows if ok else []

        rows = await eventually(running, "3 Running pods of the Deployment (scheduler + controllers + KWOK)")
        assert all(r["name"].startswith("web-") and r["node"] == kwok_node for r in rows)

        async def in_cache() -> list[str] | None:
            names = await cached_names(c, "pods", namespace)
            return names if names is not None and len(names) == 3 else None

        assert await eventually(in_cache, "the 3 pods in the watch cache") == sorted(r["name"] for r in rows)
    status = (await apps.read_namespaced_deployment_status("web", namespace)).status
    assert (status.ready_replicas, status.available_replicas) == (3, 3)


async def test_deleting_an_owner_collects_its_dependents_and_the_cache_sees_it(
    settings: Settings, crds: None, admin: client.ApiClient, namespace: str
) -> None:
    api = client.CustomObjectsApi(admin)
    owner = await api.create_namespaced_custom_object(
        *WIDGETS[:2],
        namespace,
        WIDGETS[2],
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "owner"}},
    )
    ref = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "owner", "uid": owner["metadata"]["uid"]}
    for i in range(3):
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": f"dep-{i}", "ownerReferences": [ref]},
        }
        await api.create_namespaced_custom_object(*WIDGETS[:2], namespace, WIDGETS[2], body)
    async with mcp_client(settings.model_copy(update={"watch": ("widgets.example.com/v1",)})) as c:

        async def everything() -> list[str] | None:
            names = await cached_names(c, "widgets", namespace)
            return names if names is not None and len(names) == 4 else None

        assert await eventually(everything, "owner and dependents in the cache") == ["dep-0", "dep-1", "dep-2", "owner"]
        await api.delete_namespaced_custom_object(*WIDGETS[:2], namespace, WIDGETS[2], "owner")

        async def collected() -> bool:
            return await cached_names(c, "widgets", namespace) == []

        await eventually(collected, "the garbage collector to delete the dependents")


async def test_a_deleted_namespace_goes_away_and_the_cache_drops_its_objects(
    settings: Settings, crds: None, admin: client.ApiClient
) -> None:
    core = client.CoreV1Api(admin)
    doomed = await create_namespace(admin, "doomed")
    api = client.CustomObjectsApi(admin)
    for i in range(2):
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": f"w-{i}"}}
        await api.create_namespaced_custom_object(*WIDGETS[:2], doomed, WIDGETS[2], body)
    await core.create_namespaced_config_map(doomed, {"metadata": {"name": "settings"}, "data": {"a": "b"}})
    async with mcp_client(settings.model_copy(update={"watch": ("widgets.example.com/v1",)})) as c:

        async def both() -> bool:
            return await cached_names(c, "widgets", doomed) == ["w-0", "w-1"]

        await eventually(both, "the widgets in the cache")
        await core.delete_namespace(doomed)

        async def gone() -> bool:
            try:
                await core.read_namespace(doomed)
            except ApiException as exc:
                return exc.status == 404
            return False

        await eventually(gone, "the namespace controller to finish deleting the namespace")
        assert await cached_names(c, "widgets", doomed) == []
        namespaces = await call(c, "list_namespaces")
        assert doomed not in {i["name"] for i in namespaces["items"]}


async def test_a_crash_loop_shows_rising_restarts_backoff_events_and_previous_logs(
    settings: Settings, namespace: str, make_pods: MakePods, kwok: sandbox.Kwok
) -> None:
    await make_pods("crasher", containers=("app",), crash_loop="app")
    kwok.write_logs(["connecting to db", "fatal: connection refused"], container="app", previous=True)
    async with mcp_client(settings) as c:

        async def restarted_twice() -> dict[str, Any] | None:
            (row,) = (await call(c, "list_pods", namespace=namespace))["items"]
            return row if row["restarts"] >= 2 else None

        row = await eventually(restarted_twice, "KWOK's restart stage to run twice", timeout=60)
        assert row["reason"].startswith("app: CrashLoopBackOff")
        previous = await call(c, "get_pod_logs", name="crasher", namespace=namespace, previous=True)
        assert previous["text"] == "connecting to db\nfatal: connection refused\n"
        tail = await call(c, "get_pod_logs", name="crasher", namespace=namespace, previous=True, tail_lines=1)
        assert tail["text"] == "fatal: connection refused\n"

        async def backoff() -> list[dict[str, Any]]:
            events = await call(c, "list_events", plural="pods", name="crasher", namespace=namespace)
            return [e for e in events["items"] if e.get("type") == "Warning" and e.get("reason") == "BackOff"]

        (event,) = await eventually(backoff, "a Warning BackOff event for the pod")
        assert "restarting failed container" in event["message"]
