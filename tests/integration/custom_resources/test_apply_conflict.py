"""A server-side-apply conflict, from the real API server: the answer names the way out (force_conflicts=true)."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from mcp_k8s.settings import Settings
from tests.plugins.cluster import call, error, mcp_client

pytestmark = pytest.mark.anyio
GROUP = "example.com"


async def test_apply_conflict_names_force_conflicts(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    objects = client.CustomObjectsApi(admin)
    body = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "owned"}, "spec": {"size": 1}}
    await objects.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", body, field_manager="other-tool")
    async with mcp_client(settings) as c:
        args = {"plural": "wg", "name": "owned", "namespace": namespace, "patch_type": "apply"}
        refused = await error(c, "patch_custom_resource", patch={"spec": {"size": 5}}, **args)
        assert refused.startswith(f'Conflict on patch (server-side apply) widget "owned" in namespace "{namespace}"')
        assert "other-tool" in refused  # the API server names the manager that owns the field
        assert "force_conflicts=true" in refused
        assert "re-read" not in refused
        forced = await call(c, "patch_custom_resource", patch={"spec": {"size": 5}}, force_conflicts=True, **args)
        assert forced["object"]["spec"]["size"] == 5
    raw = await objects.get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "owned")
    size_owners = [m["manager"] for m in raw["metadata"]["managedFields"] if "f:size" in str(m.get("fieldsV1"))]
    assert size_owners == ["mcp-k8s"]  # forcing took ownership of the field
