"""The chart's pod in a kind cluster, over HTTP through `kubectl port-forward` (`nox -s kind` sets it up).

The pod runs the built image with its own ServiceAccount and the chart's generated RBAC; callers authenticate with a
token from `kubectl create token`. Only `nox -s kind` selects these tests (marker `kind`).
"""

from __future__ import annotations

import os

import anyio
import pytest
from kubernetes_asyncio import client

from tests.integration.custom_resources.test_cache_tools import create
from tests.plugins.cluster import call
from tests.security.test_http import mcp_as, post_initialize

pytestmark = [pytest.mark.anyio, pytest.mark.kind]


@pytest.fixture
def endpoint() -> tuple[str, str]:
    url, token = os.environ.get("MCP_K8S_TEST_MCP_URL"), os.environ.get("MCP_K8S_TEST_MCP_TOKEN")
    if not url or not token:
        pytest.fail("needs MCP_K8S_TEST_MCP_URL and MCP_K8S_TEST_MCP_TOKEN: run it through `nox -s kind`")
    return url, token


async def test_pod_serves_the_cache_with_its_own_identity(
    endpoint: tuple[str, str], crds: None, namespace: str, admin: client.ApiClient
) -> None:
    url, token = endpoint
    await create(admin, namespace, "in-kind", size=1)
    async with mcp_as(url, token) as c:
        with anyio.fail_after(30):
            while True:
                listed = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
                if [i["name"] for i in listed["items"]] == ["in-kind"]:
                    break
                await anyio.sleep(0.5)
        assert listed["source"] == "cache"
        # The pod's ServiceAccount has the generated ClusterRole: widgets yes, configmaps no.
        assert (await call(c, "check_access", verb="list", resource="configmaps"))["allowed"] is False
        assert (await call(c, "check_access", verb="create", resource="widgets.example.com"))["allowed"] is True


async def test_pod_refuses_callers_without_a_token(endpoint: tuple[str, str]) -> None:
    url, _ = endpoint
    response = await post_initialize(url, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
