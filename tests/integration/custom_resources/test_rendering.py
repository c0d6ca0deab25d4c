"""Answers rendered for a model: the text is a kubectl-like table (with the CRD's printer columns) or YAML, not the
structured JSON again, and it stays small."""

from __future__ import annotations

import json

import anyio
import pytest
from kubernetes_asyncio import client

from mcp_k8s.settings import Settings
from tests.plugins.cluster import mcp_client

pytestmark = pytest.mark.anyio
TEXT_BUDGET_100 = 6_400  # bytes of text for 100 custom resources (0.8x the leading Go server's 7,979 B table)


async def test_a_list_is_a_table_with_printer_columns_and_fits(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    objects = client.CustomObjectsApi(admin)

    async def make(i: int) -> None:
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": f"widget-{i:03d}"},
            "spec": {"size": i, "color": "red"},
        }
        await objects.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", body)

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(make, i)
    for watched in (False, True):
        configured = settings.model_copy(update={"watch": ("widgets.example.com/v1",) if watched else ()})
        async with mcp_client(configured) as c:
            result = await c.call_tool(
                "list_custom_resources", {"plural": "widgets", "namespace": namespace, "limit": 100}
            )
    assert not result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    structured = result.structured_content
    assert structured is not None
    assert structured["count"] == 100
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "AGE"], lines[0]  # the CRD's Size column, as kubectl shows it
    assert lines[1].split()[:2] == ["widget-000", "0"]
    assert lines[100].split()[:2] == ["widget-099", "99"]
    assert not text.lstrip().startswith("{")
    assert f"namespace: {namespace}" in text
    assert "source: " in text
    assert len(text.encode()) <= TEXT_BUDGET_100, len(text.encode())
    assert structured["items"][5]["size"] == 5  # structured content keeps typed values


async def test_one_object_is_yaml_without_managed_fields(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    await client.CustomObjectsApi(admin).create_namespaced_custom_object(
        "example.com", "v1", namespace, "widgets", body
    )
    async with mcp_client(settings) as c:
        result = await c.call_tool("get_custom_resource", {"plural": "widgets", "namespace": namespace, "name": "w"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n")
    assert "  size: 3" in text
    assert "managedFields" not in text
    assert result.structured_content is not None
    assert result.structured_content["object"]["spec"] == {"size": 3}


async def test_a_cut_page_never_exceeds_the_budget(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    objects = client.CustomObjectsApi(admin)
    for i in range(40):
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": f"w-{i:02d}-{'x' * 40}"},
            "spec": {"size": i, "note": "n" * 100},
        }
        await objects.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", body)
    budget = 2_000
    for watched in (False, True):
        configured = settings.model_copy(
            update={"output_budget": budget, "watch": ("widgets.example.com/v1",) if watched else ()}
        )
        async with mcp_client(configured) as c:
            for view in ("summary", "full"):
                result = await c.call_tool(
                    "list_custom_resources", {"plural": "widgets", "namespace": namespace, "limit": 1000, "view": view}
                )
                structured = result.structured_content
                assert structured is not None
                assert structured["truncated"]["omitted"] > 0
                size = len(json.dumps(structured, separators=(",", ":"), ensure_ascii=False).encode())
                assert size <= budget, (watched, view, size)
                assert len(result.content[0].text.encode()) <= budget  # type: ignore[union-attr]
                suggests_summary = "view=summary" in structured["truncated"]["hint"]
                assert suggests_summary == (view == "full"), structured["truncated"]["hint"]
