"""The per-call floor: a minimal MCP server whose get is one bare kubernetes_asyncio GET (no shaping, no cache).

Usage: python floor_server.py KUBECONFIG
"""

from __future__ import annotations

import sys
from typing import Any

from kubernetes_asyncio import client, config
from shape import serve

_api: client.CustomObjectsApi | None = None


async def api() -> client.CustomObjectsApi:
    global _api
    if _api is None:
        configuration = client.Configuration()
        await config.load_kube_config(config_file=sys.argv[1], client_configuration=configuration)
        _api = client.CustomObjectsApi(client.ApiClient(configuration))
    return _api


async def get(group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await (await api()).get_namespaced_custom_object(group, version, namespace, plural, name)
    return found


async def list_(group: str, version: str, plural: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = await (await api()).list_namespaced_custom_object(group, version, namespace, plural)
    return found


if __name__ == "__main__":
    serve("floor", get, list_)
