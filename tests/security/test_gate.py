"""Trying to get past the policy gate, as a careful attacker would, against the real API server.

A Secret holding the canary is planted in the test namespace (and its value copied into a ConfigMap, to prove answers
are scrubbed too). Every attempt must be refused with one sentence, and no byte of the canary (plain, base64, or
URL-safe base64) may appear in any answer, error or log line: `RecordingClient` checks answers as they come, the
package conftest checks the logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from kubernetes_asyncio import client
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import Status
from mcp_k8s.kube import resources
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.secrets import SECRETS
from mcp_k8s.policy import SECRET_RULE
from mcp_k8s.server import build_server
from mcp_k8s.settings import Settings
from mcp_k8s.tools.base import Ctx, app, spec
from tests.canary import CANARY, RecordingClient, assert_not_leaked
from tests.kube import b64, create_namespace, delete_namespace

pytestmark = pytest.mark.anyio

SECRET = "s1"
SECRET_SPELLINGS: list[dict[str, Any]] = [
    {"plural": "secrets"},
    {"plural": "secret"},
    {"plural": "Secret"},
    {"plural": "SECRETS"},
    {"plural": "secrets", "group": ""},
    {"plural": "secrets", "version": "v1"},
    {"plural": "secrets", "group": "", "version": "v1"},
    {"plural": "secrets", "group": "core"},
    {"plural": "secrets.v1"},
    {"plural": " secrets "},
]


@pytest.fixture
async def planted(admin: client.ApiClient, namespace: str) -> str:
    """The canary as a Secret's value, and (copied by someone careless) in a ConfigMap of the same namespace."""
    core = client.CoreV1Api(admin)
    await core.create_namespaced_secret(
        namespace, {"metadata": {"name": SECRET, "labels": {"app": "db"}}, "data": {"password": b64(CANARY)}}
    )
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "copied"}, "data": {"leak": CANARY}})
    return namespace


@asynccontextmanager
async def tools(settings: Settings) -> AsyncIterator[RecordingClient]:
    async with Client(build_server(settings)) as c:
        yield RecordingClient(c)


async def refused(t: RecordingClient, tool: str, **args: Any) -> str:
    """The call fails with one sentence; RecordingClient has already checked that the canary is not in it."""
    message = await t.error(tool, **args)
    assert "\n" not in message
    return message


async def test_generic_tools_refuse_secrets_by_every_spelling(settings: Settings, planted: str) -> None:
    ns = planted
    async with tools(settings) as t:
        for spelling in SECRET_SPELLINGS:
            attempts: list[tuple[str, dict[str, Any]]] = [
                ("list_custom_resources", {**spelling, "namespace": ns}),
                ("list_custom_resources", {**spelling, "all_namespaces": True}),
                ("list_custom_resources", {**spelling, "namespace": ns, "label_selector": "app=db", "view": "full"}),
                ("list_custom_resources", {**spelling, "namespace": ns, "field_selector": f"metadata.name={SECRET}"}),
                ("get_custom_resource", {**spelling, "namespace": ns, "name": SECRET}),
                ("get_custom_resource", {**spelling, "namespace": ns, "name": SECRET, "describe": True}),
                ("recent_changes", {**spelling, "namespace": ns}),
                ("recent_changes", {**spelling, "all_namespaces": True}),
                (
                    "wait_for_custom_resource",
                    {**spelling, "namespace": ns, "name": SECRET, "deleted": True, "timeout_seconds": 1},
                ),
                # The report that opened this work: the wait answered the password as `observed`.
                (
                    "wait_for_custom_resource",
                    {
                        **spelling,
                        "namespace": ns,
                        "name": SECRET,
                        "jsonpath": "{.data.password}",
                        "value": "x",
                        "timeout_seconds": 2,
                    },
                ),
                (
                    "wait_for_custom_resource",
                    {**spelling, "namespace": ns, "name": SECRET, "jsonpath": ".data.password", "timeout_seconds": 2},
                ),
                (
                    "create_custom_resource",
                    {
                        **spelling,
                        "namespace": ns,
                        "body": {"metadata": {"name": "new"}, "data": {"password": b64(CANARY)}},
                    },
                ),
                (
                    "patch_custom_resource",
                    {**spelling, "namespace": ns, "name": SECRET, "patch": {"data": {"password": b64("x" * 12)}}},
                ),
                ("delete_custom_resource", {**spelling, "namespace": ns, "name": SECRET, "force": True}),
            ]
            for tool, args in attempts:
                message = await refused(t, tool, **args)
                resolves = spelling.get("group") != "core" and spelling["plural"].strip() != "secrets.v1"
                if resolves:
                    assert SECRET_RULE in message, (tool, args, message)


