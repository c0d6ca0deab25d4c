"""check_access against what a limited user can really do, and list_namespaces with namespace-only credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from mcp_k8s import errors
from mcp_k8s.kube import resources
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery
from mcp_k8s.kube.events import list_events
from mcp_k8s.kube.namespaces import list_namespaces
from mcp_k8s.kube.pods import list_pods, pod_logs
from mcp_k8s.kube.reviews import check_access
from mcp_k8s.kube.services import list_services
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import MakeUser
from tests.plugins.kwok import MakePods

pytestmark = pytest.mark.anyio

READ_PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}
READ_WIDGETS = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}


@asynccontextmanager
async def client_for(kubeconfig: Path, **settings: Any) -> AsyncIterator[KubeClient]:
    kube = KubeClient(Settings(kubeconfig=kubeconfig, **settings))
    try:
        yield kube
    finally:
        await kube.aclose()


async def really_allowed(call: Callable[[], Awaitable[Any]]) -> bool:
    """Did the API server let the call through? A 404 means it was authorized and found nothing."""
    try:
        await call()
    except errors.Forbidden:
        return False
    except errors.NotFound:
        return True
    return True


async def test_check_access_matches_what_the_user_can_do(
    make_user: MakeUser, admin: client.ApiClient, namespace: str, crds: None, make_pods: MakePods
) -> None:
    await make_pods("p1")
    await client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "example.com",
        "v1",
        namespace,
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}},
    )
    kubeconfig = await make_user(rules=[READ_PODS, READ_WIDGETS])
    async with client_for(kubeconfig) as kube:
        discovery = Discovery(kube)
        widgets = await discovery.resolve("widgets", group="example.com")
        cases: list[tuple[dict[str, Any], Callable[[], Awaitable[Any]]]] = [
            ({"verb": "list", "resource": "pods"}, lambda: list_pods(kube, namespace)),
            (
                {"verb": "get", "resource": "Widget", "name": "w1"},
                lambda: resources.get_object(kube, widgets, namespace, "w1"),
            ),
            ({"verb": "list", "resource": "wg"}, lambda: resources.list_objects(kube, widgets, namespace)),
            (
                {"verb": "delete", "resource": "widgets", "group": "example.com", "name": "w1"},
                lambda: resources.delete_object(kube, widgets, namespace, "w1", dry_run=True),
            ),
            (
                {"verb": "get", "resource": "pods/log", "name": "p1"},
                lambda: pod_logs(kube, namespace, "p1", container="app"),
            ),
            ({"verb": "list", "resource": "services"}, lambda: list_services(kube, namespace)),
            ({"verb": "list", "resource": "events"}, lambda: list_events(kube, discovery, namespace)),
        ]
        answers = []
        for question, call in cases:
            answer = await check_access(kube, discovery, namespace=namespace, **question)
            assert answer.allowed == await really_allowed(call), question
            answers.append((answer.verb, answer.resource, answer.subresource, answer.allowed))
        assert answers == [
            ("list", "pods", None, True),
            ("get", "widgets.example.com", None, True),
            ("list", "widgets.example.com", None, True),
            ("delete", "widgets.example.com", None, False),
            ("get", "pods", "log", False),
            ("list", "services", None, False),
            ("list", "events", None, False),
        ]

        # Cluster-scoped: the namespace is dropped, as RBAC would ignore it.
        nodes = await check_access(kube, discovery, verb="list", resource="nodes", namespace=namespace)
        assert (nodes.allowed, nodes.namespace) == (False, None)
        # RBAC may name types nobody serves; the question is still asked, and the answer says so.
        ghost = await check_access(kube, discovery, verb="get", resource="gizmos", group="ghost.io")
        assert ghost.allowed is False
        assert ghost.note is not None
        assert "not a type this server serves" in ghost.note


async def test_admin_check_access_is_allowed(kube: KubeClient, discovery: Discovery, namespace: str) -> None:
    answer = await check_access(kube, discovery, verb="*", resource="*", namespace=namespace)
    assert answer.allowed
    assert answer.resource == "*"


async def test_namespaces_fall_back_for_namespace_only_credentials(
    make_user: MakeUser, namespace: str, cluster: TestCluster
) -> None:
    kubeconfig = await make_user(rules=[READ_PODS])

    async with client_for(kubeconfig) as kube:
        answer = await list_namespaces(kube, Settings(kubeconfig=kubeconfig))
    assert answer.source == "configured"
    assert [r.name for r in answer.items] == [namespace]  # the kubeconfig context's namespace
    assert answer.note is not None
    assert "may not list namespaces" in answer.note

    async with client_for(kubeconfig, allowed_namespaces=(namespace, "team-b")) as kube:
        answer = await list_namespaces(kube, Settings(kubeconfig=kubeconfig, allowed_namespaces=(namespace, "team-b")))
    assert (answer.source, [r.name for r in answer.items]) == ("configured", [namespace, "team-b"])
    assert answer.note is not None
    assert "allowed namespaces" in answer.note

    async with client_for(cluster.kubeconfig) as kube:
        listed = await list_namespaces(kube, Settings(kubeconfig=cluster.kubeconfig))
        narrowed = await list_namespaces(
            kube, Settings(kubeconfig=cluster.kubeconfig, allowed_namespaces=(namespace, "does-not-exist"))
        )
    assert listed.source == "api"
    assert {namespace, "default", "kube-system"} <= {r.name for r in listed.items}
    row = next(r for r in listed.items if r.name == namespace)
    assert (row.phase, row.age is not None) == ("Active", True)
    assert [r.name for r in narrowed.items] == [namespace]
    assert narrowed.note is not None
