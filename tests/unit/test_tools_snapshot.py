"""A snapshot of tools/list guards the public interface: names, parameters, annotations and output schemas.

Run with UPDATE_SNAPSHOTS=1 to accept an intended change (and review the diff like any API change).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_k8s.server import build_server
from mcp_k8s.settings import Settings

pytestmark = pytest.mark.anyio
SNAPSHOTS = Path(__file__).parent.parent / "snapshots"


async def tools_list(settings: Settings) -> list[dict[str, Any]]:
    async with Client(build_server(settings)) as c:
        tools = (await c.list_tools()).tools
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in sorted(tools, key=lambda t: t.name)]


@pytest.mark.parametrize("variant", ["default", "read-only"])
async def test_tools_list_matches_snapshot(variant: str) -> None:
    current = await tools_list(Settings(read_only=variant == "read-only"))
    path = SNAPSHOTS / f"tools-{variant}.json"
    rendered = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(rendered)
    assert path.exists(), f"no snapshot at {path}; create it with UPDATE_SNAPSHOTS=1"
    assert json.loads(path.read_text()) == current, f"tools/list changed; if intended, UPDATE_SNAPSHOTS=1 ({path})"


async def test_interface_names_from_the_design() -> None:
    names = {t["name"] for t in await tools_list(Settings())}
    assert names == {
        "list_custom_resources",
        "get_custom_resource",
        "create_custom_resource",
        "patch_custom_resource",
        "delete_custom_resource",
        "wait_for_custom_resource",
        "recent_changes",
        "list_secrets",
        "get_secret",
        "create_secret",
        "update_secret",
        "delete_secret",
        "list_pods",
        "get_pod_logs",
        "list_events",
        "list_services",
        "list_api_resources",
        "list_namespaces",
        "check_access",
    }
    read_only = {t["name"] for t in await tools_list(Settings(read_only=True))}
    assert read_only == names - {
        "create_custom_resource",
        "patch_custom_resource",
        "delete_custom_resource",
        "create_secret",
        "update_secret",
        "delete_secret",
    }


async def test_every_tool_is_annotated_and_structured() -> None:
    for tool in await tools_list(Settings()):
        annotations = tool["annotations"]
        assert {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} <= set(annotations), tool["name"]
        assert tool.get("outputSchema"), tool["name"]
        assert tool.get("description"), tool["name"]
