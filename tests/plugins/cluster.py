"""Integration fixtures: an admin client, the test CRDs, a fresh namespace per test, limited users."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from mcp import Client

from mcp_k8s.server import build_server
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import (
    MakeUser,
    api_client,
    apply_test_crds,
    create_namespace,
    delete_namespace,
    grant,
    service_account_kubeconfig,
)
from tests.plugins.least_privilege import LeastPrivilege


@pytest.fixture
async def admin(cluster: TestCluster) -> AsyncIterator[client.ApiClient]:
    async with api_client(cluster.kubeconfig) as api:
        yield api


@pytest.fixture(scope="session")
async def crds(cluster: TestCluster) -> None:
    """The test CRDs, applied once per session and left in place (their types are shared, objects are not)."""
    async with api_client(cluster.kubeconfig) as api:
        await apply_test_crds(api)


@pytest.fixture
async def namespace(admin: client.ApiClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace for this test alone; the sandbox's namespace controller removes it (and what is in it) after."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:20].strip("-") or "t"
    name = await create_namespace(admin, prefix)
    yield name
    await delete_namespace(admin, name)


@pytest.fixture
def make_user(cluster: TestCluster, admin: client.ApiClient, namespace: str, tmp_path: Path) -> MakeUser:
    """Make a ServiceAccount in the test namespace with exactly these rules and return its kubeconfig."""

    async def make(
        name: str = "limited",
        rules: list[dict[str, Any]] | None = None,
        cluster_rules: list[dict[str, Any]] | None = None,
    ) -> Path:
        subject = {"kind": "ServiceAccount", "name": name, "namespace": namespace}
        if rules:
            await grant(admin, namespace, f"{name}-role", rules, subject=subject)
        if cluster_rules:
            await grant(admin, namespace, f"{namespace}-{name}", cluster_rules, subject=subject, cluster=True)
        return await service_account_kubeconfig(admin, cluster.kubeconfig, namespace, name, tmp_path / f"{name}.yaml")

    return make


@pytest.fixture
async def settings(
    cluster: TestCluster,
    admin: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    least_privilege: LeastPrivilege | None,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Settings]:
    """Server settings pointed at the test cluster: admin credentials, or under `MCP_K8S_TEST_AS` those of a
    ServiceAccount bound only to the generated RBAC (tests/plugins/least_privilege.py). Tests that make their own
    limited users (`make_user`) keep the admin's settings to start from."""
    if least_privilege is None or "make_user" in request.fixturenames:
        yield Settings(kubeconfig=cluster.kubeconfig)
        return
    async with least_privilege.settings(admin, namespace, tmp_path) as limited:
        yield limited


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: auto negotiates 2026-07-28, legacy speaks 2025-11-25."""
    mode: str = request.param
    return mode


@asynccontextmanager
async def mcp_client(settings: Settings, **kwargs: Any) -> AsyncIterator[Client]:
    """An in-memory MCP client connected to a fresh server (its lifespan runs per client)."""
    async with Client(build_server(settings), **kwargs) as c:
        yield c


async def call(c: Client, tool: str, **args: Any) -> dict[str, Any]:
    """A tool call that must succeed; its structured content."""
    result = await c.call_tool(tool, args)
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


async def error(c: Client, tool: str, **args: Any) -> str:
    """A tool call that must fail; the one-sentence message after the SDK's prefix."""
    result = await c.call_tool(tool, args)
    assert result.is_error, result.structured_content
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"Error executing tool {tool}: ")
    assert "Traceback" not in text
    return text.split(": ", 1)[1]
