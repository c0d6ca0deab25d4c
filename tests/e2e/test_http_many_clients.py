"""One cache for many clients: MCP clients over streamable HTTP share one `mcp-k8s watch --http` daemon's watches.

A smaller version of `nox -s bench -- load`: 2 and then 20 clients, 200 concurrent calls, 0 errors, and /metrics
shows one open WATCH and one LIST per type however many clients there are.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from kubernetes_asyncio import client
from mcp import Client

from tests.cluster import TestCluster
from tests.daemons import Daemon, mcp_http_client, watch_daemon
from tests.integration.custom_resources.test_cache_tools import create

pytestmark = pytest.mark.anyio

WATCH = ("widgets.example.com/v1", "clusterwidgets.example.com/v1")


async def one_watch_and_one_list_per_type(daemon: Daemon) -> None:
    metrics = await daemon.metrics()
    assert await daemon.watches_active() == dict.fromkeys(WATCH, 1.0)
    lists = [(dict(labels), count) for (name, labels), count in metrics.items() if name == "mcp_k8s_cache_lists_total"]
    assert sorted(labels["resource"] for labels, _ in lists) == sorted(WATCH)
    assert all(count == 1 for _, count in lists), lists


async def concurrent_gets(
    url: str, clients: int, calls: int, namespace: str, token: str | None = None
) -> list[dict[str, Any]]:
    """`calls` get_custom_resource calls in flight at once over `clients` HTTP clients; every one must succeed."""
    errors: list[str] = []
    answers: list[dict[str, Any]] = []

    async def get(c: Client, i: int) -> None:
        result = await c.call_tool(
            "get_custom_resource", {"plural": "wg", "namespace": namespace, "name": f"w-{i % 10}"}
        )
        if result.is_error or result.structured_content is None:
            errors.append(str(result.content))
        else:
            answers.append(result.structured_content)

    async with AsyncExitStack() as stack:
        connected = [await stack.enter_async_context(mcp_http_client(url, token=token)) for _ in range(clients)]
        async with anyio.create_task_group() as tg:
            for i in range(calls):
                tg.start_soon(get, connected[i % clients], i)
    assert errors == []
    return answers


@pytest.mark.parametrize("auth", ["none", "token-file"])
async def test_many_clients_share_one_watch_per_type(
    cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient, tmp_path: Path, auth: str
) -> None:
    for i in range(10):
        await create(admin, namespace, f"w-{i}", size=i)
    token, extra = None, []
    if auth == "token-file":
        token = secrets.token_urlsafe(24)
        (tmp_path / "tokens.csv").write_text(f"{token},many-clients\n")
        extra = ["--auth", "token-file", "--auth-token-file", str(tmp_path / "tokens.csv")]
    async with watch_daemon(cluster.kubeconfig, WATCH, tmp_path, *extra) as daemon:
        for clients, calls in ((2, 20), (20, 200)):
            answers = await concurrent_gets(daemon.mcp_url, clients, calls, namespace, token)
            assert len(answers) == calls
            assert {a["source"] for a in answers} == {"cache"}
            await one_watch_and_one_list_per_type(daemon)
        if token is not None:  # the same endpoint without the token: refused, so the clients above did authenticate
            async with aiohttp.ClientSession() as http, http.post(daemon.mcp_url, json={}) as response:
                assert response.status == 401
