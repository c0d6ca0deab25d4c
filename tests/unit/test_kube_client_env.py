"""The API client looks up proxies and ~/.netrc per request only when the environment names a proxy."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client as k8s

from mcp_k8s.kube.client import _without_env_lookups

pytestmark = pytest.mark.anyio

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


async def test_no_proxy_variables_no_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxies(monkeypatch)
    async with _without_env_lookups(k8s.ApiClient(configuration=k8s.Configuration())) as api:
        assert api.rest_client.pool_manager.trust_env is False


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY"])
async def test_a_proxy_variable_keeps_them(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _clear_proxies(monkeypatch)
    monkeypatch.setenv(name, "http://proxy.example:3128")
    async with _without_env_lookups(k8s.ApiClient(configuration=k8s.Configuration())) as api:
        assert api.rest_client.pool_manager.trust_env is True
