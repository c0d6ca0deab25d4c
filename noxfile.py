"""Developer and CI sessions: lint, typecheck, tests (unit + integration + e2e on a real control plane), leastpriv,
kind, bench.

`nox` with no arguments runs lint, typecheck, tests and leastpriv: the same thing CI runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests", "leastpriv", "image"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PYTHON = "3.11"
KIND_CLUSTER = "mcp-k8s-test"
# Tests that need something the plain suite does not start: the built image (`image`) or a chart installed in kind.
NOT_IN_TESTS = "not image and not kind"


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
    session.run("python", "-m", "mcp_k8s.sandbox")
    session.run("python", "-m", "tests.deploy.helm")  # the chart tests render with a real helm
    session.run(
        "pytest", "-m", NOT_IN_TESTS, *(session.posargs or ["tests"]), env={"MCP_K8S_REQUIRE_CONTROL_PLANE": "1"}
    )


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    probe = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return None if probe.returncode == 0 else "no Docker engine answers `docker info`"


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build the container image offline and run it: size, build time, then the image tests (read-only root, UID
    10001, host networking, in-cluster identity with token rotation against the sandbox, MCP over HTTP from here).

    The base is a debootstrapped Debian bookworm with Debian's python3 and the wheels come from PyPI on the host
    (tests/deploy/image.py); both are cached outside the repository. Needs a Docker engine (`.ci/docker-up` installs
    and starts one as root): missing, the session fails in CI and is skipped, saying so, elsewhere.
    """
    problem = _docker_problem()
    if problem:
        message = f"nox -s image needs Docker: {problem} (run .ci/docker-up as root)"
        if os.environ.get("CI") or os.environ.get("MCP_K8S_REQUIRE_DOCKER"):
            session.error(message)
        session.skip(message)
    _install(session, "test")
    session.install("pip")  # the wheelhouse is fetched with `pip download` (uv's venvs come without pip)
    session.run("python", "-m", "mcp_k8s.sandbox")
    session.run("python", "-m", "tests.deploy.image")
    session.run(
        "pytest",
        "-m",
        "image",
        *(session.posargs or ["tests"]),
        env={"MCP_K8S_TEST_IMAGE": "mcp-k8s:test", "MCP_K8S_REQUIRE_CONTROL_PLANE": "1"},
    )


LEAST_PRIVILEGE_SUITES = ["tests/integration/custom_resources", "tests/integration/secrets", "tests/integration/core"]


