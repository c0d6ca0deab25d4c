"""The sandbox pieces that need no cluster: the parent-death lifeline, the controllers' command lines, the demo
scene, the sample logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest
import yaml

from mcp_k8s import errors, sandbox
from mcp_k8s.sandbox import binaries, controllers, demo, kwok
from tests.cluster import _alive


def test_a_child_dies_with_its_parent_when_the_parent_is_killed(tmp_path: Path) -> None:
    """The parent (a Python process holding a sandbox Process) is SIGKILLed: no chance to clean up, yet the kernel
    takes the child down (PR_SET_PDEATHSIG set by the lifeline wrapper before exec)."""
    script = textwrap.dedent(
        f"""
        import anyio
        from pathlib import Path
        from mcp_k8s.sandbox import Process

        async def main():
            child = Process("sleeper", ["/bin/sleep", "300"], Path({str(tmp_path / "sleep.log")!r}))
            await child.start({{"PATH": "/bin:/usr/bin"}})
            print(child.pid, flush=True)
            await anyio.sleep(300)

        anyio.run(main)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0] != b"/bin/sleep":
            assert time.monotonic() < deadline, "the lifeline wrapper never exec'd the binary"
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_controllers_run_as_their_own_users_without_leader_election(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    env = {}
    for name in controllers.CONTROLLER_BINARIES:
        (fake / name).write_text("#!/bin/sh\n")
        (fake / name).chmod(0o755)
        env[binaries._EXPLICIT_ENV[name]] = str(fake / name)
    ca = sandbox.CertificateAuthority()
    made = controllers.prepare(tmp_path, env, ca=ca, server="https://127.0.0.1:1")
    kcm, scheduler = (c.process for c in made)
    for process in (kcm, scheduler):
        assert "--leader-elect=false" in process.argv
        assert "--bind-address=127.0.0.1" in process.argv
        user = yaml.safe_load((tmp_path / f"{process.name}.kubeconfig").read_text())["users"][0]["name"]
        assert user == f"system:{process.name}"
    assert "--use-service-account-credentials=true" in kcm.argv
    assert f"--service-account-private-key-file={tmp_path / 'sa.key'}" in kcm.argv
    assert all(c.health_url.startswith("https://127.0.0.1:") and c.health_url.endswith("/healthz") for c in made)


def test_controllers_share_the_api_servers_cache_directory(tmp_path: Path) -> None:
    env = {"MCP_K8S_BIN_CACHE": str(tmp_path)}
    dirs = {binaries.cached_path(name, env).parent for name in binaries.KUBERNETES_BINARIES}
    assert dirs == {tmp_path / f"kubernetes-{binaries.KUBERNETES_VERSION}"}


def test_the_demo_scene_has_what_the_first_questions_need() -> None:
    objects = demo.scene()
    kinds = [(o["kind"], o["metadata"].get("namespace")) for o in objects]
    assert kinds.count(("Namespace", None)) == 2
    assert ("Deployment", "shop") in kinds
    assert ("Service", "shop") in kinds
    assert ("ConfigMap", "shop") in kinds
    assert ("Secret", "shop") in kinds
    assert kinds.index(("CustomResourceDefinition", None)) < kinds.index(("Backup", "shop"))
    backups = [o for o in objects if o["kind"] == "Backup"]
    assert len(backups) >= 3
    assert all(o["status"]["conditions"] for o in backups)
    (crashing,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["namespace"] == "batch"]
    template = crashing["spec"]["template"]
    assert template["metadata"]["labels"][sandbox.CRASH_LOOP_LABEL] == kwok.CRASHING_CONTAINER
    assert [c["name"] for c in template["spec"]["containers"]] == [kwok.CRASHING_CONTAINER]


@pytest.mark.anyio
async def test_sample_logs_have_history_a_crash_and_keep_growing(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    process = sandbox.Process("kwok", [], tmp_path / "k.log")
    simulated = sandbox.Kwok(workdir=tmp_path, port=1, log_containers=(kwok.CRASHING_CONTAINER,), _process=process)
    kwok.seed_sample_logs(simulated)
    lines = simulated.log_path("app").read_text().splitlines()
    assert len(lines) > 60
    assert all(" stdout F " in line for line in lines)
    assert lines[0] < lines[-1]  # oldest first, as a kubelet writes them
    for previous in (True, False):
        crash = simulated.log_path(kwok.CRASHING_CONTAINER, previous=previous).read_text()
        assert "fatal: cannot reach the orders database" in crash
    with anyio.move_on_after(0.35):
        await kwok.keep_logging(simulated, every=0.1)
    assert len(simulated.log_path("app").read_text().splitlines()) >= len(lines) + 2


@pytest.mark.anyio
async def test_a_sandbox_that_cannot_start_answers_tools_in_one_sentence(tmp_path: Path) -> None:
    local = sandbox.BackgroundSandbox(
        {"MCP_K8S_BIN_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}, demo=False, kubeconfig=tmp_path / "kc"
    )
    await local.run()  # returns: a failed start is remembered, not raised
    with pytest.raises(errors.Unavailable) as failed:
        await local.wait_ready()
    message = str(failed.value)
    assert message.startswith("The local control plane did not start: ")
    assert "python -m mcp_k8s.sandbox" in message
    assert "\n" not in message
