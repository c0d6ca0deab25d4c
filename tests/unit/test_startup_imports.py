"""Start-up loads only what the first answer needs (issue 12): the SDK is the floor, the rest waits for first use.

A fresh interpreter imports the CLI, builds the server, enters its lifespan and answers tools/list; the modules
that this adds on top of the SDK's own must not include the Kubernetes client stack, the sandbox, YAML or the PKI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "kubernetes_asyncio",  # 0.5-0.8 s with its OpenAPI models; loads with the first request
    "aiohttp",
    "yaml",
    "cryptography",
    "dateutil",
    "urllib3",
    "mcp_k8s.sandbox",
    "mcp_k8s.binaries",
    "mcp_k8s.daemon",
    "mcp_k8s.rbac",
)

PROBE = """
import json, sys
import anyio
from mcp import Client
from mcp.server import MCPServer
sdk = set(sys.modules)
import mcp_k8s.cli
from mcp_k8s.server import build_server
from mcp_k8s.settings import Settings

async def first_answer() -> int:
    settings = Settings(kubeconfig=sys.argv[1])
    async with Client(build_server(settings), cache=None) as client:
        return len((await client.list_tools()).tools)

tools = anyio.run(first_answer)
print(json.dumps({"tools": tools, "added": sorted(set(sys.modules) - sdk)}))
"""


def heavy_modules_at_start(tmp_path: Path) -> tuple[int, list[str]]:
    kubeconfig = tmp_path / "kubeconfig"  # never read: loading is deferred to the first Kubernetes call
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "MCP_K8S_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(kubeconfig)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    added: list[str] = answer["added"]
    heavy = sorted(m for m in added if any(m == h or m.startswith(h + ".") for h in HEAVY))
    return answer["tools"], heavy


def test_first_tools_list_loads_no_heavy_module(tmp_path: Path) -> None:
    tools, heavy = heavy_modules_at_start(tmp_path)
    assert tools > 10, "the probe must have answered a real tools/list"
    roots = sorted({m.split(".")[0] if not m.startswith("mcp_k8s.") else m for m in heavy})
    assert not heavy, f"imported at start-up, before any tool needs them: {roots} (make these imports lazy)"
