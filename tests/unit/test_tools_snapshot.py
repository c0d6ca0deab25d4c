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
    # Hints equal to the specification's defaults are left out (readOnly false, destructive true, idempotent
    # false), so each tool's effective hints are read the way a client reads them.
    for tool in await tools_list(Settings()):
        annotations = tool["annotations"]
        read_only = annotations.get("readOnlyHint", False)
        destructive = annotations.get("destructiveHint", True) and not read_only
        assert annotations["openWorldHint"] is False, tool["name"]
        assert read_only == tool["name"].startswith(("list_", "get_", "check_", "recent_", "wait_")), tool["name"]
        assert destructive == (
            tool["name"] in {"delete_custom_resource", "delete_secret", "update_secret", "patch_custom_resource"}
        ), tool["name"]
        assert tool.get("outputSchema"), tool["name"]
        assert tool.get("description"), tool["name"]


TOTAL_BUDGET = 19_000  # compact JSON bytes of tools/list: under the leading Go server's 19,076 for 20 tools
TOOL_BUDGET = 2_000


async def test_tools_list_fits_its_byte_budget() -> None:
    tools = await tools_list(Settings())
    sizes = {t["name"]: len(json.dumps(t, separators=(",", ":"), ensure_ascii=False).encode()) for t in tools}
    over = {name: size for name, size in sizes.items() if size > TOOL_BUDGET}
    assert not over, f"tools over {TOOL_BUDGET} B: {over}"
    total = len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False).encode())
    assert total <= TOTAL_BUDGET, f"tools/list is {total} B, over {TOTAL_BUDGET}"
    for tool in tools:
        assert "outputSchema" in tool, tool["name"]
        assert tool["description"] == " ".join(tool["description"].split()), tool["name"]  # no stray indentation
        assert '"title"' not in json.dumps(tool["inputSchema"]), tool["name"]
