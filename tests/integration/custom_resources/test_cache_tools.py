"""The tools on top of the watch cache: cache-sourced answers, freshness, read-after-write, recent_changes and
wait_for_custom_resource (conditions, JSONPath, deletion, timeout, progress, cancellation)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

from mcp_k8s.settings import Settings
from tests.canary import captured_logs
from tests.kube import MakeUser
from tests.plugins.cluster import call, error, mcp_client

pytestmark = pytest.mark.anyio
GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"


async def create(admin: client.ApiClient, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name}, "spec": spec}
    result: dict[str, Any] = await client.CustomObjectsApi(admin).create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, body
    )
    return result


async def set_status(admin: client.ApiClient, namespace: str, name: str, status: dict[str, Any]) -> None:
    await client.CustomObjectsApi(admin).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, name, {"status": status}, _content_type="application/merge-patch+json"
    )


async def test_reads_come_from_the_cache_and_stay_current(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    watched = settings.model_copy(update={"watch": ("widgets.example.com/v1",)})
    async with mcp_client(watched) as c:
        await create(admin, namespace, "before")
        first = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        assert first["source"] == "cache"
        assert first["synced"] is True
        assert first["cache"]["freshness"] == "confirmed"  # the watch was heard from seconds ago (or a probe answered)
        assert first["cache"]["last_heard_seconds"] < 60
        assert first["stale_seconds"] == 0
        assert "unconfirmed_since" not in first["cache"]
        assert [i["name"] for i in first["items"]] == ["before"]
        # A change made straight through the API (not through the tool) must become visible through the tool.
        latencies = []
        for i in range(5):
            started = time.monotonic()
            created = await create(admin, namespace, f"live-{i}")
            rv = created["metadata"]["resourceVersion"]
            with anyio.fail_after(5):
                while True:
                    got = await c.call_tool(
                        "get_custom_resource", {"plural": "wg", "name": f"live-{i}", "namespace": namespace}
                    )
                    content = got.structured_content or {}
                    if content.get("source") == "cache" and content.get("resource_version") == rv:
                        break
                    await anyio.sleep(0.005)
            latencies.append(time.monotonic() - started)
        print(f"API write -> visible through get_custom_resource from the cache: max {max(latencies) * 1000:.1f} ms")
        assert max(latencies) < 2.0
        await anyio.sleep(3.2)  # the watch is now quiet for longer than it may vouch for without asking
        got = await call(c, "get_custom_resource", plural="wg", name="before", namespace=namespace)
        assert got["source"] == "cache"
        assert got["cache"]["freshness"] == "confirmed"  # confirmed by a quorum read of the object
        assert got["cache"]["last_heard_seconds"] is not None
        listed = await call(c, "list_custom_resources", plural="wg", namespace=namespace, limit=2)
        assert listed["source"] == "cache"
        names = [i["name"] for i in listed["items"]]
        token = listed["continue_token"]
        while token:
            page = await call(
                c, "list_custom_resources", plural="wg", namespace=namespace, limit=2, continue_token=token
            )
            names += [i["name"] for i in page["items"]]
            token = page.get("continue_token")
        assert names == ["before", *[f"live-{i}" for i in range(5)]]


async def test_read_after_write_is_consistent(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        await call(c, "list_custom_resources", plural="wg", namespace=namespace)  # starts the cache for the type
        for i in range(5):
            written = await call(
                c,
                "create_custom_resource",
                plural="wg",
                namespace=namespace,
                body={"metadata": {"name": f"rw-{i}"}, "spec": {"size": i}},
            )
            assert written["in_cache"] is True
            listed = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
            assert listed["source"] == "cache"
            assert f"rw-{i}" in [item["name"] for item in listed["items"]]
            patched = await call(
                c,
                "patch_custom_resource",
                plural="wg",
                name=f"rw-{i}",
                namespace=namespace,
                patch={"spec": {"size": 100 + i}},
            )
            got = await call(c, "get_custom_resource", plural="wg", name=f"rw-{i}", namespace=namespace)
            assert got["source"] == "cache"
            assert got["resource_version"] == patched["resource_version"]
            assert got["object"]["spec"]["size"] == 100 + i
        await call(c, "delete_custom_resource", plural="wg", name="rw-0", namespace=namespace, force=True)
        after = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        assert "rw-0" not in [item["name"] for item in after["items"]]


async def test_recent_changes(settings: Settings, crds: None, namespace: str, admin: client.ApiClient) -> None:
    async with mcp_client(settings) as c:
        first = await call(c, "recent_changes", plural="wg", namespace=namespace)
        assert first["complete"] is False  # the log only starts now
        mark = first["resource_version"]
        await create(admin, namespace, "a")
        await create(admin, namespace, "b")
        await set_status(admin, namespace, "a", {"phase": "Ready"})
        await client.CustomObjectsApi(admin).delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "b")
        with anyio.fail_after(5):
            while True:
                changes = await call(c, "recent_changes", plural="wg", namespace=namespace, since_resource_version=mark)
                if changes["deleted"] == 1:
                    break
                await anyio.sleep(0.05)
        assert changes["complete"] is True
        assert [(ch["type"], ch["name"]) for ch in changes["changes"]] == [
            ("ADDED", "a"),
            ("ADDED", "b"),
            ("MODIFIED", "a"),
            ("DELETED", "b"),
        ]
        assert (changes["added"], changes["modified"], changes["deleted"]) == (2, 1, 1)
        recent = await call(c, "recent_changes", plural="wg", namespace=namespace, since_seconds=60)
        assert len(recent["changes"]) == 4
        none = await call(
            c, "recent_changes", plural="wg", namespace=namespace, since_resource_version=changes["resource_version"]
        )
        assert none["changes"] == []


async def test_wait_for_condition_with_progress(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    await create(admin, namespace, "slow")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def later() -> None:
        await anyio.sleep(0.5)
        await set_status(
            admin,
            namespace,
            "slow",
            {"conditions": [{"type": "Ready", "status": "False", "reason": "Scaling", "message": "1/3"}]},
        )
        await anyio.sleep(0.5)
        await set_status(
            admin,
            namespace,
            "slow",
            {"conditions": [{"type": "Ready", "status": "True", "reason": "Done"}], "phase": "Running"},
        )

    async with mcp_client(settings) as c, anyio.create_task_group() as tg:
        tg.start_soon(later)
        result = await c.call_tool(
            "wait_for_custom_resource",
            {"plural": "Widget", "name": "slow", "namespace": namespace, "condition": "Ready", "timeout_seconds": 20},
            progress_callback=on_progress,
        )
        answer = result.structured_content
        assert answer is not None, result.content
        assert answer["met"] is True
        assert answer["observed"] == "True (Done)"
        assert 0.5 < answer["waited_seconds"] < 10  # the writes come 1 s after the call starts (minus its lag)
        assert answer["object"]["phase"] == "Running"
        assert progress, "no progress notifications were sent"
        assert progress[-1][2] == "condition met"
        assert all(total == 20 for _, total, _ in progress)

        by_path = await call(
            c,
            "wait_for_custom_resource",
            plural="wg",
            name="slow",
            namespace=namespace,
            jsonpath=".status.phase",
            value="Running",
            timeout_seconds=5,
        )
        assert by_path["met"] is True
        by_filter = await call(
            c,
            "wait_for_custom_resource",
            plural="wg",
            name="slow",
            namespace=namespace,
            jsonpath='.status.conditions[?(@.type=="Ready")].status',
            value="True",
            timeout_seconds=5,
        )
        assert by_filter["met"] is True


async def test_wait_times_out_and_waits_for_deletion(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    await create(admin, namespace, "stuck")
    async with mcp_client(settings) as c:
        timed_out = await call(
            c,
            "wait_for_custom_resource",
            plural="wg",
            name="stuck",
            namespace=namespace,
            condition="Ready",
            timeout_seconds=1,
        )
        assert timed_out["met"] is False
        assert timed_out["observed"] == "no Ready condition yet"
        assert "Timed out after" in timed_out["message"]

        async def delete_later() -> None:
            await anyio.sleep(0.3)
            await client.CustomObjectsApi(admin).delete_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, "stuck"
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(delete_later)
            gone = await call(
                c,
                "wait_for_custom_resource",
                plural="wg",
                name="stuck",
                namespace=namespace,
                deleted=True,
                timeout_seconds=10,
            )
        assert gone["met"] is True
        assert "object" not in gone
        bad = await error(c, "wait_for_custom_resource", plural="wg", name="stuck", namespace=namespace)
        assert "exactly one of" in bad
        bad = await error(
            c, "wait_for_custom_resource", plural="wg", name="x", namespace=namespace, jsonpath=".status[?(@.x ~ 1)]"
        )
        assert "not understood" in bad


async def test_wait_is_cancelled_cleanly(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    await create(admin, namespace, "never")
    with captured_logs(level="info") as logs:
        async with mcp_client(settings) as c:
            with anyio.move_on_after(1.5):
                await c.call_tool(
                    "wait_for_custom_resource",
                    {
                        "plural": "wg",
                        "name": "never",
                        "namespace": namespace,
                        "condition": "Ready",
                        "timeout_seconds": 60,
                    },
                )
            # The server is still healthy after the cancelled call.
            listed = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
            assert [i["name"] for i in listed["items"]] == ["never"]
            with anyio.fail_after(5):
                while '"tool cancelled"' not in logs.getvalue():
                    await anyio.sleep(0.05)
    assert '"tool": "wait_for_custom_resource"' in logs.getvalue()


async def test_a_cache_that_cannot_sync_falls_back_to_the_api_and_says_so(
    make_user: MakeUser, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    # Allowed to list widgets in its namespace only: the cluster-wide watch the cache starts is forbidden.
    kubeconfig = await make_user(
        rules=[{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}]
    )
    await create(admin, namespace, "seen-anyway")
    async with mcp_client(Settings(kubeconfig=kubeconfig)) as c:
        listed = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        assert listed["source"] == "api"
        assert [i["name"] for i in listed["items"]] == ["seen-anyway"]
        assert "direct API read" in listed["note"]
        got = await call(c, "get_custom_resource", plural="wg", name="seen-anyway", namespace=namespace)
        assert got["source"] == "api"
    # With the server limited to that namespace, the cache watches just it, syncs, and answers.
    async with mcp_client(Settings(kubeconfig=kubeconfig, allowed_namespaces=(namespace,))) as c:
        listed = await call(c, "list_custom_resources", plural="wg")
        assert listed["source"] == "cache"
        assert [i["name"] for i in listed["items"]] == ["seen-anyway"]
