"""Developer and CI sessions: lint, typecheck, tests (unit + integration + e2e on a real control plane), leastpriv,
kind, bench.

`nox` with no arguments runs lint, typecheck, tests and leastpriv: the same thing CI runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "leastpriv"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PYTHON = "3.11"
KIND_CLUSTER = "mcp-k8s-test"


def _install(session: nox.Session, *extras: str) -> None:
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import-layer contract (import-linter)."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the product package."""
    _install(session, "lint", "test")
    session.run("mypy", "--strict", "mcp_k8s")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, integration and e2e tests against a real kube-apiserver + etcd (built once into a version-keyed cache).

    A missing control plane fails the run here; it is never a silent skip. Extra arguments go to pytest.
    """
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.binaries")
    session.run("pytest", *(session.posargs or ["tests"]), env={"MCP_K8S_REQUIRE_CONTROL_PLANE": "1"})


LEAST_PRIVILEGE_SUITES = ["tests/integration/custom_resources", "tests/integration/secrets", "tests/integration/core"]


@nox.session(python=PYTHON)
def leastpriv(session: nox.Session) -> None:
    """The custom-resource, secret, cache and core tool tests as a ServiceAccount bound only to `mcp-k8s rbac`'s
    RBAC, once per configuration: default, --read-only, --allowed-namespaces (tests/plugins/least_privilege.py).

    `nox -s leastpriv -- read-only` runs one configuration; further arguments go to pytest.
    """
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.binaries")
    args = list(session.posargs)
    configurations = ["default", "read-only", "allowed-namespaces"]
    if args and args[0] in configurations:
        configurations = [args.pop(0)]
    for configuration in configurations:
        session.log(f"least privilege: {configuration}")
        session.run(
            "pytest",
            *(args or LEAST_PRIVILEGE_SUITES),
            env={"MCP_K8S_REQUIRE_CONTROL_PLANE": "1", "MCP_K8S_TEST_AS": configuration},
        )


@nox.session(python=PYTHON)
def kind(session: nox.Session) -> None:
    """Create a kind cluster (kind/cluster.yaml), run the integration + e2e suite against it, delete it.

    Needs Docker and kind on PATH; `KEEP_CLUSTER=1` keeps the cluster afterwards.
    """
    for tool in ("docker", "kind"):
        if shutil.which(tool) is None:
            session.error(f"nox -s kind needs {tool} on PATH and none was found; install it (and start Docker) first.")
    probe = session.run("docker", "info", silent=True, success_codes=[0, 1], external=True)
    if probe is not None and "Server Version" not in str(probe):
        session.error("nox -s kind needs a running Docker engine; `docker info` could not reach one.")
    _install(session, "test")
    kubeconfig = ROOT / ".nox" / "kind.kubeconfig"
    kubeconfig.parent.mkdir(exist_ok=True)
    session.run(
        "kind",
        "create",
        "cluster",
        "--name",
        KIND_CLUSTER,
        "--config",
        str(ROOT / "kind" / "cluster.yaml"),
        "--kubeconfig",
        str(kubeconfig),
        "--wait",
        "120s",
        external=True,
    )
    try:
        session.run(
            "pytest",
            *(session.posargs or ["tests/integration", "tests/e2e"]),
            env={"MCP_K8S_TEST_KUBECONFIG": str(kubeconfig), "MCP_K8S_REQUIRE_CONTROL_PLANE": "1"},
        )
    finally:
        if not os.environ.get("KEEP_CLUSTER"):
            session.run("kind", "delete", "cluster", "--name", KIND_CLUSTER, external=True)


BENCH_PARTS = {"cache": "bench/bench_cache.py", "load": "bench/bench_load.py"}


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the real control plane; prints `RESULT <id> <name> <value> <unit>` lines.

    `nox -s bench` runs the watch-cache part; `nox -s bench -- load [ARGS]` runs one part (cache, load) with its
    own arguments.
    """
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.binaries")
    args = list(session.posargs)
    part = args.pop(0) if args and args[0] in BENCH_PARTS else "cache"
    session.run("python", BENCH_PARTS[part], *args)


@nox.session(python=PYTHON)
def bench_gate(session: nox.Session) -> None:
    """What the policy gate and SubjectAccessReview caching cost on a cached read (side by side, one run)."""
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.binaries")
    session.run("python", "bench/bench_gate.py", *session.posargs)
