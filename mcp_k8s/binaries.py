"""Control-plane binaries: the pinned versions, where they are cached, and how to build them from Go modules.

No registry ships a kube-apiserver, so the only honest way to get a real one offline is a Go build through the
module proxy. `k8s.io/kubernetes` cannot be `go install`ed (its staging modules are `replace`d to local paths), so
we build it inside a throw-away module that requires it and replaces every staging module with its published
`v0.Y.Z` twin. Results live outside the repository in a cache directory keyed by version; a second build is a no-op.

Run `python -m mcp_k8s.binaries` (or `mcp-k8s sandbox --build`) to build what is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio

# Kubernetes 1.36 is the newest minor whose module builds with the Go 1.26 toolchain on our machines (its go.mod
# says `go 1.26.0`; 1.37 needs Go 1.27). etcd 3.6 is what kubeadm pairs with 1.36. KWOK 0.7 builds with plain
# requires and simulates nodes, pods and kubelet log endpoints.
KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"

BINARY_NAMES = ("kube-apiserver", "etcd", "kwok")
_EXPLICIT_ENV = {
    "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
    "etcd": "TEST_ASSET_ETCD",
    "kwok": "TEST_ASSET_KWOK",
}


class BinariesMissing(RuntimeError):
    """A control-plane binary is not where we looked; the message says how to get it."""


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How one binary is built: the Go module to require, the package to build, the version to stamp."""

    name: str
    module: str
    package: str
    version: str
    staging_replaces: bool = False
    tags: str = ""
    cold_minutes: int = 3

    @property
    def cache_key(self) -> str:
        base = {"kube-apiserver": "kubernetes"}.get(self.name, self.name)
        return f"{base}-{self.version}"


RECIPES: dict[str, Recipe] = {
    "kube-apiserver": Recipe(
        name="kube-apiserver",
        module="k8s.io/kubernetes",
        package="k8s.io/kubernetes/cmd/kube-apiserver",
        version=KUBERNETES_VERSION,
        staging_replaces=True,
        tags="notest,grpcnotrace",
        cold_minutes=20,
    ),
    "etcd": Recipe(
        name="etcd", module="go.etcd.io/etcd/server/v3", package="go.etcd.io/etcd/server/v3", version=ETCD_VERSION
    ),
    "kwok": Recipe(name="kwok", module="sigs.k8s.io/kwok", package="sigs.k8s.io/kwok/cmd/kwok", version=KWOK_VERSION),
}


def cache_root(environ: Mapping[str, str]) -> Path:
    """Where built binaries are kept: `MCP_K8S_BIN_CACHE`, else `$XDG_CACHE_HOME/mcp-k8s/bin`."""
    if explicit := environ.get("MCP_K8S_BIN_CACHE"):
        return Path(explicit).expanduser()
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-k8s" / "bin"


def cached_path(name: str, environ: Mapping[str, str]) -> Path:
    recipe = RECIPES[name]
    return cache_root(environ) / recipe.cache_key / name


def locate(name: str, environ: Mapping[str, str]) -> Path:
    """Find a binary: an explicit `TEST_ASSET_*` path, then `$KUBEBUILDER_ASSETS/<name>` (the envtest convention),
    then our version-keyed cache. Raises BinariesMissing with the exact way to get it."""
    explicit = environ.get(_EXPLICIT_ENV[name])
    if explicit:
        path = Path(explicit)
        if _is_executable(path):
            return path
        raise BinariesMissing(f"{_EXPLICIT_ENV[name]}={explicit} is not an executable file; fix or unset it.")
    assets = environ.get("KUBEBUILDER_ASSETS")
    if assets:
        path = Path(assets) / name
        if _is_executable(path):
            return path
        raise BinariesMissing(
            f"KUBEBUILDER_ASSETS={assets} has no executable {name}; put it there, or unset KUBEBUILDER_ASSETS "
            f"and run `python -m mcp_k8s.binaries` to build it into {cache_root(environ)}."
        )
    path = cached_path(name, environ)
    if _is_executable(path):
        return path
    raise BinariesMissing(
        f"{name} {RECIPES[name].version} is not built yet (looked in {path}). Build it with "
        f"`python -m mcp_k8s.binaries` or `mcp-k8s sandbox --build` (needs Go >= 1.26 and the Go module proxy; "
        f"a cold build takes 10-20 minutes), or point KUBEBUILDER_ASSETS at a directory that has it."
    )


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def staging_gomod(upstream_gomod: str, version: str) -> str:
    """A go.mod that requires k8s.io/kubernetes and replaces each staging module with its published version.

    The list of staging modules is read from upstream's own go.mod (it changes between minors), and its `go` and
    `godebug` lines are copied because a dependency's godebug settings are ignored by Go.
    """
    staging_version = "v0." + version.lstrip("v").split(".", 1)[1]
    go_line = re.search(r"^go (\S+)\s*$", upstream_gomod, re.M)
    if go_line is None:
        raise ValueError("upstream go.mod has no `go` directive")
    modules = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", upstream_gomod, re.M)
    if not modules:
        raise ValueError("upstream go.mod has no staging replace directives")
    lines = ["module local/mcp-k8s-kube-apiserver", "", f"go {go_line.group(1)}", ""]
    lines += re.findall(r"^godebug .*$", upstream_gomod, re.M)
    lines += ["", f"require k8s.io/kubernetes {version}", "", "replace ("]
    lines += [f"\t{module} => {module} {staging_version}" for module in modules]
    lines += [")", ""]
    return "\n".join(lines)


