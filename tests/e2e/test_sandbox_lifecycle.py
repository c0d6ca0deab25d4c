"""`mcp-k8s sandbox` leaves nothing behind: not on SIGINT or SIGTERM (a clean stop that also removes its files), and
not when it is killed outright (the kernel's parent-death signal takes its children down with it)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster import TestCluster, _alive, child_pids

pytestmark = pytest.mark.slow
CHILDREN = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}


def _argv(pid: int) -> list[str]:
    try:
        return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _workdirs(pids: list[int]) -> set[Path]:
    """The sandbox's temporary directories, read from its children's command lines."""
    found = set()
    for pid in pids:
        for arg in _argv(pid):
            match = re.search(r"(/[^=\s]*/mcp-k8s-(?:sandbox|kwok)-[^/\s]+)", arg)
            if match:
                found.add(Path(match.group(1)))
    return found


def _start(tmp_path: Path) -> subprocess.Popen[str]:
    stderr = (tmp_path / "sandbox.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_k8s", "sandbox", "--kubeconfig-out", str(tmp_path / "admin.kubeconfig")],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the suite's timeout bounds this
    if not line.startswith("sandbox ready:"):
        process.kill()
        pytest.fail(f"`mcp-k8s sandbox` did not start: {(tmp_path / 'sandbox.log').read_text()[-2000:]}")
    return process


def _reap(process: subprocess.Popen[str], children: list[int], workdirs: set[Path]) -> None:
    """Whatever the test's outcome, leave no process or workdir behind."""
    for pid in children:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    for directory in workdirs:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_control_plane_process_outlives_the_sandbox(
    cluster: TestCluster, tmp_path: Path, signum: signal.Signals
) -> None:
    if cluster.external:
        pytest.skip("needs the local control-plane binaries")
    process = _start(tmp_path)
    children = child_pids(process.pid)
    workdirs = _workdirs(children)
    try:
        assert {Path(_argv(pid)[0]).name for pid in children} == CHILDREN
        assert workdirs
        assert all(d.is_dir() for d in workdirs)
        process.send_signal(signum)
        code = process.wait(timeout=90)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in children if _alive(pid)] == []
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:
            assert code == 0, (tmp_path / "sandbox.log").read_text()[-2000:]
            assert [d for d in workdirs if d.exists()] == []  # a clean stop removes its files too
    finally:
        _reap(process, children, workdirs)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_control_plane_process_outlives_serve_sandbox(
    cluster: TestCluster, tmp_path: Path, signum: signal.Signals
) -> None:
    if cluster.external:
        pytest.skip("needs the local control-plane binaries")
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "mcp_k8s", "serve", "--sandbox"], stdin=subprocess.PIPE, stdout=stderr, stderr=stderr
        )
    children: list[int] = []
    workdirs: set[Path] = set()
    try:
        deadline = time.monotonic() + 240
        while "local control plane ready" not in log.read_text():
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        children = child_pids(process.pid)
        workdirs = _workdirs(children)
        assert {Path(_argv(pid)[0]).name for pid in children} == CHILDREN
        process.send_signal(signum)
        process.wait(timeout=90)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in children if _alive(pid)] == []
        if signum != signal.SIGKILL:
            assert [d for d in workdirs if d.exists()] == []
    finally:
        _reap(process, children, workdirs)
