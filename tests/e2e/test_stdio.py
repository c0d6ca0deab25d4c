"""The real `mcp-k8s serve` process over stdio: both protocol eras, every byte on stdout is MCP, logs on stderr."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster import TestCluster
from tests.plugins.cluster import call, error

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_session_speaks_only_protocol(
    serve_stdio: Any, cluster: TestCluster, crds: None, namespace: str, mode: str
) -> None:
    args = ["--kubeconfig", str(cluster.kubeconfig), "--log-level", "debug"]
    async with serve_stdio(*args, mode=mode) as (c, served):
        names = {t.name for t in (await c.list_tools()).tools}
        assert "list_custom_resources" in names
        await call(
            c,
            "create_custom_resource",
            plural="wg",
            namespace=namespace,
            body={"metadata": {"name": f"e2e-{mode}"}, "spec": {"size": 1}},
        )
        got = await call(c, "get_custom_resource", plural="Widget", name=f"e2e-{mode}", namespace=namespace)
        assert got["object"]["spec"]["size"] == 1
        text = await error(c, "get_custom_resource", plural="wg", name="missing", namespace=namespace)
        assert "was not found" in text
    messages = served.protocol_messages()
    assert len(messages) >= 4
    assert "tool call" in served.stderr  # structlog wrote to stderr
    assert "kubernetes client configured" in served.stderr


def test_bad_flags_fail_with_one_line(cluster: TestCluster) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "mcp_k8s", "serve", "--allowed-namespaces", "Bad_NS"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "not a valid namespace name" in proc.stderr
    assert "Traceback" not in proc.stderr
