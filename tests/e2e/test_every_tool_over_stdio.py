"""Every tool through the real `mcp-k8s serve` process over stdio, with a canary secret planted: its value must never
appear in any byte the server writes to stdout or stderr."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import ElicitResult

from tests.canary import CANARY, assert_not_leaked
from tests.cluster import TestCluster
from tests.plugins.cluster import call, error
from tests.plugins.kwok import MakePods

pytestmark = pytest.mark.anyio


async def accept(_ctx: Any, _params: Any) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_tool_over_stdio(
    serve_stdio: Any, cluster: TestCluster, crds: None, namespace: str, make_pods: MakePods, kwok: Any, mode: str
) -> None:
    (pod,) = await make_pods("web-0", containers=("app",))
    kwok.write_logs(["starting", "listening on :8080", "ready"], container="app")
    args = [
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        namespace,
        "--log-level",
        "debug",
        "--log-format",
        "json",
    ]
    used: set[str] = set()
    async with serve_stdio(*args, mode=mode, elicitation_callback=accept) as (c, served):
        tools = {t.name for t in (await c.list_tools()).tools}

        async def ok(tool: str, **arguments: Any) -> dict[str, Any]:
            used.add(tool)
            return await call(c, tool, **arguments)

        # Secrets first, so the canary is in the cluster while everything else runs.
        await ok("create_secret", name="canary", data={"password": CANARY}, generate=["token"])
        listed = await ok("list_secrets")
        assert [s["name"] for s in listed["items"]] == ["canary"]
        got = await ok("get_secret", name="canary")
        assert {k["key"] for k in got["keys"]} == {"password", "token"}
        await ok("update_secret", name="canary", data={"extra": "not-the-canary"})
        # Custom resources, the cache and its tools.
        await ok("create_custom_resource", plural="Widget", body={"metadata": {"name": "w"}, "spec": {"size": 1}})
        await ok("patch_custom_resource", plural="wg", name="w", patch={"spec": {"size": 2}})
        await ok(
            "patch_custom_resource",
            plural="wg",
            name="w",
            subresource="status",
            patch={"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ok"}]}},
        )
        assert (await ok("list_custom_resources", plural="wg"))["items"][0]["name"] == "w"
        assert (await ok("get_custom_resource", plural="wg", name="w", describe=True))["object"]["spec"]["size"] == 2
        assert (await ok("wait_for_custom_resource", plural="wg", name="w", condition="Ready", timeout_seconds=10))[
            "met"
        ] is True
        assert (await ok("recent_changes", plural="wg", since_seconds=600))["resource"] == "widgets.example.com/v1"
        # Core and cluster.
        pods = await ok("list_pods")
        assert [p["name"] for p in pods["items"]] == [pod]
        logs = await ok("get_pod_logs", name=pod, tail_lines=2)
        assert logs["text"].splitlines()[-2:] == ["listening on :8080", "ready"]
        await ok("list_events")
        await ok("list_services")
        assert any(r["plural"] == "widgets" for r in (await ok("list_api_resources", group="example.com"))["items"])
        assert namespace in [n["name"] for n in (await ok("list_namespaces"))["items"]]
        assert (await ok("check_access", verb="delete", resource="widgets", group="example.com"))["allowed"] is True
        # Destructive tools, confirmed through elicitation by the client.
        assert (await ok("delete_custom_resource", plural="wg", name="w"))["deleted"] is True
        assert (await ok("delete_secret", name="canary"))["deleted"] is True
        assert "was not found" in await error(c, "get_secret", name="canary")
    assert used == tools, f"not exercised over stdio: {sorted(tools - used)}"
    served.protocol_messages()  # every stdout byte is protocol
    assert_not_leaked(served.stdout_copy.read_text(), CANARY)
    assert_not_leaked(served.stderr, CANARY)
    assert '"tool": "create_secret"' in served.stderr
