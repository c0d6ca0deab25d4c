"""Build the mcp-k8s image offline: a Debian base from debootstrap, the project's wheels downloaded on the host.

No image registry is reachable from our machines (and pip inside a container fails TLS against the index), so the
test build swaps the Dockerfile's `BASE` for a local Debian bookworm root filesystem with Debian's python3 (3.11, the
version of the official `python:3.11-slim-bookworm` base) imported with `docker import`, and installs the project from
a wheelhouse of its dependencies fetched on the host for CPython 3.11 / manylinux x86_64 (`--no-index`). The
Dockerfile itself is the one users build with a registry. Both the root filesystem tarball and the wheelhouse live in a
cache outside the repository, keyed by suite + month and by the dependency list, so only the first build pays.

`python -m tests.deploy.image [--no-cache]` builds the image and prints `RESULT` lines (build seconds, size).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mcp_k8s.binaries import cache_root

ROOT = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
MIRROR = os.environ.get("MCP_K8S_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
PYTHON_TAG = ("3.11", "cp311")  # bookworm's python3
# Bookworm's glibc is 2.36; pip does not widen a --platform to older glibc tags for us, so list the ones wheels use.
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
IMAGE = "mcp-k8s:test"


def image_cache() -> Path:
    return cache_root(dict(os.environ)).parent / "image"


def _say(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


def _run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def docker_problem() -> str | None:
    """None when a Docker engine answers; otherwise why not, as one sentence."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH (run .ci/docker-up as root to install and start Docker)"
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return "no Docker engine answers `docker info` (run .ci/docker-up as root to start one)"
    return None


def base_image() -> str:
    """The Debian stand-in for python:3.11-slim-bookworm: debootstrapped once a month, cached as a tarball."""
    key = f"debian-{SUITE}-{dt.datetime.now(dt.UTC):%Y%m}"
    tag = f"mcp-k8s-base:{key.removeprefix('debian-')}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    tarball = image_cache() / f"{key}.tar"
    if not tarball.is_file():
        if shutil.which("debootstrap") is None:
            raise RuntimeError("building the base image needs debootstrap (apt-get install debootstrap)")
        started = time.monotonic()
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mcp-k8s-rootfs-", dir=tarball.parent) as tmp:
            rootfs = Path(tmp) / "rootfs"
            _say(f"debootstrap {SUITE} from {MIRROR} (a few minutes, once a month)")
            _run(
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                SUITE,
                str(rootfs),
                MIRROR,
                stdout=subprocess.DEVNULL,
            )
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            partial = tarball.with_suffix(".partial")
            _run("tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), ".")
            partial.replace(tarball)
        _say(f"base root filesystem built in {time.monotonic() - started:.0f}s -> {tarball}")
    _run(
        "docker",
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        "ENV LANG=C.UTF-8",
        "--change",
        'CMD ["python3"]',
        str(tarball),
        tag,
        stdout=subprocess.DEVNULL,
    )
    return tag


def wheelhouse() -> Path:
    """Wheels of every runtime dependency and of the build backend, for CPython 3.11 on manylinux x86_64."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = sorted(project["project"]["dependencies"]) + sorted(project["build-system"]["requires"])
    digest = hashlib.sha256("\n".join([*requirements, *PYTHON_TAG, *PLATFORMS]).encode()).hexdigest()[:16]
    target = image_cache() / f"wheels-{digest}"
    if (target / ".complete").is_file():
        return target
    started = time.monotonic()
    target.mkdir(parents=True, exist_ok=True)
    _say(f"downloading wheels for {len(requirements)} requirements into {target}")
    _run(
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--python-version",
        PYTHON_TAG[0],
        "--implementation",
        "cp",
        *("--abi", PYTHON_TAG[1], "--abi", "abi3", "--abi", "none"),  # cryptography ships abi3 wheels
        "--dest",
        str(target),
        *requirements,
    )
    (target / ".complete").write_text("")
    _say(f"wheelhouse ready in {time.monotonic() - started:.0f}s")
    return target


@dataclass(frozen=True)
class Built:
    tag: str
    seconds: float
    size_bytes: int


def build_image(tag: str = IMAGE, *, no_cache: bool = False) -> Built:
    """`docker build` of the repository's Dockerfile with the local base and wheelhouse, from a clean context."""
    base, wheels = base_image(), wheelhouse()
    with tempfile.TemporaryDirectory(prefix="mcp-k8s-context-") as tmp:
        context = Path(tmp)
        for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, context / name)
        shutil.copytree(ROOT / "mcp_k8s", context / "mcp_k8s", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(wheels, context / "wheels")
        revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        args = [
            "docker",
            "build",
            "--tag",
            tag,
            "--build-arg",
            f"BASE={base}",
            "--build-arg",
            "PIP_INSTALL_OPTIONS=--no-index --find-links /build",
            "--build-arg",
            f"REVISION={revision.stdout.strip() or 'unknown'}",
        ]
        if no_cache:
            args.append("--no-cache")
        started = time.monotonic()
        _run(*args, str(context), stdout=subprocess.DEVNULL, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        seconds = time.monotonic() - started
    size = int(_run("docker", "image", "inspect", "--format", "{{.Size}}", tag, capture_output=True).stdout)
    # Every rebuild leaves the previous image and build stage dangling; keep a day's worth as layer cache.
    _run("docker", "image", "prune", "--force", "--filter", "until=24h", stdout=subprocess.DEVNULL)
    return Built(tag=tag, seconds=seconds, size_bytes=size)


def main() -> None:
    problem = docker_problem()
    if problem:
        sys.exit(f"cannot build the image: {problem}")
    built = build_image(no_cache="--no-cache" in sys.argv[1:])
    print(f"RESULT image build_seconds {built.seconds:.1f} s")
    print(f"RESULT image size {built.size_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
