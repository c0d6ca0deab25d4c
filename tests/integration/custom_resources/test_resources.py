"""k8s:// MCP resources: reads from the cache, and update subscriptions in both protocol eras, debounced."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client
from mcp import MCPError
from mcp.types import ResourceUpdatedNotification

from mcp_k8s.settings import Settings
from tests.integration.custom_resources.test_cache_tools import GROUP, PLURAL, VERSION, create
from tests.plugins.cluster import mcp_client

pytestmark = pytest.mark.anyio


async def patch(admin: client.ApiClient, namespace: str, name: str, size: int) -> None:
    await client.CustomObjectsApi(admin).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name, {"spec": {"size": size}}, _content_type="application/merge-patch+json"
    )


async def test_templates_and_reads(settings: Settings, crds: None, namespace: str, admin: client.ApiClient) -> None:
    await create(admin, namespace, "r1", size=7)
    async with mcp_client(settings) as c:
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        assert templates == {
            "k8s://{group}/{version}/{plural}/{namespace}/{name}",
            "k8s://{group}/{version}/{plural}/{name}",
        }
        read = await c.read_resource(f"k8s://example.com/v1/widgets/{namespace}/r1")
        obj = json.loads(read.contents[0].text)  # type: ignore[union-attr]
        assert obj["spec"] == {"size": 7}
        assert "managedFields" not in obj["metadata"]
        ns = json.loads((await c.read_resource(f"k8s://core/v1/namespaces/{namespace}")).contents[0].text)  # type: ignore[union-attr]
        assert ns["metadata"]["name"] == namespace
        with pytest.raises(MCPError) as missing:
            await c.read_resource(f"k8s://example.com/v1/widgets/{namespace}/nope")
        assert missing.value.code == -32602
        assert "was not found" in str(missing.value)
        with pytest.raises(MCPError) as secret:
            await c.read_resource(f"k8s://core/v1/secrets/{namespace}/anything")
        assert "secret tools" in str(secret.value)


async def test_legacy_subscribe_gets_debounced_updates(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    await create(admin, namespace, "watched", size=0)
    await create(admin, namespace, "other", size=0)
    uri = f"k8s://example.com/v1/widgets/{namespace}/watched"
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            seen.append(str(message.params.uri))

    async with mcp_client(settings, mode="legacy", message_handler=on_message) as c:
        caps = c.server_capabilities
        assert caps is not None
        assert caps.resources is not None
        assert caps.resources.subscribe is True
        await c.subscribe_resource(uri)
        for size in range(1, 21):  # a burst of 20 writes
            await patch(admin, namespace, "watched", size)
        await patch(admin, namespace, "other", 5)  # not subscribed: no notification
        with anyio.fail_after(5):
            while not seen:
                await anyio.sleep(0.02)
        await anyio.sleep(0.5)
        assert set(seen) == {uri}
        assert len(seen) < 10, f"{len(seen)} notifications for a 20-write burst: not debounced"
        await c.unsubscribe_resource(uri)
        before = len(seen)
        await patch(admin, namespace, "watched", 99)
        await anyio.sleep(0.5)
        assert len(seen) == before


async def test_listen_stream_gets_updates(
    settings: Settings, crds: None, namespace: str, admin: client.ApiClient
) -> None:
    await create(admin, namespace, "streamed", size=0)
    uri = f"k8s://example.com/v1/widgets/{namespace}/streamed"
    async with mcp_client(settings, mode="auto") as c, c.listen(resource_subscriptions=[uri]) as sub:

        async def write_later() -> None:
            await anyio.sleep(0.3)
            await patch(admin, namespace, "streamed", 3)

        async with anyio.create_task_group() as tg:
            tg.start_soon(write_later)
            with anyio.fail_after(10):
                async for event in sub:
                    assert getattr(event, "uri", None) == uri
                    break