def _version_ldflags(version: str) -> str:
    """Stamp the version the way upstream's hack/lib/version.sh does, so /version tells the truth."""
    minor = version.lstrip("v").split(".")[1]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor=1",
            f"-X {pkg}.gitMinor={minor}",
            "-X " + pkg + ".gitTreeState=clean",
            f"-X {pkg}.buildDate={stamp}",
        ]
    return " ".join(flags)


def _say(message: str) -> None:
    print(f"[binaries] {message}", file=sys.stderr, flush=True)


async def _go(args: list[str], *, cwd: Path, env: Mapping[str, str], what: str) -> str:
    """Run one go command, printing a heartbeat so a long cold build never looks hung."""
    started = time.monotonic()

    async def heartbeat() -> None:
        while True:
            await anyio.sleep(30)
            _say(f"{what}: still running ({time.monotonic() - started:.0f}s)")

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        result = await anyio.run_process(["go", *args], cwd=cwd, env=dict(env), check=False)
        tg.cancel_scope.cancel()
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"`go {' '.join(args[:2])}` failed for {what}:\n" + "\n".join(tail))
    return result.stdout.decode()


async def build(name: str, environ: Mapping[str, str], recipe: Recipe | None = None) -> Path:
    """Build one binary into the cache unless it is already there; returns its path. `recipe` builds a tool that is
    not part of the control plane (the tests' helm) the same way."""
    recipe = recipe or RECIPES[name]
    target = cache_root(environ) / recipe.cache_key / name
    if _is_executable(target):
        _say(f"{name} {recipe.version}: cached at {target}")
        return target
    if shutil.which("go") is None:
        raise BinariesMissing(f"building {name} needs Go >= 1.26 on PATH (https://go.dev/dl/); none was found.")
    env = {**environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    work = cache_root(environ) / "src" / recipe.cache_key
    work.mkdir(parents=True, exist_ok=True)
    _say(f"{name} {recipe.version}: resolving {recipe.module} through the Go module proxy")
    if recipe.staging_replaces:
        info = json.loads(
            await _go(["mod", "download", "-json", f"{recipe.module}@{recipe.version}"], cwd=work, env=env, what=name)
        )
        (work / "go.mod").write_text(staging_gomod(Path(info["GoMod"]).read_text(), recipe.version))
    else:
        (work / "go.mod").write_text(f"module local/mcp-k8s-{name}\n\ngo 1.24.0\n")
    await _go(["get", "-tool", f"{recipe.package}@{recipe.version}"], cwd=work, env=env, what=name)
    ldflags = _version_ldflags(recipe.version) if recipe.staging_replaces else "-s -w"
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    args = ["build", "-trimpath", "-ldflags", ldflags, "-o", str(partial)]
    if recipe.tags:
        args += ["-tags", recipe.tags]
    _say(f"{name} {recipe.version}: compiling (cold: up to {recipe.cold_minutes} min on 2 cores)")
    started = time.monotonic()
    await _go([*args, recipe.package], cwd=work, env=env, what=name)
    partial.replace(target)  # atomic: a killed build never leaves a half-written binary that looks usable
    _say(f"{name} {recipe.version}: built in {time.monotonic() - started:.0f}s -> {target}")
    return target


async def build_all(environ: Mapping[str, str], names: tuple[str, ...] = BINARY_NAMES) -> dict[str, Path]:
    """Build each missing binary in turn (sequentially: two cores cannot usefully compile two of them at once)."""
    if environ.get("KUBEBUILDER_ASSETS") or any(environ.get(_EXPLICIT_ENV[n]) for n in names):
        return {name: locate(name, environ) for name in names}
    return {name: await build(name, environ) for name in names}


def main() -> None:
    """`python -m mcp_k8s.binaries [NAME...]`: build what is missing and print each binary's path."""
    names = tuple(sys.argv[1:]) or BINARY_NAMES
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        sys.exit(f"unknown binary {unknown[0]!r}; choose from {', '.join(BINARY_NAMES)}")
    try:
        paths = anyio.run(build_all, dict(os.environ), names)
    except (BinariesMissing, RuntimeError) as exc:
        sys.exit(str(exc))
    for name, path in paths.items():
        print(f"{name}={path}")


if __name__ == "__main__":
    main()
