"""The rest of the fault matrix (reference/watch_cache.md §b) against the real API server: a conversion webhook
that fails (§16), a 1.4 MiB object (§18), and a token that expires on the watch path itself (§19)."""

from __future__ import annotations

import base64
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio import client

from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import FreshnessPolicy, Status
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.sandbox import CertificateAuthority, free_port
from tests.cluster import TestCluster
from tests.integration.cache.support import (
    FAST,
    WIDGETS,
    assert_matches_list,
    create,
    kube_client,
    list_all,
    patch,
    proxied_kubeconfig,
    server_port,
    unique_crd,
)
from tests.kube import MakeUser, apply_crd, exec_kubeconfig
from tests.proxy import tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

FRESHNESS_QUIET = FreshnessPolicy().quiet


# --- §16 a conversion webhook that fails ---------------------------------------------------------------------------


class Webhook:
    """A real HTTPS conversion webhook on loopback (v1 ⇄ v2 by apiVersion only) that can be made to fail."""

    def __init__(self) -> None:
        self.healthy = True
        self.calls = 0
        self.ca = CertificateAuthority("conversion-webhook-ca")
        self.port = free_port()

    async def convert(self, request: web.Request) -> web.Response:
        self.calls += 1
        review = await request.json()
        if not self.healthy:
            return web.Response(status=500, text="conversion backend down")
        req = review["request"]
        converted = [{**obj, "apiVersion": req["desiredAPIVersion"]} for obj in req["objects"]]
        return web.json_response(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "ConversionReview",
                "response": {"uid": req["uid"], "result": {"status": "Success"}, "convertedObjects": converted},
            }
        )

    @asynccontextmanager
    async def serving(self, tmp_path: Path) -> AsyncIterator[None]:
        cert, key = self.ca.issue("127.0.0.1", server=True, hosts=["127.0.0.1"])
        (tmp_path / "hook.crt").write_bytes(cert)
        (tmp_path / "hook.key").write_bytes(key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tmp_path / "hook.crt", tmp_path / "hook.key")
        app = web.Application()
        app.router.add_post("/convert", self.convert)
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=context)
        await site.start()
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()

    def crd(self, plural: str, group: str) -> dict[str, Any]:
        version: dict[str, Any] = {
            "served": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": plural, "singular": plural[:-1], "kind": "Convertible"},
                "versions": [{"name": "v1", "storage": True, **version}, {"name": "v2", "storage": False, **version}],
                "conversion": {
                    "strategy": "Webhook",
                    "webhook": {
                        "conversionReviewVersions": ["v1"],
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{self.port}/convert",
                            "caBundle": base64.b64encode(self.ca.cert_pem).decode(),
                        },
                    },
                },
            },
        }


