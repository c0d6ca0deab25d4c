"""`mcp-k8s rbac` output applied to the real API server: the server runs on exactly those rights, and they suffice
for its tools (and nothing more)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
import yaml
from kubernetes_asyncio import client

from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import apply_rbac, service_account_kubeconfig
from tests.plugins.cluster import call, error, mcp_client

pytestmark = pytest.mark.anyio


async def test_generated_rbac_is_enough_and_no_more(
    cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient, tmp_path: Path
) -> None:
    flags = ["--watch", "widgets.example.com/v1", "--allowed-namespaces", namespace]
    argv = [sys.executable, "-m", "mcp_k8s", "rbac", *flags, "--service-account", "agent"]
    result = await anyio.run_process([*argv, "--service-account-namespace", namespace])
    printed = result.stdout.decode()
    docs = [d for d in yaml.safe_load_all(printed) if d]
    kinds = ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"]
    assert [d["kind"] for d in docs] == kinds
    # Cluster-wide, only reading the watched type's own definition (its printer columns).
    assert docs[3]["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": ["widgets.example.com"],
            "verbs": ["get"],
        }
    ]
    await apply_rbac(admin, docs)
    kubeconfig = await service_account_kubeconfig(
        admin, cluster.kubeconfig, namespace, "agent", tmp_path / "agent.yaml"
    )
    settings = Settings(kubeconfig=kubeconfig, watch=("widgets.example.com/v1",), allowed_namespaces=(namespace,))
    async with mcp_client(settings) as c:
        await call(c, "create_custom_resource", plural="wg", body={"metadata": {"name": "w"}, "spec": {"size": 1}})
        await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="w",
            subresource="status",
            patch={"status": {"phase": "Ready"}},
        )
        listed = await call(c, "list_custom_resources", plural="wg")
        assert [i["name"] for i in listed["items"]] == ["w"]
        await call(c, "create_secret", name="s", generate=["token"])
        assert [s["name"] for s in (await call(c, "list_secrets"))["items"]] == ["s"]
        await call(c, "list_pods")
        await call(c, "list_events")
        await call(c, "list_services")
        await call(c, "delete_custom_resource", plural="wg", name="w", force=True)
        # Nothing beyond what the tools need: configmaps were never granted.
        denied = await call(c, "check_access", verb="list", resource="configmaps")
        assert denied["allowed"] is False
        text = await error(c, "list_custom_resources", plural="configmaps")
        assert text.startswith(f'Forbidden: user "system:serviceaccount:{namespace}:agent" may not list configmaps')
