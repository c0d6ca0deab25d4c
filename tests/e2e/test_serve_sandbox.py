"""`mcp-k8s serve --sandbox`: one command gives a working server on a private local cluster, which it stops."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import TestCluster, _alive
from tests.plugins.cluster import call

pytestmark = pytest.mark.anyio
_BINARIES = (b"/etcd", b"/kube-apiserver", b"/kube-controller-manager", b"/kube-scheduler", b"/kwok")


def sandbox_pids() -> set[int]:
    """Control-plane processes started under this test process (other sandboxes may run on the same machine)."""
    parents = _parents()
    mine = {os.getpid()}
    while True:
        grown = mine | {pid for pid, parent in parents.items() if parent in mine}
        if grown == mine:
            break
        mine = grown
    found = set()
    for pid in mine:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(_BINARIES) and b"mcp-k8s-sandbox-" in b" ".join(argv):
            found.add(pid)
    return found


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return parents


async def test_serve_with_sandbox(serve_stdio: Any, cluster: TestCluster) -> None:
    if cluster.external:
        pytest.skip("needs the local control-plane binaries")
    before = sandbox_pids()
    async with serve_stdio("--sandbox") as (c, served):
        listed = await call(c, "list_custom_resources", plural="namespaces")
        names = {i["name"] for i in listed["items"]}
        assert {"default", "kube-system"} <= names
        nodes = await call(c, "list_custom_resources", plural="nodes")
        assert [n["name"] for n in nodes["items"]] == ["sandbox-node"]  # a simulated (KWOK) node
        mine = sandbox_pids() - before
        assert len(mine) == 5  # its own etcd, kube-apiserver, controller manager, scheduler and KWOK
    served.protocol_messages()
    assert "local control plane ready" in served.stderr
    assert not [pid for pid in mine if _alive(pid)]
