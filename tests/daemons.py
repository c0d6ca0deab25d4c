"""Real `mcp-k8s watch --http` daemons (and a do-nothing MCP server) as subprocesses, for the e2e tests and bench/.

Each daemon is its own process with its own cache, started exactly as a user would start it; the helpers wait for
/readyz, read /metrics and the process's resident memory, and stop it with SIGTERM (or kill it, to lose a replica).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.abc
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_k8s.sandbox import free_port

NOOP_SERVER = Path(__file__).parent / "noop_server.py"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


@dataclass
class Daemon:
    process: anyio.abc.Process
    mcp_url: str
    health_url: str | None
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident set size now, from /proc (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far, from /proc (Linux)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """/metrics parsed: (name, labels) → value."""
        assert self.health_url is not None, "started without --health-port"
        return parse_metrics(await http_get(f"{self.health_url}/metrics"))

    async def watches_active(self) -> dict[str, float]:
        """mcp_k8s_cache_watches_active by resource."""
        return {
            dict(labels)["resource"]: value
            for (name, labels), value in (await self.metrics()).items()
            if name == "mcp_k8s_cache_watches_active"
        }

    def kill(self) -> None:
        """Lose the replica: SIGKILL, no goodbye to anyone."""
        self.process.send_signal(signal.SIGKILL)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if line.startswith("#") or match is None:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        out[(match["name"], labels)] = float(match["value"])
    return out


async def http_get(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return await response.text()


async def _wait_ready(url: str, process: anyio.abc.Process, log: Path, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{url} never became ready; the process exited: {log.read_text()[-2000:]}")
            try:
                async with aiohttp.ClientSession() as session, session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await anyio.sleep(0.1)


async def _wait_listening(port: int, process: anyio.abc.Process, log: Path, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"nothing listened on port {port}; the process exited: {log.read_text()[-2000:]}")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


@asynccontextmanager
async def _process(argv: Sequence[str], log: Path) -> AsyncIterator[anyio.abc.Process]:
    with log.open("wb") as err:
        process = await anyio.open_process(argv, stdout=subprocess.DEVNULL, stderr=err)
        try:
            yield process
        finally:
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    with anyio.move_on_after(20):
                        await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await process.aclose()


@asynccontextmanager
async def watch_daemon(
    kubeconfig: Path, watch: Sequence[str], workdir: Path, *extra: str, name: str = "daemon", timeout: float = 60.0
) -> AsyncIterator[Daemon]:
    """`mcp-k8s watch --http 127.0.0.1:P --health-port Q --watch ...`, ready (every type synced) when yielded."""
    http, health = free_port(), free_port()
    argv = [sys.executable, "-m", "mcp_k8s", "watch", "--kubeconfig", str(kubeconfig)]
    for spec in watch:
        argv += ["--watch", spec]
    argv += ["--http", f"127.0.0.1:{http}", "--health-port", str(health), "--log-format", "json", *extra]
    log = workdir / f"{name}.log"
    async with _process(argv, log) as process:
        daemon = Daemon(process, f"http://127.0.0.1:{http}/mcp", f"http://127.0.0.1:{health}", log)
        await _wait_ready(f"{daemon.health_url}/readyz", process, log, timeout)
        await _wait_listening(http, process, log, timeout)
        yield daemon


@asynccontextmanager
async def noop_server(workdir: Path, timeout: float = 60.0) -> AsyncIterator[Daemon]:
    """The do-nothing MCP server (tests/noop_server.py) over the same streamable HTTP stack as the daemon."""
    port = free_port()
    log = workdir / "noop.log"
    async with _process([sys.executable, str(NOOP_SERVER), str(port)], log) as process:
        server = Daemon(process, f"http://127.0.0.1:{port}/mcp", None, log)
        await _wait_listening(port, process, log, timeout)
        yield server


@asynccontextmanager
async def mcp_http_client(url: str, *, token: str | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    """An MCP client over streamable HTTP (the SDK's own transport), with a bearer token when the server wants one."""
    if token is None:
        async with Client(url, **kwargs) as c:
            yield c
        return
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), **kwargs) as c,
    ):
        yield c
