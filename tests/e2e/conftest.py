"""e2e fixtures: the real `mcp-k8s serve` process over stdio, with its stdout and stderr captured."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import JSONRPCMessage
from pydantic import TypeAdapter

TEE = Path(__file__).parent / "tee_server.py"


@dataclass
class ServedProcess:
    stdout_copy: Path
    stderr_file: Path

    def protocol_messages(self) -> list[object]:
        """Every stdout line parsed as a JSON-RPC message; raises if any byte is not protocol."""
        adapter: TypeAdapter[JSONRPCMessage] = TypeAdapter(JSONRPCMessage)
        data = self.stdout_copy.read_bytes()
        assert data.endswith(b"\n"), "stdout must end with a complete message"
        return [adapter.validate_json(line) for line in data.splitlines()]

    @property
    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")


@pytest.fixture
def serve_stdio(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory: an MCP client connected to `python -m mcp_k8s serve ARGS` over stdio, plus its captured output."""

    @asynccontextmanager
    async def start(
        *args: str, mode: str = "auto", env: dict[str, str] | None = None, **client_kwargs: object
    ) -> AsyncIterator[tuple[Client, ServedProcess]]:
        served = ServedProcess(tmp_path / f"stdout-{mode}.jsonl", tmp_path / f"stderr-{mode}.log")
        params = StdioServerParameters(
            command=sys.executable,
            args=[
                str(TEE),
                str(served.stdout_copy),
                str(served.stderr_file),
                "--",
                sys.executable,
                "-m",
                "mcp_k8s",
                "serve",
                *args,
            ],
            env=env,
        )
        async with Client(params, mode=mode, **client_kwargs) as client:  # type: ignore[arg-type]
            yield client, served

    return start
