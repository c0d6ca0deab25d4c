"""The canary: one secret value the suite plants in secrets and then hunts for wherever it must never appear.

Any test may store `CANARY` as a secret value; nothing the server says (tool content text, structured content) or
logs may then contain it, plain or base64, unless that test started the server with allow_secret_values and asked.
`RecordingClient` remembers every answer of a session so a test can also check values it only learns at the end
(generated ones, read back from the cluster). `captured_logs` points the server's logging at a StringIO.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from mcp import Client
from mcp.types import CallToolResult

from mcp_k8s import logging as mlog

# Long, ASCII, JSON-safe (its JSON form is itself) and unlike anything else in a cluster.
CANARY = "canary-5f2c9e71-MCPK8S-d0-not-show-b84a0c36e1"


def forms(value: str) -> list[str]:
    """The shapes a value takes on the way out: as given, and base64 as inside a Secret's data."""
    return [value, base64.b64encode(value.encode()).decode(), base64.urlsafe_b64encode(value.encode()).decode()]


def leaked(text: str, values: Iterable[str]) -> list[str]:
    """Which of `values` (in any of their forms) occur in `text`."""
    return [value for value in values if any(form in text for form in forms(value))]


def result_text(result: CallToolResult) -> str:
    """Everything a client receives from a tool call, as one string: content blocks and structured content."""
    parts = [block.model_dump_json() for block in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


def assert_not_leaked(text: str, *values: str) -> None:
    found = leaked(text, values or (CANARY,))
    assert not found, f"secret value(s) leaked: {[v[:6] + '…' for v in found]}"


class RecordingClient:
    """Calls tools through an MCP client and keeps every answer, so leaks can be checked during and after a test."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.answers: list[str] = []

    async def raw(self, tool: str, **args: Any) -> CallToolResult:
        result = await self.client.call_tool(tool, args)
        self.answers.append(result_text(result))
        return result

    async def call(self, tool: str, *, may_show: Iterable[str] = (), **args: Any) -> dict[str, Any]:
        """A successful call's structured content; the canary may appear only if listed in `may_show`."""
        result = await self.raw(tool, **args)
        assert not result.is_error, result.content[0].model_dump_json()
        assert result.structured_content is not None
        if CANARY not in may_show:
            assert_not_leaked(self.answers[-1], CANARY)
        return result.structured_content

    async def error(self, tool: str, **args: Any) -> str:
        """A failed call's message (after the SDK's prefix); it must be one readable line without the canary."""
        result = await self.raw(tool, **args)
        assert result.is_error, result.structured_content
        text: str = result.content[0].text  # type: ignore[union-attr]
        assert text.startswith(f"Error executing tool {tool}: "), text
        assert "Traceback" not in text
        assert_not_leaked(self.answers[-1], CANARY)
        return text.split(": ", 1)[1]

    def assert_never_shown(self, *values: str) -> None:
        for answer in self.answers:
            assert_not_leaked(answer, *values)


@contextmanager
def captured_logs(level: str = "debug", fmt: str = "json") -> Iterator[io.StringIO]:
    """Configure mcp_k8s logging onto a StringIO for the block, then put the previous configuration back."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    libraries = ("aiohttp", "kubernetes_asyncio", "httpx", "httpcore", "mcp", "asyncio")
    library_levels = {name: logging.getLogger(name).level for name in libraries}
    stream = io.StringIO()
    mlog.configure(fmt=fmt, level=level, stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
        for name, lib_level in library_levels.items():
            logging.getLogger(name).setLevel(lib_level)


@pytest.fixture(autouse=True)
def server_logs() -> Iterator[io.StringIO]:
    """The server's log output for a test (JSON lines, debug level); the canary must never be in it. A suite that
    plants the canary imports this into its conftest, which makes it autouse there."""
    with captured_logs() as logs:
        yield logs
    assert_not_leaked(logs.getvalue(), CANARY)
