"""Core fixtures: KWOK playing kubelet for the session cluster, one fake node, pods bound to it, a kube client.

The session cluster is a `mcp-k8s sandbox` subprocess, so KWOK is started here, from the test process, with the same
`sandbox.start_kwok` helper the in-process control plane uses, pointed at the cluster's admin kubeconfig. Starting it
here (the sandbox subprocess runs with `--nodes 0`) starts KWOK only when tests need nodes, and lets the tests write
the log files that KWOK serves. KWOK's serving certificate comes from a CA of its own: the
sandbox keeps its CA key in memory, and the API server does not verify kubelet certificates without
--kubelet-certificate-authority. An external cluster (kind) cannot reach a KWOK on our loopback, so KWOK-backed tests
skip there.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s import sandbox
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import api_client

MakePods = Callable[..., Awaitable[list[str]]]


@pytest.fixture(scope="session")
async def kwok(cluster: TestCluster) -> AsyncIterator[sandbox.Kwok]:
    if cluster.external:
        pytest.skip("KWOK listens on this machine's loopback, which an external cluster's API server cannot reach")
    async with sandbox.start_kwok(dict(os.environ), kubeconfig=cluster.kubeconfig) as running:
        yield running


@pytest.fixture(scope="session")
async def kwok_node(cluster: TestCluster, kwok: sandbox.Kwok) -> AsyncIterator[str]:
    """One fake node for the session, Ready before any test uses it."""
    name = f"kwok-{secrets.token_hex(3)}"
    async with api_client(cluster.kubeconfig) as api:
        core = client.CoreV1Api(api)
        await core.create_node(sandbox.kwok_node(name))
        with anyio.fail_after(60):
            while True:
                node = await core.read_node(name)
                if any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or [])):
                    break
                await anyio.sleep(0.1)
    yield name
    async with api_client(cluster.kubeconfig) as api:
        try:
            await client.CoreV1Api(api).delete_node(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


async def create_pods(
    api: client.ApiClient,
    namespace: str,
    manifests: Sequence[dict[str, Any]],
    *,
    concurrency: int = 16,
) -> None:
    """Create pods with bounded concurrency (two shared cores: more in flight only queues in the API server)."""
    core = client.CoreV1Api(api)
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with limiter:
            await core.create_namespaced_pod(namespace, body)

    async with anyio.create_task_group() as tg:
        for body in manifests:
            tg.start_soon(one, body)


async def wait_pods_started(api: client.ApiClient, namespace: str, count: int, timeout: float = 120) -> None:
    """Until `count` pods in the namespace have a pod IP (KWOK has played their first stage)."""
    core = client.CoreV1Api(api)
    with anyio.fail_after(timeout):
        while True:
            pods = await core.list_namespaced_pod(namespace)
            if sum(1 for p in pods.items if p.status and p.status.pod_ip) >= count:
                return
            await anyio.sleep(0.2)


@pytest.fixture
def make_pods(admin: client.ApiClient, namespace: str, kwok_node: str) -> MakePods:
    """Create pods on the KWOK node in the test namespace and wait until KWOK has started them."""

    async def make(
        *names: str,
        containers: Sequence[str] = ("app",),
        labels: dict[str, str] | None = None,
        crash_loop: str | None = None,
    ) -> list[str]:
        manifests = [
            sandbox.kwok_pod(n, kwok_node, containers=containers, labels=labels, crash_loop=crash_loop) for n in names
        ]
        before = len((await client.CoreV1Api(admin).list_namespaced_pod(namespace)).items)
        await create_pods(admin, namespace, manifests)
        await wait_pods_started(admin, namespace, before + len(names))
        return list(names)

    return make


@pytest.fixture
async def kube(cluster: TestCluster) -> AsyncIterator[KubeClient]:
    """Our own client, as admin, exactly as the server builds it."""
    kube = KubeClient(Settings(kubeconfig=cluster.kubeconfig))
    try:
        yield kube
    finally:
        await kube.aclose()


@pytest.fixture
def discovery(kube: KubeClient) -> Discovery:
    return Discovery(kube)
