"""Test-suite plumbing: markers by directory, a clean environment, and the session's control plane.

The control plane is the real one: `mcp-k8s sandbox` (etcd + kube-apiserver built from Go modules) started as a
subprocess when the run includes integration or e2e tests, so the pytest header can name the server it talks to.
`MCP_K8S_TEST_KUBECONFIG` points the same tests at another cluster instead (the kind session sets it). Tests never
read the machine's default kubeconfig: KUBECONFIG is pointed at the test cluster for the whole run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_k8s import logging as mlog
from tests.cluster import TestCluster, start_session_cluster

# Fixture modules shared by integration and e2e tests. Registered here, once: a session fixture imported into two
# conftest files would exist twice (two KWOK controllers fighting over the same nodes).
pytest_plugins = ["tests.plugins.least_privilege", "tests.plugins.cluster", "tests.plugins.kwok"]

ROOT = Path(__file__).resolve().parent
_LIVE_DIRS = ("integration", "e2e", "security")


def _wants_cluster(config: pytest.Config) -> bool:
    """True when the selected paths include integration/e2e tests (or the whole suite)."""
    args = [a.split("::", 1)[0] for a in config.args] or [str(config.rootpath)]
    for arg in args:
        path = Path(arg).resolve()
        if path in (ROOT, ROOT.parent) or any(part in _LIVE_DIRS for part in path.parts):
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    mlog.configure(level="debug")  # the product's own logging setup: stderr, plain tracebacks, redaction
    # Never let a test reach the developer's own cluster or an in-cluster service account.
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        os.environ.pop(name, None)
    os.environ["KUBECONFIG"] = str(ROOT / "does-not-exist.kubeconfig")
    os.environ.pop("MCP_K8S_KUBECONFIG", None)
    config.stash[_CLUSTER] = None
    config.stash[_CLUSTER_ERROR] = None
    if not _wants_cluster(config) or config.option.collectonly:
        return
    try:
        cluster = start_session_cluster()
    except Exception as exc:
        if os.environ.get("CI") or os.environ.get("MCP_K8S_REQUIRE_CONTROL_PLANE"):
            raise pytest.UsageError(f"the integration suite needs a control plane and none could start: {exc}") from exc
        config.stash[_CLUSTER_ERROR] = str(exc)
        return
    config.stash[_CLUSTER] = cluster
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)


def pytest_unconfigure(config: pytest.Config) -> None:
    cluster = config.stash.get(_CLUSTER, None)
    if cluster is not None:
        cluster.stop()


def pytest_report_header(config: pytest.Config) -> list[str]:
    cluster = config.stash.get(_CLUSTER, None)
    if cluster is not None:
        return [f"control plane: kube-apiserver {cluster.git_version} at {cluster.url}"]
    error = config.stash.get(_CLUSTER_ERROR, None)
    if error:
        return [f"control plane: none ({error})"]
    return ["control plane: not started (unit tests only)"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    error = config.stash.get(_CLUSTER_ERROR, None)
    for item in items:
        parts = Path(str(item.fspath)).parts
        for live in _LIVE_DIRS:
            if live in parts:
                item.add_marker(getattr(pytest.mark, live))
                if error:
                    item.add_marker(pytest.mark.skip(reason=f"no control plane: {error}"))


_CLUSTER = pytest.StashKey["TestCluster | None"]()
_CLUSTER_ERROR = pytest.StashKey["str | None"]()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> TestCluster:
    found = request.config.stash.get(_CLUSTER, None)
    if found is None:
        pytest.fail("no control plane was started for this run (run the integration tests through `nox -s tests`)")
    return found
