"""The README's first command, `mcp-k8s serve --sandbox --demo`, over stdio: the server answers `initialize` at once,
and the scene has something for every first question (pods running and crash-looping, their logs, the crash's
Warning events, custom resources with conditions, a Secret whose value never shows)."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.cluster import TestCluster, _alive
from tests.e2e.test_serve_sandbox import sandbox_pids
from tests.plugins.cluster import call

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def _pods(c: Client) -> dict[str, dict[str, Any]]:
    """Pod rows by `namespace/name`, once the demo's four pods are there."""
    with anyio.fail_after(120):
        while True:
            rows = (await call(c, "list_pods", all_namespaces=True))["items"]
            by_key = {f"{r['namespace']}/{r['name']}": r for r in rows}
            crashing = [r for r in rows if "CrashLoopBackOff" in (r.get("reason") or "")]
            if sum(r["phase"] == "Running" and r["ready"] == "1/1" for r in rows) >= 3 and crashing:
                return by_key
            await anyio.sleep(1)


async def test_serve_sandbox_demo_answers_the_first_questions(serve_stdio: Any, cluster: TestCluster) -> None:
    if cluster.external:
        pytest.skip("needs the local control-plane binaries")
    before = sandbox_pids()
    started = time.monotonic()
    async with serve_stdio("--sandbox", "--demo") as (c, served):
        initialized = time.monotonic() - started
        # `initialize` was answered while the cluster was still starting (it takes seconds more): no waiting for it.
        assert "local control plane ready" not in served.stderr
        pods = await _pods(c)
        storefront = sorted(k for k in pods if k.startswith("shop/storefront-"))
        (worker,) = [k for k in pods if k.startswith("batch/order-worker-")]
        assert len(storefront) == 3
        assert pods[worker]["reason"].startswith("worker: CrashLoopBackOff")
        logs = await call(c, "get_pod_logs", name=storefront[0].split("/")[1], namespace="shop", tail_lines=5)
        assert len(logs["text"].splitlines()) == 5
        assert "GET /" in logs["text"]
        recent = await call(c, "get_pod_logs", name=storefront[0].split("/")[1], namespace="shop", since_seconds=60)
        assert 0 < len(recent["text"].splitlines()) < 40  # the seeded history goes back 15 minutes
        previous = await call(c, "get_pod_logs", name=worker.split("/")[1], namespace="batch", previous=True)
        assert "fatal: cannot reach the orders database" in previous["text"]
        events = await call(c, "list_events", namespace="batch")
        assert any(e["type"] == "Warning" and e["reason"] == "BackOff" for e in events["items"]), events
        backups = await call(c, "list_custom_resources", plural="backups", namespace="shop")
        assert len(backups["items"]) == 4
        failing = await call(c, "get_custom_resource", plural="bk", name="sessions-hourly", namespace="shop")
        assert "TargetUnreachable" in str(failing)
        secret = await c.call_tool("get_secret", {"name": "storefront-db", "namespace": "shop"})
        assert not secret.is_error
        services = await call(c, "list_services", namespace="shop")
        assert [s["name"] for s in services["items"]] == ["storefront"]
        mine = sandbox_pids() - before
        assert len(mine) == 5  # etcd, kube-apiserver, controller manager, scheduler, KWOK
    print(f"serve --sandbox --demo: initialize answered after {initialized:.1f}s (process start included)")
    everything = served.stdout_copy.read_text() + served.stderr
    assert "demo-not-a-real-password" not in everything
    assert "ZGVtby1ub3QtYS1yZWFsLXBhc3N3b3Jk" not in everything  # nor its base64
    assert not [pid for pid in mine if _alive(pid)]
