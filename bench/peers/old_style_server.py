"""A server written the old way, for comparison only: the sync `kubernetes` client behind asyncio.to_thread.

This is what many Python MCP servers for Kubernetes do; mcp_k8s must never look like this (the benchmark keeps it
to show what native async buys). Answers are the objects as the API returns them.

Usage: python old_style_server.py KUBECONFIG
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from kubernetes import client, config
from shape import serve

config.load_kube_config(config_file=sys.argv[1])
API = client.CustomObjectsApi()


async def get(group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        API.get_namespaced_custom_object, group, version, namespace, plural, name
    )
    return found


async def list_(group: str, version: str, plural: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        API.list_namespaced_custom_object, group, version, namespace, plural
    )
    return found


if __name__ == "__main__":
    serve("old-style", get, list_)
