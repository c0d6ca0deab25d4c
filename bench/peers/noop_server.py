"""The ceiling: an MCP server whose tools do nothing, so its rate is what the SDK and stdio alone allow."""

from __future__ import annotations

from typing import Any

from shape import serve

ANSWER = {"kind": "Noop", "metadata": {"name": "noop"}}


async def get(group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
    return ANSWER


async def list_(group: str, version: str, plural: str, namespace: str) -> dict[str, Any]:
    return {"items": []}


if __name__ == "__main__":
    serve("noop", get, list_)
