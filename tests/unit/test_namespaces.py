"""Namespace resolution order and the allowed-namespaces policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.namespaces import check_allowed, resolve_namespace
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


async def test_allowed_namespaces_enforced(tmp_path: Path) -> None:
    settings = Settings(
        kubeconfig=kubeconfig(tmp_path, None), allowed_namespaces=("team-a", "team-b"), service_account_dir=tmp_path
    )
    assert await resolve(settings, "team-b") == "team-b"
    with pytest.raises(errors.NotAllowed) as err:
        await resolve(settings, "kube-system")
    assert "team-a, team-b" in err.value.message
    # With no default configured, the first allowed namespace stands in for "default".
    assert await resolve(settings) == "team-a"
    with pytest.raises(errors.NotAllowed):
        await resolve(
            Settings(
                kubeconfig=settings.kubeconfig,
                namespace="other",
                allowed_namespaces=("team-a",),
                service_account_dir=tmp_path,
            )
        )


async def test_invalid_namespace_name(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidInput) as err:
        await resolve(Settings(kubeconfig=kubeconfig(tmp_path, None)), "Bad_Name")
    assert "not a valid namespace name" in err.value.message


def test_check_allowed_without_policy() -> None:
    assert check_allowed(Settings(), "anything") == "anything"