async def test_the_secret_is_untouched_after_the_attempts(
    settings: Settings, planted: str, admin: client.ApiClient
) -> None:
    async with tools(settings) as t:
        await refused(t, "delete_custom_resource", plural="secrets", namespace=planted, name=SECRET, force=True)
        await refused(
            t,
            "patch_custom_resource",
            plural="secrets",
            namespace=planted,
            name=SECRET,
            patch={"data": {"password": b64("overwritten!")}},
        )
    secret = await client.CoreV1Api(admin).read_namespaced_secret(SECRET, planted)
    assert secret.data == {"password": b64(CANARY)}


async def test_k8s_uris_refuse_secrets(settings: Settings, planted: str) -> None:
    uris = [
        f"k8s://core/v1/secrets/{planted}/{SECRET}",
        f"k8s://core/v1/secret/{planted}/{SECRET}",
        f"k8s://core/v1/Secret/{planted}/{SECRET}",
        f"k8s://core/v1/configmaps/{planted}/..%2Fsecrets%2F{SECRET}",
        f"k8s://core/v1/configmaps/{planted}/%2E%2E",
    ]
    async with Client(build_server(settings), mode="legacy") as c:
        for uri in uris:
            with pytest.raises(MCPError) as err:
                await c.read_resource(uri)
            assert err.value.error.code == -32602, (uri, err.value.error)
            assert_not_leaked(str(err.value.error), CANARY)
            with pytest.raises(MCPError) as sub:
                await c.subscribe_resource(uri)
            assert_not_leaked(str(sub.value.error), CANARY)
    async with Client(build_server(settings)) as c:  # the 2026 era: a listen stream for a secret URI
        with pytest.raises(MCPError) as listen:
            await c.listen(resource_subscriptions=[uris[0]]).__aenter__()
        assert SECRET_RULE in str(listen.value.error)


async def test_names_with_dots_slashes_and_encodings(settings: Settings, planted: str) -> None:
    async with tools(settings) as t:
        for name in ("..", ".", f"../secrets/{SECRET}", f"..%2Fsecrets%2F{SECRET}", "a/b", "%2e%2e", "x?y", "x#y"):
            await refused(t, "get_custom_resource", plural="configmaps", namespace=planted, name=name)
        for namespace in ("..", "../kube-system", "a/b", "KUBE-SYSTEM"):
            await refused(t, "list_custom_resources", plural="configmaps", namespace=namespace)


async def test_body_and_patch_cannot_move_an_object(settings: Settings, planted: str, admin: client.ApiClient) -> None:
    other = await create_namespace(admin, "other")
    try:
        async with tools(settings) as t:
            message = await refused(
                t,
                "create_custom_resource",
                plural="configmaps",
                namespace=planted,
                body={"metadata": {"name": "moved", "namespace": other}, "data": {"a": "b"}},
            )
            assert other in message
            message = await refused(
                t,
                "patch_custom_resource",
                plural="configmaps",
                namespace=planted,
                name="copied",
                patch={"metadata": {"namespace": other}},
            )
            assert "cannot move" in message or other in message
            await refused(
                t,
                "patch_custom_resource",
                plural="configmaps",
                namespace=planted,
                name="copied",
                patch_type="apply",
                patch={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "copied", "namespace": other}},
            )
        cms = await client.CoreV1Api(admin).list_namespaced_config_map(other)
        assert cms.items == [] or all(cm.metadata.name == "kube-root-ca.crt" for cm in cms.items)
    finally:
        await delete_namespace(admin, other)


