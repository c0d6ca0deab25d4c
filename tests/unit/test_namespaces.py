"""Namespace resolution order (whether a namespace may be used is the policy gate's: tests/unit/test_policy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.namespaces import resolve_namespace
from mcp_k8s.settings import Settings

pytestmark = pytest.mark.anyio


def kubeconfig(tmp_path: Path, namespace: str | None) -> Path:
    ctx = {"cluster": "c", "user": "u"} | ({"namespace": namespace} if namespace else {})
    path = tmp_path / "kc.yaml"
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": ctx}],
            }
        )
    )
    return path


async def resolve(settings: Settings, requested: str | None = None) -> str:
    kube = KubeClient(settings)
    try:
        return await resolve_namespace(kube, settings, requested)
    finally:
        await kube.aclose()


async def test_order(tmp_path: Path) -> None:
    sa_dir = tmp_path / "sa"
    sa_dir.mkdir()
    (sa_dir / "namespace").write_text("from-sa\n")
    base = {"kubeconfig": kubeconfig(tmp_path, "from-kubeconfig"), "service_account_dir": sa_dir}
    full = Settings(namespace="from-flag", env_namespace="from-env", **base)
    assert await resolve(full, "from-arg") == "from-arg"
    assert await resolve(full) == "from-flag"
    assert await resolve(Settings(env_namespace="from-env", **base)) == "from-env"
    assert await resolve(Settings(**base)) == "from-sa"
    no_sa = {"kubeconfig": base["kubeconfig"], "service_account_dir": tmp_path / "missing"}
    assert await resolve(Settings(**no_sa)) == "from-kubeconfig"
    bare = Settings(kubeconfig=kubeconfig(tmp_path, None), service_account_dir=tmp_path / "missing")
    assert await resolve(bare) == "default"


async def test_default_under_allowed_namespaces(tmp_path: Path) -> None:
    settings = Settings(
        kubeconfig=kubeconfig(tmp_path, None), allowed_namespaces=("team-a", "team-b"), service_account_dir=tmp_path
    )
    assert await resolve(settings, "team-b") == "team-b"
    # Resolution does not police: the gate refuses kube-system when a request is made.
    assert await resolve(settings, "kube-system") == "kube-system"
    # With no default configured, the first allowed namespace stands in for "default".
    assert await resolve(settings) == "team-a"


async def test_invalid_namespace_name(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput) as err:
        await resolve(Settings(kubeconfig=kubeconfig(tmp_path, None)), "Bad_Name")
    assert "not a valid namespace name" in err.value.message
