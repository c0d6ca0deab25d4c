"""`mcp-k8s watch`: the daemon's JSON event stream, /healthz /readyz /metrics, MCP over HTTP on its cache, and a
clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from mcp import Client

from mcp_k8s.sandbox import free_port
from tests.cluster import TestCluster
from tests.integration.custom_resources.test_cache_tools import create

pytestmark = pytest.mark.anyio


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback http)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_watch_daemon(cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient) -> None:
    health, http = free_port(), free_port()
    argv = [
        sys.executable,
        "-m",
        "mcp_k8s",
        "watch",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--watch",
        "widgets.example.com/v1",
        "--health-port",
        str(health),
        "--http",
        f"127.0.0.1:{http}",
    ]
    records: list[dict[str, Any]] = []
    async with await anyio.open_process(argv) as process:
        assert process.stdout is not None

        async def read_stdout() -> None:
            buffer = b""
            async for chunk in process.stdout:  # type: ignore[union-attr]
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                records.extend(json.loads(line) for line in lines if line)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_stdout)
            with anyio.fail_after(30):
                while True:
                    try:
                        status, body = await anyio.to_thread.run_sync(get, f"http://127.0.0.1:{health}/readyz")
                    except OSError:
                        status, body = 0, ""
                    if status == 200:
                        break
                    await anyio.sleep(0.2)
            assert json.loads(body)["types"]["widgets.example.com/v1"]["synced"] is True
            assert (await anyio.to_thread.run_sync(get, f"http://127.0.0.1:{health}/healthz"))[0] == 200

            await create(admin, namespace, "from-api", size=1)
            with anyio.fail_after(10):
                while not any(r.get("name") == "from-api" for r in records):
                    await anyio.sleep(0.05)
            added = next(r for r in records if r.get("name") == "from-api")
            assert added["event"] == "change"
            assert added["type"] == "ADDED"
            assert added["namespace"] == namespace
            assert added["resource"] == "widgets.example.com/v1"
            assert any(r["event"] == "status" and r["status"] == "live" for r in records)

            status, text = await anyio.to_thread.run_sync(get, f"http://127.0.0.1:{health}/metrics")
            assert status == 200
            assert 'mcp_k8s_cache_synced{resource="widgets.example.com/v1"} 1' in text
            assert 'mcp_k8s_cache_events_total{resource="widgets.example.com/v1",type="ADDED"}' in text

            async with Client(f"http://127.0.0.1:{http}/mcp") as c:
                result = await c.call_tool("list_custom_resources", {"plural": "wg", "namespace": namespace})
                assert result.structured_content is not None, result.content
                assert result.structured_content["source"] == "cache"
                assert [i["name"] for i in result.structured_content["items"]] == ["from-api"]

            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                assert await process.wait() == 0
            tg.cancel_scope.cancel()


async def test_watch_without_types_is_a_usage_error(cluster: TestCluster) -> None:
    result = await anyio.run_process([sys.executable, "-m", "mcp_k8s", "watch"], check=False)
    assert result.returncode == 2
    assert b"needs at least one --watch" in result.stderr
    assert result.stdout == b""
