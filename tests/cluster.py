"""The session's cluster: `mcp-k8s sandbox` as a subprocess, or the cluster named by MCP_K8S_TEST_KUBECONFIG."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

START_TIMEOUT = 240.0


@dataclass
class TestCluster:
    """What the tests know about the cluster: where it is, how to reach it as admin, which version it runs."""

    __test__ = False  # not a test class, despite the name

    kubeconfig: Path
    url: str
    git_version: str
    process: subprocess.Popen[str] | None = None
    tmpdir: Path | None = None
    external: bool = False
    _stderr: Any = field(default=None, repr=False)

    @property
    def sandbox_pids(self) -> list[int]:
        """etcd, kube-apiserver, controller manager and scheduler started by our sandbox subprocess (empty for an
        external cluster)."""
        return child_pids(self.process.pid) if self.process else []

    def stop(self) -> None:
        if self.process is None:
            return
        children = self.sandbox_pids
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        leftover = [pid for pid in children if _alive(pid)]
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
        if self._stderr is not None:
            self._stderr.close()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if leftover:
            raise RuntimeError(f"sandbox left processes behind: {leftover}")


def child_pids(parent: int) -> list[int]:
    """Direct children of a process, read from /proc (Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent:
            out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def kubeconfig_server(path: Path) -> tuple[str, ssl.SSLContext]:
    """The current context's server URL and an SSL context trusting its CA."""
    doc = yaml.safe_load(path.read_text())
    context_name = doc["current-context"]
    context = next(c["context"] for c in doc["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    if cluster.get("insecure-skip-tls-verify"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif "certificate-authority-data" in cluster:
        ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    else:
        ctx = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
    return cluster["server"], ctx


def server_version(kubeconfig: Path) -> tuple[str, str]:
    url, ctx = kubeconfig_server(kubeconfig)
    with urllib.request.urlopen(f"{url}/version", context=ctx, timeout=10) as response:  # noqa: S310 (https only)
        return url, json.load(response)["gitVersion"]


def start_session_cluster() -> TestCluster:
    external = os.environ.get("MCP_K8S_TEST_KUBECONFIG")
    if external:
        path = Path(external)
        url, version = server_version(path)
        return TestCluster(kubeconfig=path, url=url, git_version=version, external=True)
    tmpdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-tests-"))
    kubeconfig = tmpdir / "admin.kubeconfig"
    stderr = (tmpdir / "sandbox.log").open("w")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    process = subprocess.Popen(
        # No simulated nodes here: the core tests run their own KWOK and nodes, and two KWOKs would fight over them.
        [sys.executable, "-m", "mcp_k8s", "sandbox", "--nodes", "0", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )
    ready = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("sandbox ready:"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            stderr.close()
            log = (tmpdir / "sandbox.log").read_text()[-3000:]
            raise RuntimeError(f"`mcp-k8s sandbox` did not become ready: {log.strip() or 'no output'}")
    expected = f"sandbox ready: kubeconfig at {kubeconfig}"
    if lines[-1].strip() != expected:
        raise RuntimeError(f"unexpected ready line {lines[-1]!r}, wanted {expected!r}")
    url, version = server_version(kubeconfig)
    return TestCluster(
        kubeconfig=kubeconfig, url=url, git_version=version, process=process, tmpdir=tmpdir, _stderr=stderr
    )
