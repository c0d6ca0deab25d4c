"""The tests' helm: a real binary built from its Go module into the same version-keyed cache as the control plane.

`python -m tests.deploy.helm` builds it (a no-op when cached) and prints its path; `helm()` runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio

from mcp_k8s.binaries import KUBERNETES_VERSION, BinariesMissing, Recipe, build, cache_root

HELM_VERSION = "v3.22.0"  # the newest helm 3 whose go.mod (go 1.26.0) builds with our Go 1.26 toolchain
HELM = Recipe(
    name="helm", module="helm.sh/helm/v3", package="helm.sh/helm/v3/cmd/helm", version=HELM_VERSION, cold_minutes=10
)

# Built without upstream's version ldflags, helm would assume Kubernetes v1.20 offline; render for the sandbox's.
RENDER_FOR = ("--kube-version", KUBERNETES_VERSION)


def helm_path(environ: dict[str, str] | None = None) -> Path:
    """The cached helm binary; raises BinariesMissing (with the command that builds it) when it is not there."""
    path = cache_root(environ or dict(os.environ)) / HELM.cache_key / "helm"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BinariesMissing(
            f"helm {HELM_VERSION} is not built yet (looked in {path}); run `python -m tests.deploy.helm`."
        )
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with a private home (no repositories, no plugins, no cache of the developer's)."""
    home = cache_root(dict(os.environ)) / HELM.cache_key / "home"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": os.devnull,
        "HOME": str(home),  # client-go's discovery cache goes to $HOME/.kube/cache, never the working directory
    }
    result = subprocess.run([str(helm_path()), *args], capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"`helm {' '.join(args[:2])}` failed: {result.stderr.strip()}")
    return result


if __name__ == "__main__":
    try:
        print(anyio.run(build, "helm", dict(os.environ), HELM))
    except (BinariesMissing, RuntimeError) as exc:
        sys.exit(str(exc))
