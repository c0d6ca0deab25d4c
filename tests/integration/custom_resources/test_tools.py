"""The custom-resource tools through an MCP client, against the real API server."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from mcp.types import ElicitResult

from mcp_k8s.settings import Settings
from tests.plugins.cluster import call, error, mcp_client

pytestmark = pytest.mark.anyio
GROUP = "example.com"


async def test_tool_annotations(settings: Settings) -> None:
    async with mcp_client(settings) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert tools["list_custom_resources"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert tools["delete_custom_resource"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert not tools["create_custom_resource"].annotations.read_only_hint  # type: ignore[union-attr]  # (default false)
    assert "confirmation" not in tools["delete_custom_resource"].input_schema["properties"]
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name


async def test_read_only_registers_no_write_tool(settings: Settings) -> None:
    async with mcp_client(settings.model_copy(update={"read_only": True})) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert "list_custom_resources" in names
    assert not names & {"create_custom_resource", "patch_custom_resource", "delete_custom_resource"}


async def test_crud_with_every_name_form(
    settings: Settings, crds: None, namespace: str, mode: str, admin: client.ApiClient
) -> None:
    async with mcp_client(settings, mode=mode) as c:
        created = await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": "w1", "labels": {"app": "a"}}, "spec": {"size": 3}},
        )
        assert created["action"] == "created"
        assert created["resource"] == "widgets.example.com/v1"
        await call(
            c,
            "create_custom_resource",
            plural="widget",
            namespace=namespace,
            body="metadata:\n  name: w2\nspec:\n  size: 4\n",
        )
        got = await call(c, "get_custom_resource", plural="Widget", name="w1", namespace=namespace)
        assert got["object"]["spec"] == {"size": 3}
        assert "managedFields" not in got["object"]["metadata"]
        old = await call(c, "get_custom_resource", plural="widgets", version="v1beta1", name="w1", namespace=namespace)
        assert old["object"]["apiVersion"] == "example.com/v1beta1"
        listed = await call(c, "list_custom_resources", plural="widgets.example.com", namespace=namespace)
        assert [i["name"] for i in listed["items"]] == ["w1", "w2"]
        selected = await call(c, "list_custom_resources", plural="wdg", namespace=namespace, label_selector="app=a")
        assert [i["name"] for i in selected["items"]] == ["w1"]
        full = await call(
            c, "list_custom_resources", plural="wg", namespace=namespace, view="full", field_selector="metadata.name=w2"
        )
        assert full["items"][0]["spec"] == {"size": 4}
        fields = await call(c, "get_custom_resource", plural="wg", name="w2", namespace=namespace, fields=["spec"])
        assert set(fields["object"]) == {"apiVersion", "kind", "metadata", "spec"}
    stored = await client.CustomObjectsApi(admin).get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w2")
    assert stored["spec"] == {"size": 4}


async def test_cluster_scoped_type_needs_no_namespace(settings: Settings, crds: None, admin: client.ApiClient) -> None:
    async with mcp_client(settings) as c:
        await call(
            c,
            "create_custom_resource",
            plural="ClusterWidget",
            body={"metadata": {"name": "cw-tools"}, "spec": {"anything": [1, 2]}},
        )
        got = await call(c, "get_custom_resource", plural="cwg", name="cw-tools")
        assert "namespace" not in got["object"]["metadata"]
        listed = await call(c, "list_custom_resources", plural="clusterwidgets")
        assert "cw-tools" in [i["name"] for i in listed["items"]]
        deleted = await call(c, "delete_custom_resource", plural="clusterwidget", name="cw-tools", force=True)
        assert deleted["deleted"] is True


async def test_patch_merge_json_apply_and_status(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    async with mcp_client(settings) as c:
        await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": "p1"}, "spec": {"size": 1, "color": "red"}},
        )
        merged = await call(
            c, "patch_custom_resource", plural="wg", name="p1", namespace=namespace, patch={"spec": {"size": 2}}
        )
        assert merged["object"]["spec"] == {"size": 2, "color": "red"}
        jsoned = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            patch_type="json",
            patch=[{"op": "replace", "path": "/spec/color", "value": "blue"}],
        )
        assert jsoned["object"]["spec"]["color"] == "blue"
        applied = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            patch_type="apply",
            patch={"spec": {"note": "managed by mcp-k8s"}},
        )
        assert applied["object"]["spec"]["note"] == "managed by mcp-k8s"
        status = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            subresource="status",
            patch={
                "status": {
                    "phase": "Degraded",
                    "conditions": [{"type": "Ready", "status": "False", "reason": "NoCapacity", "message": "full"}],
                }
            },
        )
        assert status["object"]["status"]["phase"] == "Degraded"
        summary = await call(c, "list_custom_resources", plural="wg", namespace=namespace)
        row = summary["items"][0]
        assert row["phase"] == "Degraded"
        assert row["conditions"] == [{"type": "Ready", "status": "False", "reason": "NoCapacity", "message": "full"}]
        dry = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            patch={"spec": {"size": 99}},
            dry_run=True,
        )
        assert dry["dry_run"] is True
        assert dry["object"]["spec"]["size"] == 99
    raw = await client.CustomObjectsApi(admin).get_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "p1")
    assert raw["spec"]["size"] == 2  # the dry run persisted nothing
    managers = {m["manager"] for m in raw["metadata"]["managedFields"]}
    assert "mcp-k8s" in managers


async def test_dry_run_create_persists_nothing(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        dry = await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            dry_run=True,
            body={"metadata": {"name": "ghost"}, "spec": {"size": 1}},
        )
        assert dry["dry_run"] is True
        assert "does-not-matter" not in str(dry)
        missing = await error(c, "get_custom_resource", plural="wg", name="ghost", namespace=namespace)
        assert "was not found" in missing


async def test_delete_confirms_through_elicitation(settings: Settings, crds: None, namespace: str, mode: str) -> None:
    answers: list[str] = []

    async def decide(_ctx: Any, params: Any) -> ElicitResult:
        answers.append(params.message)
        accept = len(answers) > 1
        return ElicitResult(action="accept" if accept else "decline", content={"confirm": True} if accept else None)

    async with mcp_client(settings, mode=mode, elicitation_callback=decide) as c:
        await call(c, "create_custom_resource", plural="wg", namespace=namespace, body={"metadata": {"name": "d1"}})
        declined = await call(c, "delete_custom_resource", plural="wg", name="d1", namespace=namespace)
        assert declined["deleted"] is False
        assert "did not confirm" in declined["message"]
        await call(c, "get_custom_resource", plural="wg", name="d1", namespace=namespace)
        accepted = await call(c, "delete_custom_resource", plural="wg", name="d1", namespace=namespace)
        assert accepted["deleted"] is True
        # Asked with the canonical type and the resolved namespace.
        assert answers[0] == f'Delete widgets.example.com "d1" in namespace "{namespace}"?'
        gone = await error(c, "get_custom_resource", plural="wg", name="d1", namespace=namespace)
        assert "was not found" in gone
        # Nothing that would fail is asked about: a missing type, a missing object.
        asked = len(answers)
        no_type = await error(c, "delete_custom_resource", plural="sprockets", name="foo", namespace=namespace)
        assert "sprockets" in no_type
        no_object = await error(c, "delete_custom_resource", plural="wg", name="never", namespace=namespace)
        assert "was not found" in no_object
        assert len(answers) == asked


async def test_patch_asks_before_removing_fields(settings: Settings, crds: None, namespace: str, mode: str) -> None:
    answers: list[str] = []

    async def decline(_ctx: Any, params: Any) -> ElicitResult:
        answers.append(params.message)
        return ElicitResult(action="decline")

    body = {"metadata": {"name": "p1"}, "spec": {"size": 2, "color": "red"}}
    async with mcp_client(settings, mode=mode, elicitation_callback=decline) as c:
        await call(c, "create_custom_resource", plural="wg", namespace=namespace, body=body)
        changed = await call(
            c, "patch_custom_resource", plural="wg", name="p1", namespace=namespace, patch={"spec": {"size": 3}}
        )
        assert (changed["action"], answers) == ("patched", [])  # setting a field loses nothing: not asked
        kept = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            patch=[{"op": "remove", "path": "/spec/color"}],
            patch_type="json",
        )
        assert kept["action"] == "unchanged"
        assert kept["object"]["spec"] == {"size": 3, "color": "red"}
        assert answers == [f'Remove /spec/color from widgets.example.com "p1" in namespace "{namespace}"?']
        merged = await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="p1",
            namespace=namespace,
            patch={"spec": {"color": None}},
            force=True,
        )
        assert merged["object"]["spec"] == {"size": 3}


async def test_delete_without_elicitation_needs_force(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        await call(c, "create_custom_resource", plural="wg", namespace=namespace, body={"metadata": {"name": "f1"}})
        refused = await error(c, "delete_custom_resource", plural="wg", name="f1", namespace=namespace)
        assert "force=true" in refused
        dry = await call(c, "delete_custom_resource", plural="wg", name="f1", namespace=namespace, dry_run=True)
        assert dry["deleted"] is False
        await call(c, "get_custom_resource", plural="wg", name="f1", namespace=namespace)
        done = await call(c, "delete_custom_resource", plural="wg", name="f1", namespace=namespace, force=True)
        assert done["deleted"] is True


async def test_pages_follow_continue_tokens(settings: Settings, crds: None, namespace: str) -> None:
    async with mcp_client(settings) as c:
        for i in range(7):
            await call(
                c,
                "create_custom_resource",
                plural="wg",
                namespace=namespace,
                body={"metadata": {"name": f"n{i}"}, "spec": {"size": i}},
            )
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            args: dict[str, Any] = {"plural": "wg", "namespace": namespace, "limit": 3}
            if token:
                args["continue_token"] = token
            page = await call(c, "list_custom_resources", **args)
            pages += 1
            seen += [i["name"] for i in page["items"]]
            token = page.get("continue_token")
            if not token:
                break
        assert pages == 3
        assert seen == [f"n{i}" for i in range(7)]
        bad = await error(c, "list_custom_resources", plural="wg", namespace=namespace, continue_token="garbage")
        assert "continue_token" in bad


async def test_budget_cuts_and_resumes(settings: Settings, crds: None, namespace: str) -> None:
    small = settings.model_copy(update={"output_budget": 3_000})
    async with mcp_client(small) as c:
        for i in range(6):
            await call(
                c,
                "create_custom_resource",
                plural="wg",
                namespace=namespace,
                body={"metadata": {"name": f"b{i}"}, "spec": {"note": "x" * 1_000}},
            )
        seen: list[str] = []
        token = None
        cuts = 0
        while True:
            args: dict[str, Any] = {"plural": "wg", "namespace": namespace, "view": "full", "limit": 100}
            if token:
                args["continue_token"] = token
            result = await c.call_tool("list_custom_resources", args)
            assert len(result.content[0].text.encode()) <= 3_000  # type: ignore[union-attr]
            page = result.structured_content
            assert page is not None
            seen += [i["metadata"]["name"] for i in page["items"]]
            if page.get("truncated"):
                cuts += 1
                assert "continue_token" in page["truncated"]["hint"]
            token = page.get("continue_token")
            if not token:
                break
        assert cuts >= 1
        assert seen == [f"b{i}" for i in range(6)]
        big = await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": "huge", "annotations": {"blob": "y" * 4_000}}},
        )
        assert big["truncated"]["omitted"] >= 1


async def test_secrets_are_refused_by_generic_tools(settings: Settings, namespace: str) -> None:
    async with mcp_client(settings) as c:
        for tool, extra in (("list_custom_resources", {}), ("get_custom_resource", {"name": "x"})):
            text = await error(c, tool, plural="secrets", namespace=namespace, **extra)
            assert "secret tools" in text


async def test_describe_shows_conditions_and_events(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    async with mcp_client(settings) as c:
        created = await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": "sick"}, "spec": {"size": 2}},
        )
        quiet = await call(c, "get_custom_resource", plural="wg", name="sick", namespace=namespace, describe=True)
        assert quiet["events"] == []
        assert "No events recorded" in quiet["events_note"]
        await call(
            c,
            "patch_custom_resource",
            plural="wg",
            name="sick",
            namespace=namespace,
            subresource="status",
            patch={
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "False", "reason": "Quota", "message": "quota exceeded"},
                        {"type": "Custom", "status": "True", "reason": "Fine"},
                    ]
                }
            },
        )
        involved = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "name": "sick",
            "namespace": namespace,
            "uid": created["object"]["metadata"]["uid"],
        }
        for i, reason in enumerate(("Reconciling", "Failed")):
            await client.CoreV1Api(admin).create_namespaced_event(
                namespace,
                {
                    "metadata": {"name": f"sick.{i}"},
                    "involvedObject": involved,
                    "reason": reason,
                    "message": f"{reason} happened",
                    "type": "Warning" if reason == "Failed" else "Normal",
                    "firstTimestamp": f"2026-01-01T00:0{i}:00Z",
                    "lastTimestamp": f"2026-01-01T00:0{i}:00Z",
                },
            )
        described = await call(
            c, "get_custom_resource", plural="Widget", name="sick", namespace=namespace, describe=True
        )
        assert [cond["type"] for cond in described["conditions"]] == ["Ready", "Custom"]
        assert described["conditions"][0]["message"] == "quota exceeded"
        assert [e["reason"] for e in described["events"]] == ["Failed", "Reconciling"]
        assert described["object"]["spec"] == {"size": 2}


async def test_a_crd_installed_after_start_is_found(
    settings: Settings, namespace: str, admin: client.ApiClient
) -> None:
    from tests.kube import apply_crd, unique

    plural = unique("latecomers").replace("-", "")
    async with mcp_client(settings) as c:
        missing = await error(c, "list_custom_resources", plural=plural, namespace=namespace)
        assert "No resource type" in missing  # discovery is now cached without it
        await apply_crd(
            admin,
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.late.example.com"},
                "spec": {
                    "group": "late.example.com",
                    "scope": "Namespaced",
                    "names": {"plural": plural, "singular": plural[:-1], "kind": "Late" + plural[-6:]},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    ],
                },
            },
        )
        await anyio.sleep(2.1)  # discovery refreshes on a miss at most every 2 s
        found = await call(c, "list_custom_resources", plural=plural, namespace=namespace)
        assert found["resource"] == f"{plural}.late.example.com/v1"
        assert found["items"] == []
        await client.ApiextensionsV1Api(admin).delete_custom_resource_definition(f"{plural}.late.example.com")