async def test_a_failing_conversion_webhook_degrades_the_cache_and_it_recovers(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """§16: the cache watches v2 of a v1-stored type; every object it sees passes the webhook."""
    hook = Webhook()
    plural, group = f"convertibles{secrets.token_hex(2)}", "conv.mcp-k8s.io"
    crd = hook.crd(plural, group)
    v1 = ResourceType(group=group, version="v1", plural=plural, kind="Convertible", namespaced=True)
    v2 = ResourceType(group=group, version="v2", plural=plural, kind="Convertible", namespaced=True)
    async with hook.serving(tmp_path):
        await apply_crd(admin, crd)
        try:
            await create(admin, v1, "before", namespace)
            async with kube_client(cluster.kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
                store = await cache.ensure(v2, namespaces=[namespace])
                assert await store.wait_synced(timeout=30)
                assert store.get("before", namespace) is not None
                assert hook.calls > 0
                hook.healthy = False
                await create(admin, v1, "during", namespace)  # its watch event cannot be converted
                # The server holds the event back and the watch just goes quiet: only a probe can tell.
                await anyio.sleep(FRESHNESS_QUIET + 0.2)
                fresh = await cache.confirm_list(v2, namespace)
                assert not fresh.confirmed  # the probe's LIST got a 500: never "confirmed" while this lasts
                with anyio.fail_after(5):  # the reflector acts on the verdict in its own task
                    while store.stats().watch_restarts["unconfirmed"] + store.stats().watch_restarts["probe_error"] < 1:
                        await anyio.sleep(0.02)
                cached = store.get("before", namespace)
                assert cached is not None  # stale data is still served, labelled
                again = await cache.confirm_list(v2, namespace)
                assert not again.confirmed
                hook.healthy = True
                assert await store.wait_status(Status.LIVE, timeout=30), store.last_error
                await create(admin, v1, "after", namespace)
                with anyio.fail_after(15):
                    while ("after" not in {k[1] for k in store.snapshot()}) or len(store) < 3:
                        await anyio.sleep(0.05)
                expected = await list_all(admin, v2, namespace)
                assert store.snapshot() == expected
                restarts = store.stats().watch_restarts
                print(f"\nCONVERSION webhook calls={hook.calls} watch_restarts={dict(restarts)}")
        finally:
            with anyio.CancelScope(shield=True):
                await client.ApiextensionsV1Api(admin).delete_custom_resource_definition(crd["metadata"]["name"])


# --- §18 a 1.4 MiB object ------------------------------------------------------------------------------------------


async def test_a_1_4_mib_object_streams_lists_and_reads_back_whole(
    cluster: TestCluster, admin: client.ApiClient, namespace: str
) -> None:
    blob = secrets.token_hex(700 * 1024)  # 1.4 MiB of text, in a type whose schema keeps unknown fields
    async with unique_crd(admin, "bigs") as (rt, _):
        async with kube_client(cluster.kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(rt, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            await create(admin, rt, "big", namespace, blob=blob)  # arrives as one 1.4 MiB watch line
            with anyio.fail_after(30):
                while (store.get("big", namespace) or {}).get("spec", {}).get("blob") != blob:
                    await anyio.sleep(0.05)
            await patch(admin, rt, "big", namespace, {"spec": {"blob": blob[::-1]}})
            with anyio.fail_after(30):
                while (store.get("big", namespace) or {}).get("spec", {}).get("blob") != blob[::-1]:
                    await anyio.sleep(0.05)
            [row] = store.list(namespace=namespace, field_selector="metadata.name=big")
            assert len(row["spec"]["blob"]) == len(blob)
            assert store.stats().watch_restarts["garbage"] == 0
            await create(admin, rt, "small", namespace)
            expected = await list_all(admin, rt, namespace)
            with anyio.fail_after(15):
                while store.snapshot() != expected:
                    await anyio.sleep(0.05)
        # A fresh cache meets it in a LIST page instead of the watch.
        async with kube_client(cluster.kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(rt, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            got = store.get("big", namespace)
            assert got is not None
            assert got["spec"]["blob"] == blob[::-1]


# --- §19 a token that expires on the watch path ----------------------------------------------------------------------

PLUGIN = """
import datetime, json, pathlib, sys
state = pathlib.Path(sys.argv[1])
calls = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(calls))
token = "expired-token" if calls == 2 else sys.argv[2]
seconds = float(sys.argv[3]) if calls < 3 else 3600.0
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


async def test_a_token_expiring_under_an_open_watch_is_refreshed_on_reconnect_without_a_loop(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, crds: None, make_user: MakeUser, tmp_path: Path
) -> None:
    """§19: the exec plugin's first token expires while the watch is open; the reconnect gets a token the server
    rejects (401 on the watch request itself); one refresh later the cache is live and correct."""
    limited = await make_user(
        rules=[{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]}]
    )
    async with tcp_proxy("127.0.0.1", server_port(cluster.kubeconfig)) as proxy:
        doc = yaml.safe_load(proxied_kubeconfig(limited, proxy.port, tmp_path / "proxied.yaml").read_text())
        kubeconfig, calls = exec_kubeconfig(doc, PLUGIN, tmp_path, renew_after=3)  # due 3 s after issue
        await create(admin, WIDGETS, "w0", namespace)
        async with kube_client(kubeconfig) as kube, CacheManager(kube, options=FAST) as cache:
            store = await cache.ensure(WIDGETS, namespaces=[namespace])
            assert await store.wait_synced(timeout=30)
            assert calls.read_text() == "1"
            await anyio.sleep(3.5)  # the token is now due for renewal; the open watch does not care
            assert store.status is Status.LIVE
            proxy.drop()  # the reconnect must present a token again
            with anyio.fail_after(30):
                while store.stats().watch_restarts["error"] + store.stats().list_failures["Unauthorized"] < 1:
                    await anyio.sleep(0.05)
            await create(admin, WIDGETS, "w1", namespace)
            await assert_matches_list(store, admin, WIDGETS, namespace=namespace)
            stats = store.stats()
            print(
                f"\nTOKEN plugin_calls={calls.read_text()} watch_restarts={dict(stats.watch_restarts)} "
                f"lists={dict(stats.lists)} list_failures={dict(stats.list_failures)}"
            )
            assert int(calls.read_text()) == 3  # issue, renewal (rejected), one refresh after the 401: no loop
            assert sum(stats.lists.values()) <= 3
