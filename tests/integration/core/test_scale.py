"""A namespace with 500 pods on a KWOK node: how big the list_pods answers are (recorded, and bounded)."""

from __future__ import annotations

import time

import pytest
from kubernetes_asyncio import client
from pydantic import TypeAdapter

from mcp_k8s import errors, sandbox
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.pods import PodRow, list_pods
from mcp_k8s.settings import DEFAULT_OUTPUT_BUDGET, Settings
from tests.plugins.cluster import mcp_client
from tests.plugins.kwok import create_pods, wait_pods_started

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PODS = 500

ROWS = TypeAdapter(list[PodRow])


async def test_500_pods_list_sizes(
    kube: KubeClient,
    settings: Settings,
    admin: client.ApiClient,
    namespace: str,
    kwok_node: str,
    record_property: pytest.RecordProperty,
) -> None:
    started = time.monotonic()
    manifests = [
        sandbox.kwok_pod(f"pod-{i:03d}", kwok_node, labels={"app": "load", "shard": str(i % 10)})
        for i in range(PODS - 5)
    ]
    manifests += [
        sandbox.kwok_pod(f"crashing-{i}", kwok_node, containers=("app", "sidecar"), crash_loop="sidecar")
        for i in range(5)
    ]
    await create_pods(admin, namespace, manifests, concurrency=16)
    created = time.monotonic()
    await wait_pods_started(admin, namespace, PODS, timeout=240)
    running = time.monotonic()

    raw = await kube.request(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods",
        op=errors.Operation(verb="list", resource="pods", namespace=namespace),
        raw=True,
    )
    everything = await list_pods(kube, namespace)
    page = await list_pods(kube, namespace, limit=50)
    shard = await list_pods(kube, namespace, label_selector="shard=3")
    sizes = {
        "raw_list_bytes": len(raw),
        "summary_500_bytes": len(ROWS.dump_json(everything.items, exclude_none=True)),
        "summary_page_50_bytes": len(ROWS.dump_json(page.items, exclude_none=True)),
        "summary_shard_bytes": len(ROWS.dump_json(shard.items, exclude_none=True)),
    }
    for key, value in sizes.items():
        record_property(key, value)
    record_property("create_seconds", round(created - started, 1))
    record_property("running_seconds", round(running - created, 1))
    print(f"\n500 pods: {sizes}; created in {created - started:.1f}s, started by KWOK {running - created:.1f}s later")

    assert len(everything.items) == PODS
    assert sum(1 for r in everything.items if r.reason) == 5
    assert all(r.phase == "Running" for r in everything.items)
    assert len(page.items) == 50
    assert page.remaining == PODS - 50
    assert len(shard.items) == 50
    # A 50-row page (the tools' default limit) fits the default answer budget with room to spare; the full
    # summary is ~30x smaller than the raw list it was made from.
    assert sizes["summary_page_50_bytes"] < DEFAULT_OUTPUT_BUDGET / 2
    assert sizes["summary_500_bytes"] * 10 < sizes["raw_list_bytes"]

    # Through MCP, as a model sees it: every answer within the budget, every pod reachable by continue tokens.
    answer_sizes: list[int] = []
    seen: list[str] = []
    async with mcp_client(settings) as c:
        default_page = await c.call_tool("list_pods", {"namespace": namespace})
        token = None
        while True:
            args = {"namespace": namespace, "limit": 500, **({"continue_token": token} if token else {})}
            result = await c.call_tool("list_pods", args)
            assert not result.is_error
            assert result.structured_content is not None
            answer_sizes.append(len(result.content[0].text.encode()))  # type: ignore[union-attr]
            seen += [r["name"] for r in result.structured_content["items"]]
            token = result.structured_content.get("continue_token")
            if not token:
                break
    default_size = len(default_page.content[0].text.encode())  # type: ignore[union-attr]
    record_property("mcp_list_pods_default_limit_bytes", default_size)
    record_property("mcp_list_pods_limit_500_answer_bytes", answer_sizes)
    print(f"MCP list_pods: default limit (50) {default_size} bytes; limit=500 answers {answer_sizes} bytes")
    assert sorted(seen) == sorted(m["metadata"]["name"] for m in manifests)
    assert max(answer_sizes) <= DEFAULT_OUTPUT_BUDGET
    assert default_size <= DEFAULT_OUTPUT_BUDGET

    await client.CoreV1Api(admin).delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