async def test_allowed_namespaces_hold_for_every_path(
    settings: Settings, planted: str, admin: client.ApiClient
) -> None:
    outside = await create_namespace(admin, "outside")
    try:
        await client.CoreV1Api(admin).create_namespaced_config_map(outside, {"metadata": {"name": "hidden"}})
        limited = settings.model_copy(update={"allowed_namespaces": (planted,)})
        async with tools(limited) as t:
            for tool, args in [
                ("list_custom_resources", {"plural": "configmaps", "namespace": outside}),
                ("get_custom_resource", {"plural": "configmaps", "namespace": outside, "name": "hidden"}),
                ("recent_changes", {"plural": "configmaps", "namespace": outside}),
                (
                    "wait_for_custom_resource",
                    {
                        "plural": "configmaps",
                        "namespace": outside,
                        "name": "hidden",
                        "deleted": True,
                        "timeout_seconds": 1,
                    },
                ),
                ("list_pods", {"namespace": outside}),
                ("list_services", {"namespace": outside}),
                ("list_secrets", {"namespace": outside}),
                ("get_secret", {"namespace": outside, "name": "x"}),
            ]:
                message = await refused(t, tool, **args)
                assert planted in message, (tool, message)
            listed = await t.call("list_custom_resources", plural="configmaps", all_namespaces=True)
            assert {item["namespace"] for item in listed["items"]} <= {planted}
            names = {item["name"] for item in listed["items"]}
            assert "hidden" not in names
            # Every list iterates the allowed set for all_namespaces, events included.
            events = await t.call("list_events", all_namespaces=True)
            assert {row.get("namespace") for row in events["items"]} <= {planted, None}
    finally:
        await delete_namespace(admin, outside)


async def test_read_only_refuses_every_write_even_from_a_careless_tool(settings: Settings, planted: str) -> None:
    read_only = settings.model_copy(update={"read_only": True})

    async def careless_writer(ctx: Ctx, verb: str) -> dict[str, Any]:
        """Marked read-only, but writes."""
        state = app(ctx)
        rt = await state.resource_type("configmaps", None, None)
        if verb == "create":
            await resources.create_object(state.kube, rt, planted, {"metadata": {"name": "w"}})
        elif verb == "patch":
            await resources.patch_object(state.kube, rt, planted, "copied", {"data": {"x": "y"}})
        elif verb == "delete":
            await resources.delete_object(state.kube, rt, planted, "copied")
        elif verb == "update":
            await state.kube.request(
                "PUT",
                rt.path(planted, "copied"),
                op=resources.operation("update", rt),
                body={"metadata": {"name": "copied"}},
            )
        elif verb == "deletecollection":
            await state.kube.request("DELETE", rt.path(planted), op=resources.operation("delete", rt))
        return {"done": verb}

    server = build_server(read_only)
    tool = spec(careless_writer, title="careless", read_only=True)
    server.add_tool(tool.fn, name=tool.name, annotations=tool.annotations)
    async with Client(server) as c:
        t = RecordingClient(c)
        for verb in ("create", "patch", "delete", "update", "deletecollection"):
            message = await refused(t, "careless_writer", verb=verb)
            assert "read-only" in message


