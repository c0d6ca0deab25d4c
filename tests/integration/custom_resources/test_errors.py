"""Each error class produced for real by the API server (or the network), and the sentence the model reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mcp_k8s.sandbox import free_port
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import MakeUser
from tests.plugins.cluster import call, error, mcp_client

pytestmark = pytest.mark.anyio


async def test_forbidden_names_verb_resource_namespace(make_user: MakeUser, crds: None, namespace: str) -> None:
    kubeconfig = await make_user(rules=[{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}])
    async with mcp_client(Settings(kubeconfig=kubeconfig)) as c:
        text = await error(c, "list_custom_resources", plural="widgets.example.com", namespace=namespace)
    assert text.startswith(
        f'Forbidden: user "system:serviceaccount:{namespace}:limited" may not list '
        f'widgets.example.com in namespace "{namespace}"'
    )
    assert "check_access" in text


async def test_invalid_lists_offending_fields(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        text = await error(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": "bad"}, "spec": {"size": 5000, "color": "pink"}},
        )
    assert text.startswith('The API server rejected create widget "bad" in namespace')
    assert "spec.size" in text
    assert "spec.color" in text
    assert "Fix those fields" in text


async def test_missing_object_and_missing_type(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        obj = await error(c, "get_custom_resource", plural="wg", name="nope", namespace=namespace)
        assert obj == (
            f'Widget "nope" in namespace "{namespace}" was not found; list widgets.example.com to see what '
            "exists, or check the namespace."
        )
        typ = await error(c, "list_custom_resources", plural="widgetz", namespace=namespace)
        assert "No resource type 'widgetz'" in typ
        assert "Did you mean widgets.example.com" in typ
        version = await error(c, "list_custom_resources", plural="widgets", version="v7", namespace=namespace)
        assert "at version 'v7'" in version


async def test_conflict_on_existing_name(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        await call(c, "create_custom_resource", plural="wg", namespace=namespace, body={"metadata": {"name": "dup"}})
        text = await error(
            c, "create_custom_resource", plural="wg", namespace=namespace, body={"metadata": {"name": "dup"}}
        )
    assert text == f'Widget "dup" in namespace "{namespace}" already exists; patch it instead, or choose another name.'


async def test_unreachable_server_names_url_and_context(cluster: TestCluster, tmp_path: Path) -> None:
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    port = free_port()
    for entry in doc["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead = tmp_path / "dead.yaml"
    dead.write_text(yaml.safe_dump(doc))
    async with mcp_client(Settings(kubeconfig=dead)) as c:
        for _ in range(2):  # the server keeps answering after a failure
            text = await error(c, "list_custom_resources", plural="wg", namespace="default")
            assert text.startswith(f"Cannot reach the API server at https://127.0.0.1:{port}")
            assert f'(context "{doc["current-context"]}")' in text
            assert "connection failed" in text


async def test_missing_kubeconfig_is_explained(tmp_path: Path) -> None:
    async with mcp_client(Settings(kubeconfig=tmp_path / "nowhere.yaml")) as c:
        text = await error(c, "list_custom_resources", plural="wg")
    assert "does not exist" in text
    assert "--kubeconfig" in text


async def test_allowed_namespaces_are_enforced(settings: Settings, crds: None, namespace: str) -> None:
    fenced = settings.model_copy(update={"allowed_namespaces": (namespace,)})
    async with mcp_client(fenced) as c:
        await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        text = await error(c, "list_custom_resources", plural="wg", namespace="kube-system")
        assert text == (
            f'Namespace "kube-system" is outside the namespaces this server may use ({namespace}); pass one of those.'
        )
        text = await error(
            c, "create_custom_resource", plural="wg", namespace="default", body={"metadata": {"name": "x"}}
        )
        assert "outside the namespaces" in text
        every = await call(c, "list_custom_resources", plural="wg", all_namespaces=True)
        assert all(i["namespace"] == namespace for i in every["items"])


async def test_rejected_credentials(cluster: TestCluster, tmp_path: Path) -> None:
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": "definitely-not-a-token"}
    bad = tmp_path / "bad-token.yaml"
    bad.write_text(yaml.safe_dump(doc))
    async with mcp_client(Settings(kubeconfig=bad)) as c:
        text = await error(c, "list_custom_resources", plural="wg", namespace="default")
    assert text.startswith(f"The API server at {cluster.url}")
    assert "rejected the credentials (401 Unauthorized)" in text
    assert "refresh the kubeconfig or token" in text
