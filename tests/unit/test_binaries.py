"""Where control-plane binaries come from, and the go.mod that makes k8s.io/kubernetes buildable as a dependency."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_k8s.sandbox import binaries

UPSTREAM = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/spf13/cobra v1.10.2
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
)
"""


def test_staging_gomod_replaces_every_staging_module() -> None:
    gomod = binaries.staging_gomod(UPSTREAM, "v1.36.3")
    assert "go 1.26.0" in gomod
    assert "godebug default=go1.26" in gomod
    assert "require k8s.io/kubernetes v1.36.3" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in gomod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.3" in gomod
    with pytest.raises(ValueError, match="staging"):
        binaries.staging_gomod("module x\n\ngo 1.26.0\n", "v1.36.3")


def make_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_locate_order_and_messages(tmp_path: Path) -> None:
    cache = {"MCP_K8S_BIN_CACHE": str(tmp_path / "cache")}
    with pytest.raises(binaries.BinariesMissing) as missing:
        binaries.locate("kube-apiserver", cache)
    assert "python -m mcp_k8s.sandbox" in str(missing.value)
    assert "KUBEBUILDER_ASSETS" in str(missing.value)
    cached = make_binary(binaries.cached_path("kube-apiserver", cache))
    assert cached == tmp_path / "cache" / "kubernetes-v1.36.3" / "kube-apiserver"
    assert binaries.locate("kube-apiserver", cache) == cached
    assets = make_binary(tmp_path / "assets" / "kube-apiserver")
    assert binaries.locate("kube-apiserver", {**cache, "KUBEBUILDER_ASSETS": str(assets.parent)}) == assets
    with pytest.raises(binaries.BinariesMissing, match="KUBEBUILDER_ASSETS"):
        binaries.locate("etcd", {**cache, "KUBEBUILDER_ASSETS": str(assets.parent)})
    explicit = make_binary(tmp_path / "elsewhere" / "my-apiserver")
    env = {**cache, "KUBEBUILDER_ASSETS": str(assets.parent), "TEST_ASSET_KUBE_APISERVER": str(explicit)}
    assert binaries.locate("kube-apiserver", env) == explicit
    with pytest.raises(binaries.BinariesMissing, match="TEST_ASSET_ETCD"):
        binaries.locate("etcd", {"TEST_ASSET_ETCD": str(tmp_path / "nope")})


def test_cache_is_keyed_by_version(tmp_path: Path) -> None:
    env = {"MCP_K8S_BIN_CACHE": str(tmp_path)}
    keys = {binaries.cached_path(name, env).parent.name for name in binaries.BINARY_NAMES}
    assert keys == {
        f"kubernetes-{binaries.KUBERNETES_VERSION}",
        f"etcd-{binaries.ETCD_VERSION}",
        f"kwok-{binaries.KWOK_VERSION}",
    }