async def test_a_careless_tool_cannot_reach_secrets(settings: Settings, planted: str) -> None:
    """A tool that forgets every rule: raw requests, the generic CRUD, the cache. The gate refuses each."""

    async def careless_reader(ctx: Ctx, how: str) -> dict[str, Any]:
        """Forgets that secrets are special."""
        state = app(ctx)
        if how == "raw":
            return dict(
                await state.kube.request("GET", SECRETS.path(planted, SECRET), op=resources.operation("get", SECRETS))
            )
        if how == "raw-bytes":
            data = await state.kube.request(
                "GET", SECRETS.path(planted), op=resources.operation("list", SECRETS), raw=True
            )
            return {"bytes": data.decode()}
        if how == "list-everywhere":
            return await resources.list_objects(state.kube, SECRETS, None)
        if how == "cache":
            view = await state.cache.ensure(SECRETS)
            await view.wait_synced(3)
            return {"items": await view.list()}
        if how == "path-trick":
            path = f"/api/v1/namespaces/{planted}/configmaps/../secrets/{SECRET}"
            return dict(await state.kube.request("GET", path, op=resources.operation("get", SECRETS)))
        raise ValueError(how)

    server = build_server(settings)
    tool = spec(careless_reader, title="careless", read_only=True)
    server.add_tool(tool.fn, name=tool.name, annotations=tool.annotations)
    async with Client(server) as c:
        t = RecordingClient(c)
        for how in ("raw", "raw-bytes", "list-everywhere", "cache"):
            message = await refused(t, "careless_reader", how=how)
            assert SECRET_RULE in message, (how, message)
        message = await refused(t, "careless_reader", how="path-trick")
        assert "malformed" in message


async def test_denied_types_are_hidden_everywhere(settings: Settings, planted: str) -> None:
    denied = settings.model_copy(update={"deny_resources": ("configmaps", "rbac.authorization.k8s.io/*")})
    async with tools(denied) as t:
        for tool, args in [
            ("list_custom_resources", {"plural": "configmaps", "namespace": planted}),
            ("get_custom_resource", {"plural": "cm", "namespace": planted, "name": "copied"}),
            ("recent_changes", {"plural": "configmaps", "namespace": planted}),
            ("list_custom_resources", {"plural": "clusterroles"}),
            ("get_custom_resource", {"plural": "roles", "namespace": planted, "name": "x"}),
        ]:
            message = await refused(t, tool, **args)
            assert "--deny-resources" in message, (tool, message)
        types = await t.call("list_api_resources")
        plurals = {(row["group"], row["plural"]) for row in types["items"]}
        assert ("", "configmaps") not in plurals
        assert not any(group == "rbac.authorization.k8s.io" for group, _ in plurals)


async def test_answers_are_scrubbed_of_values_the_process_has_seen(settings: Settings, planted: str) -> None:
    async with tools(settings) as t:
        await t.call("list_secrets", namespace=planted)  # the gate sees the Secret (and registers its value)
        found = await t.call("get_custom_resource", plural="configmaps", namespace=planted, name="copied")
        assert found["object"]["data"]["leak"] == "[redacted]"
        t.assert_never_shown(CANARY)


async def test_observed_values_in_wait_answers_are_clipped(
    settings: Settings, planted: str, admin: client.ApiClient
) -> None:
    long_value = "v" * 5_000
    await client.CoreV1Api(admin).create_namespaced_config_map(
        planted, {"metadata": {"name": "big"}, "data": {"k": long_value}}
    )
    async with tools(settings) as t:
        answer = await t.call(
            "wait_for_custom_resource",
            plural="configmaps",
            namespace=planted,
            name="big",
            jsonpath=".data.k",
            value="other",
            timeout_seconds=1,
        )
    assert answer["met"] is False
    assert len(answer["observed"]) <= 200


async def test_even_the_servers_own_reflector_cannot_watch_secrets(settings: Settings, planted: str) -> None:
    """The raw cache manager (what the daemon uses) asked to watch secrets: the gate refuses the reflector's LIST,
    the store stays empty and says why."""
    kube = KubeClient(settings)
    try:
        async with CacheManager(kube) as manager:
            store = await manager.ensure(SECRETS, namespaces=[planted])
            assert await store.wait_status(Status.FORBIDDEN, timeout=10)
            assert len(store) == 0
            assert SECRET_RULE in (store.last_error or "")
    finally:
        await kube.aclose()
