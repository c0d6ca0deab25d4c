"""KWOK with an in-process control plane: its certificate from the sandbox CA, logs served, a clean stop."""

from __future__ import annotations

import os

import anyio
import pytest
from kubernetes_asyncio import client

from mcp_k8s import sandbox
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.pods import pod_logs
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster, _alive
from tests.kube import api_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_kwok_serves_logs_for_an_in_process_control_plane_and_stops_with_it(cluster: TestCluster) -> None:
    if cluster.external:
        pytest.skip("needs the local binaries")
    environ = dict(os.environ)
    async with sandbox.start_control_plane(environ) as plane:
        async with sandbox.start_kwok(environ, kubeconfig=plane.admin_kubeconfig, ca=plane.ca) as kwok:
            kwok_pid, kwok_dir = kwok.pid, kwok.workdir
            assert kwok_pid is not None
            assert _alive(kwok_pid)
            async with api_client(plane.admin_kubeconfig) as api:
                v1 = client.CoreV1Api(api)
                await v1.create_node(sandbox.kwok_node("node-a"))
                await v1.create_namespaced_pod("default", sandbox.kwok_pod("hello", "node-a"))
                with anyio.fail_after(60):
                    while True:
                        if (await v1.read_namespaced_pod("hello", "default")).status.phase == "Running":
                            break
                        await anyio.sleep(0.1)
                node = await v1.read_node("node-a")
                assert node.status.daemon_endpoints.kubelet_endpoint.port == kwok.port
                assert [(a.type, a.address) for a in node.status.addresses] == [
                    ("InternalIP", "127.0.0.1"),
                    ("Hostname", "node-a"),
                ]
            kwok.write_logs(["hello from kwok"], container="app")
            kube = KubeClient(Settings(kubeconfig=plane.admin_kubeconfig))
            try:
                logs = await pod_logs(kube, "default", "hello")
            finally:
                await kube.aclose()
            assert logs.text == "hello from kwok\n"
        assert not _alive(kwok_pid)
        assert not kwok_dir.exists()
        plane_pids = plane.pids
    assert not any(_alive(p) for p in plane_pids)
