"""Helpers for watch-cache tests against the real API server: clients, proxied kubeconfigs, bulk writes, and the
invariant every scenario ends with: once quiescent, the cache equals a fresh LIST (keys and resourceVersions).

Quiescence is made observable rather than waited for: we write a sentinel object into each watched scope and wait
until the store has applied its resourceVersion; events arrive in RV order, so everything earlier is applied too.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s.cache.reflector import ReflectorOptions
from mcp_k8s.cache.store import Change, Status, Store, Subscription
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.settings import Settings
from tests.kube import apply_crd

WIDGETS = ResourceType(group="example.com", version="v1", plural="widgets", kind="Widget", namespaced=True)
SENTINEL = "zz-sentinel"
MERGE = "application/merge-patch+json"

# Fast enough for tests, same algorithm: short backoff, short not-served polling.
FAST = ReflectorOptions(
    backoff_initial=0.05,
    backoff_cap=1.0,
    not_served_cap=0.5,
    internal_error_window=5.0,
    inactivity_timeout=30.0,
)


@asynccontextmanager
async def kube_client(kubeconfig: Path) -> AsyncIterator[KubeClient]:
    kube = KubeClient(Settings(kubeconfig=kubeconfig))
    try:
        yield kube
    finally:
        await kube.aclose()


def proxied_kubeconfig(source: Path, port: int, target: Path) -> Path:
    """A copy of `source` whose server is the proxy on 127.0.0.1:`port` (the serving cert names 127.0.0.1)."""
    doc = yaml.safe_load(source.read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    target.write_text(yaml.safe_dump(doc))
    target.chmod(0o600)
    return target


def server_port(kubeconfig: Path) -> int:
    doc = yaml.safe_load(kubeconfig.read_text())
    server: str = doc["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1].rstrip("/"))


def body(rt: ResourceType, name: str, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta, "spec": spec or {"size": 1}}


async def create(api: client.ApiClient, rt: ResourceType, name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api)
    created: dict[str, Any] = await objects.create_namespaced_custom_object(
        rt.group, rt.version, namespace, rt.plural, body(rt, name, namespace, **spec)
    )
    return created


async def patch(api: client.ApiClient, rt: ResourceType, name: str, namespace: str, patch: Any) -> dict[str, Any]:
    objects = client.CustomObjectsApi(api)
    patched: dict[str, Any] = await objects.patch_namespaced_custom_object(
        rt.group, rt.version, namespace, rt.plural, name, patch, _content_type=MERGE
    )
    return patched


async def delete(api: client.ApiClient, rt: ResourceType, name: str, namespace: str) -> None:
    await client.CustomObjectsApi(api).delete_namespaced_custom_object(rt.group, rt.version, namespace, rt.plural, name)


async def create_many(
    api: client.ApiClient, rt: ResourceType, targets: Iterable[tuple[str, str]], *, concurrency: int = 16
) -> None:
    """Create (namespace, name) objects with bounded concurrency."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(namespace: str, name: str) -> None:
        async with limiter:
            await create(api, rt, name, namespace)

    async with anyio.create_task_group() as tg:
        for namespace, name in targets:
            tg.start_soon(one, namespace, name)


async def list_all(api: client.ApiClient, rt: ResourceType, namespace: str | None = None) -> dict[tuple[str, str], str]:
    """A fresh paginated LIST at RV "" (a consistent read): {(namespace, name): resourceVersion}."""
    out: dict[tuple[str, str], str] = {}
    token = None
    while True:
        query: list[tuple[str, Any]] = [("limit", 500)]
        if token:
            query.append(("continue", token))
        doc = await api.call_api(
            rt.path(namespace),
            "GET",
            query_params=query,
            response_types_map={200: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )
        for item in doc["items"]:
            meta = item["metadata"]
            out[(meta.get("namespace") or "", meta["name"])] = meta["resourceVersion"]
        token = doc["metadata"].get("continue")
        if not token:
            return out


async def touch_sentinel(api: client.ApiClient, rt: ResourceType, namespace: str) -> str:
    """Create or modify the sentinel in `namespace`; returns the resourceVersion of that write."""
    try:
        obj = await create(api, rt, SENTINEL, namespace)
    except ApiException as exc:
        if exc.status != 409:
            raise
        obj = await patch(api, rt, SENTINEL, namespace, {"metadata": {"annotations": {"nonce": secrets.token_hex(4)}}})
    return str(obj["metadata"]["resourceVersion"])


async def assert_matches_list(
    store: Store, api: client.ApiClient, rt: ResourceType, *, namespace: str, timeout: float = 30.0
) -> dict[tuple[str, str], str]:
    """The invariant. `namespace` is where a cluster-wide store's sentinel goes; per-namespace stores get one each."""
    scopes = list(store.namespaces) if store.namespaces is not None else [namespace]
    for ns in scopes:
        rv = await touch_sentinel(api, rt, ns)
        assert await store.wait_for_resource_version(rv, namespace=ns if store.namespaces else None, timeout=timeout), (
            f"the cache did not reach resourceVersion {rv} in {timeout}s (status {store.status}, at "
            f"{store.resource_version}, last error {store.last_error})"
        )
    expected: dict[tuple[str, str], str] = {}
    if store.namespaces is None:
        expected = await list_all(api, rt)
    else:
        for ns in store.namespaces:
            expected.update(await list_all(api, rt, ns))
    actual = store.snapshot()
    missing = {k: v for k, v in expected.items() if actual.get(k) != v}
    extra = {k: v for k, v in actual.items() if k not in expected}
    assert not missing, f"the cache lacks or has stale copies of {missing} (a fresh LIST has them)"
    assert not extra, f"the cache holds {extra}, which a fresh LIST does not"
    assert store.status is Status.LIVE
    return actual


def crd_body(plural: str, group: str = "cache.mcp-k8s.io") -> dict[str, Any]:
    """A namespaced CRD of our own, so tests that delete or change it never disturb the shared test CRDs."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural[:-1].capitalize()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def crd_type(crd: dict[str, Any]) -> ResourceType:
    spec = crd["spec"]
    return ResourceType(
        group=spec["group"],
        version=spec["versions"][0]["name"],
        plural=spec["names"]["plural"],
        kind=spec["names"]["kind"],
        namespaced=spec["scope"] == "Namespaced",
    )


@asynccontextmanager
async def unique_crd(
    api: client.ApiClient, prefix: str = "things"
) -> AsyncIterator[tuple[ResourceType, dict[str, Any]]]:
    """Install a fresh CRD (deleted afterwards, which also deletes its objects)."""
    crd = crd_body(f"{prefix}{secrets.token_hex(3)}s")
    await apply_crd(api, crd)
    try:
        yield crd_type(crd), crd
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await client.ApiextensionsV1Api(api).delete_custom_resource_definition(crd["metadata"]["name"])
            except ApiException as exc:
                if exc.status != 404:
                    raise


async def next_change(subscription: Subscription, timeout: float = 15.0) -> Change:
    with anyio.fail_after(timeout):
        return await subscription.__anext__()