@nox.session(python=PYTHON)
def leastpriv(session: nox.Session) -> None:
    """The custom-resource, secret, cache and core tool tests as a ServiceAccount bound only to `mcp-k8s rbac`'s
    RBAC, once per configuration: default, --read-only, --allowed-namespaces (tests/plugins/least_privilege.py).

    `nox -s leastpriv -- read-only` runs one configuration; further arguments go to pytest.
    """
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.sandbox")
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
    """The image and the chart in a kind cluster: build, load, install, port-forward, e2e over HTTP, clean up.

    Steps: `docker build` the Dockerfile (its registry base), `kind create cluster`, `kind load docker-image`, apply
    the test CRDs, `helm install` deploy/helm/mcp-k8s (--wait: the pod's probes pass), mint a client token with
    `kubectl create token`, `kubectl port-forward` the Service, run the `kind`-marked e2e tests against the pod over
    HTTP, then the integration and e2e suites against the cluster, and delete the cluster (`KEEP_CLUSTER=1` keeps
    it). Needs Docker, kind and kubectl on PATH and a reachable image registry (for kindest/node and the Python
    base), so it does not run on our registry-less machines.
    """
    for tool in ("docker", "kind", "kubectl"):
        if shutil.which(tool) is None:
            session.error(f"nox -s kind needs {tool} on PATH and none was found; install it (and start Docker) first.")
    if problem := _docker_problem():
        session.error(f"nox -s kind needs a running Docker engine: {problem}.")
    _install(session, "test")
    helm = str(session.run("python", "-m", "tests.deploy.helm", silent=True)).strip().splitlines()[-1]
    image_ref, namespace, local_port = "mcp-k8s:kind", "mcp-k8s", 18080
    session.run("docker", "build", "--tag", image_ref, str(ROOT), external=True)
    kubeconfig = ROOT / ".nox" / "kind.kubeconfig"
    kubeconfig.parent.mkdir(exist_ok=True)
    env = {"KUBECONFIG": str(kubeconfig)}
    session.run(
        "kind", "create", "cluster", "--name", KIND_CLUSTER, "--config", str(ROOT / "kind" / "cluster.yaml"),
        "--kubeconfig", str(kubeconfig), "--wait", "120s", external=True,
    )  # fmt: skip
    forward: subprocess.Popen[bytes] | None = None
    try:
        session.run("kind", "load", "docker-image", image_ref, "--name", KIND_CLUSTER, external=True)
        kubectl = ["kubectl", "--kubeconfig", str(kubeconfig)]
        session.run(*kubectl, "apply", "-f", str(ROOT / "tests" / "fixtures" / "crds.yaml"), external=True)
        session.run(*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", external=True)
        session.run(
            helm, "install", "mcp-k8s", str(ROOT / "deploy" / "helm" / "mcp-k8s"), "--namespace", namespace,
            "--create-namespace", "--set", "image.repository=mcp-k8s", "--set", "image.tag=kind",
            "--set", "image.pullPolicy=Never", "--set", "watch={widgets.example.com/v1}", "--wait", "--timeout", "3m",
            external=True, env=env,
        )  # fmt: skip
        session.run(*kubectl, "-n", namespace, "create", "serviceaccount", "mcp-client", external=True)
        token = str(session.run(*kubectl, "-n", namespace, "create", "token", "mcp-client", silent=True, external=True))
        forward = subprocess.Popen(
            [*kubectl, "-n", namespace, "port-forward", "svc/mcp-k8s", f"{local_port}:8080"],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(3)  # port-forward prints nothing useful to wait on; the tests retry their first connection too
        session.run(
            "pytest", "-m", "kind", "tests/e2e",
            env={
                "MCP_K8S_TEST_KUBECONFIG": str(kubeconfig),
                "MCP_K8S_REQUIRE_CONTROL_PLANE": "1",
                "MCP_K8S_TEST_MCP_URL": f"http://127.0.0.1:{local_port}/mcp",
                "MCP_K8S_TEST_MCP_TOKEN": token.strip(),
            },
        )  # fmt: skip
        session.run(
            "pytest", "-m", NOT_IN_TESTS, *(session.posargs or ["tests/integration", "tests/e2e"]),
            env={"MCP_K8S_TEST_KUBECONFIG": str(kubeconfig), "MCP_K8S_REQUIRE_CONTROL_PLANE": "1"},
        )  # fmt: skip
    finally:
        if forward is not None:
            forward.terminate()
            forward.wait()
        if not os.environ.get("KEEP_CLUSTER"):
            session.run("kind", "delete", "cluster", "--name", KIND_CLUSTER, external=True)


BENCHES = {
    "gate": "bench/bench_gate.py",
    "cache": "bench/bench_cache.py",
    "peers": "bench/bench_peers.py",
    "load": "bench/bench_load.py",
}


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the real control plane; print `RESULT <id> <name> <value> <unit>` lines.

    `nox -s bench` runs all; `nox -s bench -- peers [ARGS]` (or `cache`, `gate`, `load`) runs one part with its args.
    peers builds the Go leader (containers/kubernetes-mcp-server) into the version-keyed cache on first use.
    """
    _install(session, "test")
    # The old-style peer's sync client (bench/peers/old_style_server.py, never ours) and the profiler for --profile.
    session.install("kubernetes", "pyinstrument")
    session.run("python", "-m", "mcp_k8s.sandbox")
    parts, args = list(BENCHES), list(session.posargs)
    if args and args[0] in BENCHES:
        parts, args = [args[0]], args[1:]
    for part in parts:
        session.run("python", BENCHES[part], *args)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """Watch-cache soak (not in the default run): steady writes, connection drops, cache == fresh LIST checked
    every minute; `nox -s soak -- --minutes 60` (default 60)."""
    _install(session, "test")
    session.run("python", "-m", "mcp_k8s.sandbox")
    session.run("python", "bench/soak_cache.py", *session.posargs)
