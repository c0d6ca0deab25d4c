"""`--demo`: apply the scene in demo.yaml to a fresh sandbox, so the first question a user asks has an answer.

The scene is data; this module only applies it, with server-side apply (one request per object, idempotent) over
the sandbox's admin connection, resolving each kind to its resource through discovery like kubectl does. Custom
resources get their `status` through the status subresource, as their controller would write it. The product's
kube/ layer is not used here: the sandbox sits beside it, below the tools, and must not depend on it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from importlib import resources
from typing import Any

import aiohttp
import anyio
import yaml

from mcp_k8s.logging import get_logger
from mcp_k8s.sandbox.control_plane import ControlPlane
from mcp_k8s.sandbox.processes import SandboxError

log = get_logger(__name__)

FIELD_MANAGER = "mcp-k8s-demo"
_SCENE = "demo.yaml"
_APPLY = {"Content-Type": "application/apply-patch+yaml"}


def scene() -> list[dict[str, Any]]:
    """The demo's objects in apply order."""
    text = (resources.files(__package__) / _SCENE).read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


async def _resource_path(session: aiohttp.ClientSession, base: str, obj: Mapping[str, Any]) -> str:
    """The object's URL path, from discovery (retried briefly: a CRD's types are served a moment after it exists)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    group_path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    deadline = time.monotonic() + 30
    while True:
        async with session.get(f"{base}{group_path}") as response:
            if response.status == 200:
                listed = (await response.json())["resources"]
                found = next((r for r in listed if r["kind"] == kind and "/" not in r["name"]), None)
                if found is not None:
                    namespace = obj["metadata"].get("namespace")
                    scope = f"/namespaces/{namespace}" if found["namespaced"] else ""
                    return f"{group_path}{scope}/{found['name']}/{obj['metadata']['name']}"
        if time.monotonic() > deadline:
            raise SandboxError(f"the demo's {kind} ({api_version}) is not served by the sandbox API server")
        await anyio.sleep(0.2)


async def _apply(session: aiohttp.ClientSession, url: str, body: Mapping[str, Any]) -> None:
    params = {"fieldManager": FIELD_MANAGER, "force": "true"}
    async with session.patch(url, params=params, json=body, headers=_APPLY) as response:
        if response.status >= 400:
            detail = (await response.json()).get("message", response.reason)
            raise SandboxError(f"applying the demo's {body['kind']} {body['metadata']['name']} failed: {detail}")


async def apply_demo(plane: ControlPlane) -> None:
    """Apply every object of the scene as the sandbox admin; then its custom resources' status."""
    async with plane.session(admin=True) as session:
        for obj in scene():
            status = obj.pop("status", None)
            url = plane.url + await _resource_path(session, plane.url, obj)
            await _apply(session, url, obj)
            if status is not None:
                head = {k: obj[k] for k in ("apiVersion", "kind")}
                await _apply(session, f"{url}/status", {**head, "metadata": obj["metadata"], "status": status})
    log.info("demo scene applied", objects=len(scene()), namespaces=["shop", "batch"])


async def wait_demo_running(plane: ControlPlane, timeout: float = 90.0) -> bool:
    """Until every demo pod has started (KWOK gave it an IP); False on timeout (the scene still converges later)."""
    expected = sum(d["spec"].get("replicas", 1) for d in scene() if d["kind"] == "Deployment")
    with anyio.move_on_after(timeout):
        async with plane.session(admin=True) as session:
            while True:
                pods: list[dict[str, Any]] = []
                for namespace in ("shop", "batch"):
                    async with session.get(f"{plane.url}/api/v1/namespaces/{namespace}/pods") as response:
                        pods += (await response.json()).get("items", [])
                if len(pods) >= expected and all(p.get("status", {}).get("podIP") for p in pods):
                    return True
                await anyio.sleep(0.5)
    return False
