"""The core and cluster tools through an MCP client, against the real API server (pods on a KWOK node)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from kubernetes_asyncio import client

from mcp_k8s import sandbox
from mcp_k8s.settings import Settings
from tests.kube import MakeUser
from tests.plugins.cluster import call, error, mcp_client
from tests.plugins.kwok import MakePods

pytestmark = pytest.mark.anyio
CORE_TOOLS = {"list_pods", "get_pod_logs", "list_events", "list_services"}
CLUSTER_TOOLS = {"list_api_resources", "list_namespaces", "check_access"}


async def test_core_and_cluster_tools_are_read_only(settings: Settings) -> None:
    async with mcp_client(settings.model_copy(update={"read_only": True})) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) >= CORE_TOOLS | CLUSTER_TOOLS
    for name in CORE_TOOLS | CLUSTER_TOOLS:
        annotations = tools[name].annotations
        assert annotations is not None
        assert annotations.read_only_hint is True, name  # (destructive is meaningless for a read-only tool)
        assert not annotations.destructive_hint, name
        assert tools[name].output_schema is not None, name


async def test_list_pods(settings: Settings, namespace: str, kwok_node: str, make_pods: MakePods, mode: str) -> None:
    await make_pods("web-1", "web-2", labels={"app": "web"})
    await make_pods("worker", containers=("app", "sidecar"), crash_loop="sidecar")
    async with mcp_client(settings, mode=mode) as c:
        listed = await call(c, "list_pods", namespace=namespace)
        web = await call(c, "list_pods", namespace=namespace, label_selector="app=web")
        on_node = await call(c, "list_pods", all_namespaces=True, field_selector=f"spec.nodeName={kwok_node}")
    assert listed["namespace"] == namespace
    rows = {r["name"]: r for r in listed["items"]}
    assert rows["web-1"] == {
        "name": "web-1",
        "phase": "Running",
        "ready": "1/1",
        "restarts": 0,
        "node": kwok_node,
        "age": rows["web-1"]["age"],
    }
    assert rows["worker"]["ready"] == "1/2"
    assert rows["worker"]["reason"].startswith("sidecar: CrashLoopBackOff")
    assert [r["name"] for r in web["items"]] == ["web-1", "web-2"]
    assert "namespace" not in on_node
    assert {(r["namespace"], r["name"]) for r in on_node["items"]} >= {(namespace, "web-1"), (namespace, "worker")}


async def test_list_pods_budget_cut_resumes(settings: Settings, namespace: str, make_pods: MakePods) -> None:
    names = [f"pod-{i:02d}" for i in range(30)]
    await make_pods(*names)
    small = settings.model_copy(update={"output_budget": 2_000})
    seen: list[str] = []
    pages = 0
    async with mcp_client(small) as c:
        token = None
        while True:
            args: dict[str, Any] = {"namespace": namespace, "limit": 12}
            if token:
                args["continue_token"] = token
            page = await call(c, "list_pods", **args)
            result = await c.call_tool("list_pods", args)
            assert len(result.content[0].text.encode()) <= 2_000  # type: ignore[union-attr]
            pages += 1
            seen += [r["name"] for r in page["items"]]
            token = page.get("continue_token")
            if not token:
                break
    assert seen == names
    assert pages > 30 / 12  # the budget cut pages the server's 12-row pages further


async def test_get_pod_logs(
    settings: Settings, namespace: str, kwok: sandbox.Kwok, make_pods: MakePods, mode: str
) -> None:
    await make_pods("logger", containers=("app", "sidecar"))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    kwok.write_logs([(old, "booting"), "ready", "serving /healthz"], container="app")
    kwok.write_logs(["panic: nil map"], container="app", previous=True)
    async with mcp_client(settings, mode=mode) as c:
        which = await error(c, "get_pod_logs", name="logger", namespace=namespace)
        everything = await call(c, "get_pod_logs", name="logger", namespace=namespace, container="app")
        tail = await call(c, "get_pod_logs", name="logger", namespace=namespace, container="app", tail_lines=1)
        recent = await call(c, "get_pod_logs", name="logger", namespace=namespace, container="app", since_seconds=300)
        capped = await call(c, "get_pod_logs", name="logger", namespace=namespace, container="app", limit_bytes=100)
        previous = await call(c, "get_pod_logs", name="logger", namespace=namespace, container="app", previous=True)
        missing = await error(c, "get_pod_logs", name="nobody", namespace=namespace)
    assert (
        which == f'Pod "logger" in namespace "{namespace}" has 2 containers: app, sidecar; pass container= one of them.'
    )
    assert everything == {
        "pod": "logger",
        "namespace": namespace,
        "container": "app",
        "previous": False,
        "text": "booting\nready\nserving /healthz\n",
        "truncated": False,
    }
    assert tail["text"] == "serving /healthz\n"
    assert recent["text"] == "ready\nserving /healthz\n"
    assert capped["truncated"] is False  # 31 bytes fit in 100
    assert previous["text"] == "panic: nil map\n"
    assert missing.startswith(f'Pod "nobody" in namespace "{namespace}" was not found')

    kwok.write_logs([f"request {i} " + "." * 80 for i in range(1_000)], container="app")
    small = settings.model_copy(update={"output_budget": 4_000})
    async with mcp_client(small) as c:
        big = await c.call_tool(
            "get_pod_logs", {"name": "logger", "namespace": namespace, "container": "app", "limit_bytes": 50_000}
        )
    assert big.structured_content is not None
    assert big.structured_content["truncated"] is True
    assert big.structured_content["text"].startswith("[truncated: ")
    assert big.structured_content["text"].endswith(f"request 999 {'.' * 80}\n")
    assert "limit_bytes was lowered" in big.structured_content["note"]
    assert len(big.content[0].text.encode()) <= 4_000  # type: ignore[union-attr]


async def test_list_events_for_a_custom_resource(
    settings: Settings, admin: client.ApiClient, namespace: str, crds: None
) -> None:
    widget = await client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "example.com",
        "v1",
        namespace,
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}},
    )
    involved = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "w1",
        "namespace": namespace,
        "uid": widget["metadata"]["uid"],
    }
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for i, (reason, kind) in enumerate(
        [("Reconciled", "Normal"), ("Reconciled", "Normal"), ("QuotaExceeded", "Warning")]
    ):
        await client.CoreV1Api(admin).create_namespaced_event(
            namespace,
            {
                "metadata": {"name": f"w1.{i}"},
                "involvedObject": involved,
                "reason": reason,
                "type": kind,
                "message": reason.lower(),
                "count": 2,
                "firstTimestamp": now,
                "lastTimestamp": now,
            },
        )
    async with mcp_client(settings) as c:
        found = await call(c, "list_events", plural="wg", name="w1", namespace=namespace)
        warnings = await call(c, "list_events", namespace=namespace, event_type="Warning")
        unknown = await error(c, "list_events", plural="gizmo", name="g", namespace=namespace)
    assert found["involved"] == "Widget/w1"
    assert found["namespace"] == namespace
    assert sorted((r["reason"], r["count"]) for r in found["items"]) == [("QuotaExceeded", 2), ("Reconciled", 4)]
    assert [r["reason"] for r in warnings["items"]] == ["QuotaExceeded"]
    assert "list_api_resources" in unknown


async def test_list_services(settings: Settings, admin: client.ApiClient, namespace: str) -> None:
    await client.CoreV1Api(admin).create_namespaced_service(
        namespace, {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    )
    async with mcp_client(settings) as c:
        listed = await call(c, "list_services", namespace=namespace)
    (row,) = listed["items"]
    assert (row["name"], row["type"], row["ports"], row["selector"]) == ("web", "ClusterIP", ["80/TCP"], {"app": "web"})
    assert "namespace" not in row


async def test_list_api_resources(settings: Settings, crds: None) -> None:
    async with mcp_client(settings) as c:
        example = await call(c, "list_api_resources", group="example.com")
        everything = await call(c, "list_api_resources")
    assert [(r["plural"], r["short_names"]) for r in example["items"]] == [
        ("clusterwidgets", ["cwg"]),
        ("widgets", ["wg", "wdg"]),
    ]
    assert everything["count"] == len(everything["items"]) > 40
    assert "truncated" not in everything


async def test_limited_user_check_access_matches_the_real_calls(
    settings: Settings, make_user: MakeUser, namespace: str, make_pods: MakePods, mode: str
) -> None:
    await make_pods("p1")
    kubeconfig = await make_user(rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
    limited = Settings(kubeconfig=kubeconfig)
    async with mcp_client(limited, mode=mode) as c:
        pods = await call(c, "check_access", verb="list", resource="pods")
        logs = await call(c, "check_access", verb="get", resource="pods/log", name="p1")
        services = await call(c, "check_access", verb="list", resource="svc")
        everywhere = await call(c, "check_access", verb="list", resource="pods", all_namespaces=True)

        assert (pods["allowed"], pods["namespace"]) == (True, namespace)  # the kubeconfig's namespace by default
        assert [p["name"] for p in (await call(c, "list_pods"))["items"]] == ["p1"]
        assert (logs["allowed"], logs["subresource"]) == (False, "log")
        assert "Forbidden" in await error(c, "get_pod_logs", name="p1", container="app")
        assert (services["allowed"], services["resource"]) == (False, "services")
        assert "Forbidden" in await error(c, "list_services")
        assert (everywhere["allowed"], "namespace" in everywhere) == (False, False)
        assert "Forbidden" in await error(c, "list_pods", all_namespaces=True)

        namespaces = await call(c, "list_namespaces")
    assert namespaces["source"] == "configured"
    assert [n["name"] for n in namespaces["items"]] == [namespace]
    assert "may not list namespaces" in namespaces["note"]

    async with mcp_client(settings) as c:
        admin_view = await call(c, "list_namespaces")
    assert admin_view["source"] == "api"
    assert namespace in [n["name"] for n in admin_view["items"]]
