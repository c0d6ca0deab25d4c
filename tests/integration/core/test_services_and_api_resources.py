"""Service rows and API resource rows from the real API server."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, api_resources
from mcp_k8s.kube.services import list_services

pytestmark = pytest.mark.anyio


async def test_service_rows(kube: KubeClient, admin: client.ApiClient, namespace: str) -> None:
    api = client.CoreV1Api(admin)
    for body in (
        {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
        {
            "metadata": {"name": "edge"},
            "spec": {
                "type": "NodePort",
                "selector": {"app": "edge"},
                "ports": [{"name": "https", "port": 443, "targetPort": "https", "nodePort": 30443}],
            },
        },
        {
            "metadata": {"name": "peers"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
        },
        {"metadata": {"name": "upstream"}, "spec": {"type": "ExternalName", "externalName": "example.org"}},
    ):
        await api.create_namespaced_service(namespace, body)

    page = await list_services(kube, namespace)
    rows = {r.name: r for r in page.items}

    web = rows["web"]
    assert (web.type, web.ports, web.selector, web.external) == ("ClusterIP", ["http:80→8080/TCP"], {"app": "web"}, [])
    assert web.cluster_ip is not None
    assert web.cluster_ip.startswith("10.0.0.")
    assert (rows["edge"].type, rows["edge"].ports) == ("NodePort", ["https:443:30443→https/TCP"])
    assert (rows["peers"].cluster_ip, rows["peers"].ports) == ("None (headless)", ["5432/TCP"])
    assert (rows["upstream"].type, rows["upstream"].external, rows["upstream"].selector) == (
        "ExternalName",
        ["example.org"],
        None,
    )
    labelled = await list_services(kube, namespace, label_selector="app=web")
    assert [r.name for r in labelled.items] == ["web"]


async def test_api_resource_rows(discovery: Discovery, crds: None) -> None:
    example = await api_resources(discovery, group="example.com")
    assert [(r.plural, r.version, r.kind, r.namespaced) for r in example] == [
        ("clusterwidgets", "v1", "ClusterWidget", False),
        ("widgets", "v1", "Widget", True),
    ]
    widgets = example[1]
    assert widgets.short_names == ["wg", "wdg"]
    assert {"get", "list", "watch", "create", "patch", "delete"} <= set(widgets.verbs)

    every_version = await api_resources(discovery, group="example.com", all_versions=True)
    assert [(r.plural, r.version) for r in every_version if r.plural == "widgets"] == [
        ("widgets", "v1"),
        ("widgets", "v1beta1"),
    ]
    core_rows = await api_resources(discovery, group="core")
    pods = next(r for r in core_rows if r.plural == "pods")
    assert (pods.group, pods.version, pods.kind, pods.short_names) == ("", "v1", "Pod", ["po"])
    assert {r.group for r in core_rows} == {""}
    everything = await api_resources(discovery)
    assert {"", "apps", "example.com", "rbac.authorization.k8s.io"} <= {r.group for r in everything}
