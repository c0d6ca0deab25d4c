"""The foundation against the real control plane: CRUD, CRDs, RBAC 403s, and clean sandbox shutdown."""

from __future__ import annotations

import os

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s import sandbox
from tests.cluster import TestCluster, _alive
from tests.kube import MakeUser, api_client, apply_crd, unique, wait_root_ca

pytestmark = pytest.mark.anyio


async def test_server_reports_the_pinned_version(cluster: TestCluster) -> None:
    from mcp_k8s.sandbox.binaries import KUBERNETES_VERSION

    if cluster.external:
        pytest.skip("an external cluster runs its own version")
    assert cluster.git_version == KUBERNETES_VERSION


async def test_namespaced_object_create_read_delete(admin: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(admin)
    created = await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "cm"}, "data": {"greeting": "hello"}}
    )
    assert created.metadata.resource_version
    read = await core.read_namespaced_config_map("cm", namespace)
    assert read.data == {"greeting": "hello"}
    assert read.metadata.uid == created.metadata.uid
    await core.delete_namespaced_config_map("cm", namespace)
    with pytest.raises(ApiException) as err:
        await core.read_namespaced_config_map("cm", namespace)
    assert err.value.status == 404


async def test_crd_established_then_custom_resource(admin: client.ApiClient, namespace: str) -> None:
    plural = unique("gadgets").replace("-", "")
    body = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.test.mcp-k8s.io"},
        "spec": {
            "group": "test.mcp-k8s.io",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Gadget" + plural[-6:]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    crd = await apply_crd(admin, body)
    assert {"type": "Established", "status": "True"}.items() <= next(
        c for c in crd["status"]["conditions"] if c["type"] == "Established"
    ).items()
    objects = client.CustomObjectsApi(admin)
    created = await objects.create_namespaced_custom_object(
        "test.mcp-k8s.io",
        "v1",
        namespace,
        plural,
        {
            "apiVersion": "test.mcp-k8s.io/v1",
            "kind": body["spec"]["names"]["kind"],
            "metadata": {"name": "g1"},
            "spec": {"x": 1},
        },
    )
    assert created["spec"] == {"x": 1}
    listed = await objects.list_namespaced_custom_object("test.mcp-k8s.io", "v1", namespace, plural)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["g1"]
    await client.ApiextensionsV1Api(admin).delete_custom_resource_definition(body["metadata"]["name"])


async def test_limited_user_gets_a_real_403(make_user: MakeUser, namespace: str, admin: client.ApiClient) -> None:
    kubeconfig = await make_user(rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
    await wait_root_ca(admin, namespace)
    async with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        listed = await core.list_namespaced_config_map(namespace)
        # Every namespace gets the cluster's CA bundle from the root-CA publisher (a controller-manager controller).
        assert [c.metadata.name for c in listed.items] == ["kube-root-ca.crt"]
        with pytest.raises(ApiException) as err:
            await core.list_namespaced_secret(namespace)
        assert err.value.status == 403
        with pytest.raises(ApiException) as err:
            await core.create_namespaced_config_map(namespace, {"metadata": {"name": "nope"}})
        assert err.value.status == 403


async def test_in_process_control_plane_stops_cleanly(cluster: TestCluster) -> None:
    if cluster.external:
        pytest.skip("needs the local binaries")
    async with sandbox.start_control_plane(dict(os.environ)) as plane:
        pids = plane.pids
        workdir = plane.workdir
        assert len(pids) == 2
        assert all(_alive(p) for p in pids)
        version = await plane.version()
        assert version["gitVersion"].startswith("v1.")
    assert not any(_alive(p) for p in pids)
    assert not workdir.exists()
