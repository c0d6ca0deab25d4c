"""The tool shape every Python peer in the side-by-side benchmark serves: get and list of custom resources.

The peers (do-nothing, bare kubernetes_asyncio, old-style sync client) differ only in what the two tools do, so
the benchmark compares the cost of the work behind the same two calls. Run as scripts, never imported by mcp_k8s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer

GetFn = Callable[[str, str, str, str, str], Awaitable[dict[str, Any]]]
ListFn = Callable[[str, str, str, str], Awaitable[dict[str, Any]]]


def serve(title: str, get: GetFn, list_: ListFn) -> None:
    """Serve `get_custom_resource` and `list_custom_resources` over stdio until the client hangs up."""
    server: MCPServer[Any] = MCPServer(title)

    async def get_custom_resource(group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """Get one custom resource."""
        return await get(group, version, plural, namespace, name)

    async def list_custom_resources(group: str, version: str, plural: str, namespace: str) -> dict[str, Any]:
        """List the custom resources of one type in a namespace."""
        return await list_(group, version, plural, namespace)

    server.add_tool(get_custom_resource)
    server.add_tool(list_custom_resources)
    server.run()
