"""The built image itself (`nox -s image`): entrypoint, labels, non-root user, a read-only root filesystem, and
nothing in the final stage that only the build needed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def image() -> str:
    ref = os.environ.get("MCP_K8S_TEST_IMAGE")
    if not ref:
        pytest.fail("needs MCP_K8S_TEST_IMAGE (run it through `nox -s image`)")
    return ref


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)


def test_metadata(image: str) -> None:
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["mcp-k8s"]
    labels = config["Labels"]
    for key in ("title", "description", "licenses", "version", "revision", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.revision"] != "unknown"


def test_runs_read_only_as_non_root(image: str) -> None:
    version = docker("run", "--rm", "--read-only", "--cap-drop", "ALL", image, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mcp-k8s, version ")
    who = docker("run", "--rm", "--read-only", "--entrypoint", "id", image, "-u")
    assert who.stdout.strip() == "10001"
    # Every module was compiled at build time: importing the whole server writes nothing (the root is read-only).
    imported = docker(
        "run", "--rm", "--read-only", "--entrypoint", "python3", image,
        "-c", "import mcp_k8s.server, mcp_k8s.daemon, mcp_k8s.cli; print('ok')",
    )  # fmt: skip
    assert imported.stdout.strip() == "ok", imported.stderr


def test_final_stage_has_no_build_tools_or_caches(image: str) -> None:
    script = (
        "for tool in gcc cc c++ make; do command -v $tool && exit 1; done; "
        "for path in /opt/mcp-k8s/bin/pip /src /wheels /root/.cache /tmp/.cache; do "
        "test -e $path && echo $path && exit 1; done; "
        "exit 0"
    )
    result = docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", script)
    assert result.returncode == 0, f"found in the final stage: {result.stdout.strip()}"
