"""A do-nothing MCP server over streamable HTTP: the baseline the load benchmark compares cached reads against.

Same SDK, same ASGI app factory and the same uvicorn settings as `mcp-k8s watch --http`; its one tool returns a
small constant answer with structured content, so what remains is the cost of the protocol and the transport.
Usage: python tests/noop_server.py PORT
"""

from __future__ import annotations

import sys

import anyio
import uvicorn
from mcp.server import MCPServer
from pydantic import BaseModel

from mcp_k8s.auth import HTTP_KEEP_ALIVE_SECONDS


class Answer(BaseModel):
    name: str
    resource_version: str


def build() -> MCPServer:
    server = MCPServer("noop", log_level="WARNING")

    @server.tool(name="noop")
    async def noop(name: str = "x") -> Answer:
        """Return at once."""
        return Answer(name=name, resource_version="1")

    return server


async def main(port: int) -> None:
    app = build().streamable_http_app()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_keep_alive=HTTP_KEEP_ALIVE_SECONDS
    )
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]))
