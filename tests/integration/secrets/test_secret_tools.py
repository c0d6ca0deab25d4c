"""The secret tools through an MCP client against the real API server: values stay in the cluster.

Every call goes through `RecordingClient`, which fails on the canary in any answer (content and structured content);
the package conftest fails a test whose server logs contain it. Generated values are read back with the admin client
and then checked against every answer and the logs as well.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException
from mcp.types import ElicitResult

from mcp_k8s.kube.secrets import ALPHABETS, GENERATED_KEYS, LAST_APPLIED
from mcp_k8s.settings import Settings
from mcp_k8s.tools.secrets import NOT_REQUESTED, WITHHELD_BY_POLICY
from tests.canary import CANARY, RecordingClient, assert_not_leaked
from tests.kube import MakeUser, b64, create_namespace, delete_namespace
from tests.plugins.cluster import mcp_client

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def tools(settings: Settings, **kwargs: Any) -> AsyncIterator[RecordingClient]:
    async with mcp_client(settings, **kwargs) as c:
        yield RecordingClient(c)


async def stored(admin: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    """The secret's values as the cluster holds them, decoded (read as admin, outside the server under test)."""
    secret = await client.CoreV1Api(admin).read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


async def admin_secret(admin: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    await client.CoreV1Api(admin).create_namespaced_secret(namespace, body)


async def test_annotations_and_read_only_mode(settings: Settings) -> None:
    async with tools(settings) as t:
        listed = {tool.name: tool for tool in (await t.client.list_tools()).tools}
    expected = {
        "list_secrets": (True, False, True),
        "get_secret": (True, False, True),
        "create_secret": (False, False, False),
        "update_secret": (False, True, False),
        "delete_secret": (False, True, True),
    }
    for name, (read_only, destructive, idempotent) in expected.items():
        annotations = listed[name].annotations
        assert annotations is not None
        # Effective hints: an absent hint means the specification's default (readOnly false, destructive true for
        # a tool that is not read-only, idempotent false).
        effective_read_only = bool(annotations.read_only_hint)
        effective_destructive = False if effective_read_only else annotations.destructive_hint is not False
        hints = (effective_read_only, effective_destructive, bool(annotations.idempotent_hint))
        assert hints == (read_only, destructive, idempotent), name
        assert annotations.open_world_hint is False
        assert listed[name].output_schema is not None
    assert "confirmation" not in listed["delete_secret"].input_schema["properties"]
    data_schema = listed["create_secret"].input_schema["properties"]["data"]
    assert data_schema["type"] == "object"
    async with tools(settings.model_copy(update={"read_only": True})) as t:
        names = {tool.name for tool in (await t.client.list_tools()).tools}
    assert names & set(expected) == {"list_secrets", "get_secret"}


async def test_create_get_list_never_show_values(
    settings: Settings, namespace: str, mode: str, admin: client.ApiClient, server_logs: io.StringIO
) -> None:
    async with tools(settings, mode=mode) as t:
        created = await t.call(
            "create_secret",
            name="db",
            namespace=namespace,
            data={"password": CANARY, "username": "app"},
            labels={"app": "db"},
        )
        assert (created["action"], created["name"], created["namespace"]) == ("created", "db", namespace)
        assert created["keys"] == [{"key": "password", "size": len(CANARY)}, {"key": "username", "size": 3}]
        assert created["labels"] == {"app": "db"}
        assert "generated" not in created
        got = await t.call("get_secret", name="db", namespace=namespace)
        assert got["type"] == "Opaque"
        assert got["keys"] == created["keys"]
        assert got["resource_version"]
        assert got["age"]
        assert got["note"] == WITHHELD_BY_POLICY
        assert "values" not in got
        asked = await t.call("get_secret", name="db", namespace=namespace, include_values=True)
        assert "values" not in asked
        assert asked["note"] == WITHHELD_BY_POLICY
        listed = await t.call("list_secrets", namespace=namespace)
        assert listed["namespace"] == namespace
        assert [(r["name"], r["type"], r["keys"]) for r in listed["items"]] == [
            ("db", "Opaque", ["password", "username"])
        ]
        selected = await t.call("list_secrets", namespace=namespace, label_selector="app=db")
        assert selected["count"] == 1
        other = await t.call("list_secrets", namespace=namespace, label_selector="app=other")
        assert other["items"] == []
        typed = await t.call("list_secrets", namespace=namespace, field_selector="type=kubernetes.io/tls")
        assert typed["items"] == []
    assert await stored(admin, namespace, "db") == {"password": CANARY, "username": "app"}
    t.assert_never_shown(CANARY)
    assert '"tool": "create_secret"' in server_logs.getvalue()  # the capture works: the canary check is meaningful


async def test_last_applied_annotation_and_stored_values_never_shown(
    settings: Settings, namespace: str, admin: client.ApiClient
) -> None:
    applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": CANARY}})
    await admin_secret(
        admin,
        namespace,
        {
            "metadata": {"name": "applied", "annotations": {LAST_APPLIED: applied, "team": "a"}},
            "data": {"password": b64(CANARY)},
        },
    )
    async with tools(settings) as t:
        got = await t.call("get_secret", name="applied", namespace=namespace)
        assert got["annotations"] == {"team": "a"}
        await t.call("list_secrets", namespace=namespace)
        updated = await t.call("update_secret", name="applied", namespace=namespace, labels={"seen": "yes"})
        assert updated["annotations"] == {"team": "a"}


async def test_generated_values_land_with_the_requested_length_and_alphabet(
    settings: Settings, namespace: str, mode: str, admin: client.ApiClient, server_logs: io.StringIO
) -> None:
    generate = [
        {"key": "password", "length": 40, "alphabet": "printable"},
        "token",
        {"key": "hex", "length": 64, "alphabet": "hex"},
        {"key": "pin", "length": 8, "alphabet": "numeric"},
        {"key": "greek", "length": 100, "characters": "αβγ-!"},
        {"key": "long", "length": 4096, "alphabet": "base64url"},
    ]
    async with tools(settings, mode=mode) as t:
        created = await t.call(
            "create_secret", name="gen", namespace=namespace, data={"user": "app"}, generate=generate
        )
        described = {g["key"]: g for g in created["generated"]}
        assert described["token"] == {"key": "token", "length": 32, "alphabet": "alphanumeric", "entropy_bits": 190.5}
        assert described["greek"]["alphabet"] == "custom"
        assert "never returned" in created["note"]
        values = await stored(admin, namespace, "gen")
        expectations = {
            "password": (40, ALPHABETS["printable"]),
            "token": (32, ALPHABETS["alphanumeric"]),
            "hex": (64, ALPHABETS["hex"]),
            "pin": (8, ALPHABETS["numeric"]),
            "greek": (100, "αβγ-!"),
            "long": (4096, ALPHABETS["base64url"]),
        }
        for key, (length, alphabet) in expectations.items():
            assert len(values[key]) == length, key
            assert set(values[key]) <= set(alphabet), key
            assert described[key]["length"] == length
        sizes = {k["key"]: k["size"] for k in created["keys"]}
        assert sizes["greek"] == len(values["greek"].encode())  # bytes, not characters
        assert values["user"] == "app"
        await t.call("get_secret", name="gen", namespace=namespace, include_values=True)
        await t.call("list_secrets", namespace=namespace)
    secret = await client.CoreV1Api(admin).read_namespaced_secret("gen", namespace)
    assert secret.metadata.annotations[GENERATED_KEYS] == "greek,hex,long,password,pin,token"
    generated = [v for k, v in values.items() if k != "user"]
    t.assert_never_shown(*generated)
    assert_not_leaked(server_logs.getvalue(), *generated)


async def test_update_patches_only_the_named_keys(
    settings: Settings, namespace: str, admin: client.ApiClient, server_logs: io.StringIO
) -> None:
    async with tools(settings) as t:
        await t.call(
            "create_secret",
            name="app",
            namespace=namespace,
            data={"keep": "keep-value", "replace": "old-value", "drop": "drop-value"},
        )
        # Another writer adds a key after our create; our update must not undo it.
        await client.CoreV1Api(admin).patch_namespaced_secret("app", namespace, {"data": {"concurrent": b64("theirs")}})
        updated = await t.call(
            "update_secret",
            name="app",
            namespace=namespace,
            data={"replace": CANARY},
            generate=[{"key": "fresh", "length": 24}],
            remove_keys=["drop", "never-there"],
            labels={"tier": "db"},
            force=True,  # replacing and dropping keys loses values: this client cannot be asked
        )
        assert updated["action"] == "updated"
        assert (updated["added"], updated["replaced"], updated["removed"], updated["not_present"]) == (
            ["fresh"],
            ["replace"],
            ["drop"],
            ["never-there"],
        )
        assert updated["generated"] == [
            {"key": "fresh", "length": 24, "alphabet": "alphanumeric", "entropy_bits": 142.9}
        ]
        assert updated["labels"] == {"tier": "db"}
        assert [k["key"] for k in updated["keys"]] == ["concurrent", "fresh", "keep", "replace"]
        first = await stored(admin, namespace, "app")
        assert first["keep"] == "keep-value"
        assert first["concurrent"] == "theirs"
        assert first["replace"] == CANARY
        assert len(first["fresh"]) == 24
        assert "drop" not in first
        dry = await t.call("update_secret", name="app", namespace=namespace, data={"keep": "changed"}, dry_run=True)
        assert dry["dry_run"] is True
        assert "nothing was stored" in dry["note"]
        assert (await stored(admin, namespace, "app"))["keep"] == "keep-value"
        again = await t.call("update_secret", name="app", namespace=namespace, generate=["fresh"], force=True)
        assert again["replaced"] == ["fresh"]
        second = await stored(admin, namespace, "app")
        assert len(second["fresh"]) == 32
        assert second["fresh"] != first["fresh"]
        nothing = await t.error("update_secret", name="app", namespace=namespace)
        assert nothing == "Nothing to update; give data, generate, remove_keys or labels."
    t.assert_never_shown(CANARY, first["fresh"], second["fresh"])
    assert_not_leaked(server_logs.getvalue(), first["fresh"], second["fresh"])


async def test_update_refuses_to_change_an_immutable_secret(
    settings: Settings, namespace: str, admin: client.ApiClient
) -> None:
    await admin_secret(admin, namespace, {"metadata": {"name": "frozen"}, "immutable": True, "data": {"a": b64("v1")}})
    async with tools(settings) as t:
        refused = await t.error("update_secret", name="frozen", namespace=namespace, data={"a": CANARY})
        assert refused == (
            f'Secret "frozen" in namespace "{namespace}" is immutable, so its data cannot change; create a new secret '
            "(or delete and recreate this one) instead."
        )
        refused = await t.error("update_secret", name="frozen", namespace=namespace, remove_keys=["a"])
        assert "immutable" in refused
        labelled = await t.call("update_secret", name="frozen", namespace=namespace, labels={"state": "frozen"})
        assert labelled["immutable"] is True
        row = (await t.call("list_secrets", namespace=namespace))["items"][0]
        assert row["immutable"] is True
    assert await stored(admin, namespace, "frozen") == {"a": "v1"}


async def test_dry_run_create_persists_nothing_and_names_clash(settings: Settings, namespace: str) -> None:
    async with tools(settings) as t:
        dry = await t.call("create_secret", name="ghost", namespace=namespace, generate=["pw"], dry_run=True)
        assert dry["dry_run"] is True
        assert "would be generated" in dry["note"]
        missing = await t.error("get_secret", name="ghost", namespace=namespace)
        assert missing.startswith(f'Secret "ghost" in namespace "{namespace}" was not found')
        await t.call("create_secret", name="once", namespace=namespace, data={"a": CANARY})
        clash = await t.error("create_secret", name="once", namespace=namespace, data={"a": CANARY})
        assert clash == (
            f'Secret "once" already exists in namespace "{namespace}"; change it with update_secret, or choose '
            "another name."
        )


async def test_delete_confirms_through_elicitation(settings: Settings, namespace: str, mode: str) -> None:
    questions: list[str] = []

    async def decide(_ctx: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        accept = len(questions) > 1
        return ElicitResult(action="accept" if accept else "decline", content={"confirm": True} if accept else None)

    async with tools(settings, mode=mode, elicitation_callback=decide) as t:
        await t.call("create_secret", name="d1", namespace=namespace, data={"a": CANARY})
        declined = await t.call("delete_secret", name="d1", namespace=namespace)
        assert declined["deleted"] is False
        assert "did not confirm" in declined["message"]
        await t.call("get_secret", name="d1", namespace=namespace)
        accepted = await t.call("delete_secret", name="d1", namespace=namespace)
        assert accepted == {
            "deleted": True,
            "dry_run": False,
            "name": "d1",
            "namespace": namespace,
            "message": "Deleted.",
        }
        assert questions[0] == f'Delete secret "d1" in namespace "{namespace}"?'
        gone = await t.error("get_secret", name="d1", namespace=namespace)
        assert "was not found" in gone


async def test_delete_without_elicitation_needs_force(settings: Settings, namespace: str) -> None:
    async with tools(settings) as t:
        await t.call("create_secret", name="f1", namespace=namespace, data={"a": "value-a"})
        refused = await t.error("delete_secret", name="f1", namespace=namespace)
        assert "force=true" in refused
        dry = await t.call("delete_secret", name="f1", namespace=namespace, dry_run=True)
        assert (dry["deleted"], dry["dry_run"]) == (False, True)
        await t.call("get_secret", name="f1", namespace=namespace)
        done = await t.call("delete_secret", name="f1", namespace=namespace, force=True)
        assert done["deleted"] is True
        again = await t.error("delete_secret", name="f1", namespace=namespace, force=True)
        assert "was not found" in again


async def test_limited_user_gets_the_forbidden_message(make_user: MakeUser, namespace: str) -> None:
    kubeconfig = await make_user(rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}])
    user = f'user "system:serviceaccount:{namespace}:limited"'
    advice = "ask for that RBAC permission, or call check_access to see what is allowed."
    async with tools(Settings(kubeconfig=kubeconfig)) as t:
        listed = await t.error("list_secrets", namespace=namespace)
        assert listed == f'Forbidden: {user} may not list secrets in namespace "{namespace}"; {advice}'
        got = await t.error("get_secret", name="db", namespace=namespace)
        assert got == f'Forbidden: {user} may not get secrets "db" in namespace "{namespace}"; {advice}'
        created = await t.error("create_secret", name="db", namespace=namespace, data={"password": CANARY})
        assert created == f'Forbidden: {user} may not create secrets "db" in namespace "{namespace}"; {advice}'
        deleted = await t.error("delete_secret", name="db", namespace=namespace, force=True)
        assert deleted.startswith(f"Forbidden: {user} may not delete secrets")


async def test_values_only_with_allow_secret_values(
    settings: Settings, namespace: str, admin: client.ApiClient, server_logs: io.StringIO
) -> None:
    await admin_secret(admin, namespace, {"metadata": {"name": "bin"}, "data": {"raw": "/wAB"}})
    allowed = settings.model_copy(update={"allow_secret_values": True})
    async with tools(allowed) as t:
        created = await t.call(
            "create_secret",
            name="open",
            namespace=namespace,
            data={"password": CANARY, "user": "app"},
            generate=["token"],
        )
        assert "never returned" in created["note"]
        plain = await t.call("get_secret", name="open", namespace=namespace)
        assert plain["note"] == NOT_REQUESTED
        assert "values" not in plain
        shown = await t.call("get_secret", name="open", namespace=namespace, include_values=True, may_show=[CANARY])
        assert shown["values"] == {"password": CANARY, "user": "app"}
        assert "token were generated by the server and are never returned" in shown["note"]
        one = await t.call("get_secret", name="open", namespace=namespace, include_values=True, keys=["user"])
        assert one["values"] == {"user": "app"}
        unknown = await t.error("get_secret", name="open", namespace=namespace, include_values=True, keys=["nope"])
        assert unknown.startswith("Secret 'open' has no key 'nope'")
        await t.call("list_secrets", namespace=namespace)
        binary = await t.call("get_secret", name="bin", namespace=namespace, include_values=True)
        assert binary["values_base64"] == {"raw": "/wAB"}
    token = (await stored(admin, namespace, "open"))["token"]
    t.assert_never_shown(token)
    assert_not_leaked(server_logs.getvalue(), token)
    # Only the one answer that was asked for the values on an allowing server carries the canary.
    assert sum(CANARY in answer for answer in t.answers) == 1


async def test_list_pages_budget_and_all_namespaces(
    settings: Settings, namespace: str, admin: client.ApiClient
) -> None:
    async with tools(settings) as t:
        for i in range(7):
            await t.call("create_secret", name=f"s{i}", namespace=namespace, data={"k": f"value-{i}"})
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = await t.call(
                "list_secrets", namespace=namespace, limit=3, **({"continue_token": token} if token else {})
            )
            pages += 1
            seen += [r["name"] for r in page["items"]]
            token = page.get("continue_token")
            if not token:
                break
        assert (pages, seen) == (3, [f"s{i}" for i in range(7)])
        wide = {f"key-number-{n:03d}-with-a-long-name": "v" for n in range(60)}
        for i in range(8):
            await t.call("create_secret", name=f"wide{i}", namespace=namespace, data=wide, labels={"shape": "wide"})
    small = settings.model_copy(update={"output_budget": 2_000})
    async with tools(small) as t:
        seen, token, cuts = [], None, 0
        while True:
            args: dict[str, Any] = {"namespace": namespace, "label_selector": "shape=wide"}
            result = await t.raw("list_secrets", **args, **({"continue_token": token} if token else {}))
            assert len(result.content[0].text.encode()) <= 2_000  # type: ignore[union-attr]
            page = result.structured_content
            assert page is not None
            assert all(r["more_keys"] + len(r["keys"]) == 60 for r in page["items"])
            seen += [r["name"] for r in page["items"]]
            cuts += bool(page.get("truncated"))
            token = page.get("continue_token")
            if not token:
                break
        assert cuts >= 1
        assert seen == [f"wide{i}" for i in range(8)]
        got = await t.call("get_secret", name="wide0", namespace=namespace)
        assert got["truncated"]["omitted"] >= 1
    other = await create_namespace(admin, "other")
    try:
        await admin_secret(admin, other, {"metadata": {"name": "elsewhere"}, "data": {"x": b64("y-value")}})
        fenced = settings.model_copy(update={"allowed_namespaces": (namespace, other)})
        async with tools(fenced) as t:
            rows: list[tuple[str, str]] = []
            token = None
            while True:
                page = await t.call("list_secrets", all_namespaces=True, **({"continue_token": token} if token else {}))
                rows += [(r["namespace"], r["name"]) for r in page["items"]]
                token = page.get("continue_token")
                if not token:
                    break
            assert (other, "elsewhere") in rows
            assert (namespace, "s0") in rows
            outside = await t.error("list_secrets", namespace="default")
            assert "outside the namespaces this server may use" in outside
    finally:
        await delete_namespace(admin, other)


async def test_errors_never_echo_values(settings: Settings, namespace: str, mode: str, admin: client.ApiClient) -> None:
    async with tools(settings, mode=mode) as t:
        bad_key = await t.error("create_secret", name="e1", namespace=namespace, data={"bad key": CANARY})
        assert bad_key == "Secret key 'bad key' is not valid; keys use only letters, digits, '-', '_' and '.'."
        as_text = await t.error("create_secret", name="e1", namespace=namespace, data=f"password={CANARY}")
        assert as_text.startswith("data must be an object mapping keys to plain string values")
        number = await t.error("create_secret", name="e1", namespace=namespace, data={"port": 8080, "pw": CANARY})
        assert number.startswith("data['port'] must be a plain string")
        docker = await t.error(
            "create_secret",
            name="e1",
            namespace=namespace,
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": CANARY},
        )
        assert docker.startswith(f'The API server rejected create secret "e1" in namespace "{namespace}" as invalid:')
        assert "data[.dockerconfigjson]" in docker
        tls = await t.error(
            "create_secret", name="e1", namespace=namespace, type="kubernetes.io/tls", data={"tls.crt": CANARY}
        )
        assert "data[tls.key]" in tls
        bad_name = await t.error("create_secret", name="Bad_Name", namespace=namespace, data={"pw": CANARY})
        assert "metadata.name" in bad_name
        too_big = await t.error("create_secret", name="e1", namespace=namespace, data={"big": CANARY + "x" * 1_048_576})
        assert "a Secret holds at most 1048576 bytes" in too_big
        alphabet = await t.error(
            "create_secret", name="e1", namespace=namespace, generate=[{"key": "pw", "characters": "aab"}]
        )
        assert alphabet.startswith("generate['pw']: the custom alphabet repeats 'a'")
        short = await t.error("create_secret", name="e1", namespace=namespace, generate=[{"key": "pw", "length": 5}])
        assert "greater than or equal to 8" in short
        missing = await t.error("update_secret", name="nope", namespace=namespace, data={"pw": CANARY})
        assert missing.startswith(f'Secret "nope" in namespace "{namespace}" was not found')
        # A JSON string where an object belongs is accepted (some clients send objects as strings).
        created = await t.call("create_secret", name="e2", namespace=namespace, data=json.dumps({"pw": CANARY}))
        assert created["keys"] == [{"key": "pw", "size": len(CANARY)}]
    with pytest.raises(ApiException) as caught:
        await client.CoreV1Api(admin).read_namespaced_secret("e1", namespace)
    assert caught.value.status == 404


async def test_update_asks_before_a_value_is_lost(
    settings: Settings, namespace: str, admin: client.ApiClient, mode: str
) -> None:
    questions: list[str] = []

    async def decide(context: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        accept = len(questions) > 1
        return ElicitResult(action="accept" if accept else "decline", content={"confirm": True} if accept else None)

    await admin_secret(admin, namespace, {"metadata": {"name": "keep"}, "data": {"pw": b64("old-value-1")}})
    async with tools(settings, mode=mode, elicitation_callback=decide) as t:
        added = await t.call("update_secret", name="keep", namespace=namespace, data={"new": "x" * 8})
        assert (added["action"], questions) == ("updated", [])  # adding a key loses nothing: nobody is asked
        declined = await t.call("update_secret", name="keep", namespace=namespace, data={"pw": CANARY})
        assert declined["action"] == "unchanged"
        assert "did not confirm" in declined["note"]
        assert questions == [
            f'Overwrite or drop pw in secret "keep" (namespace "{namespace}")? Their values cannot be recovered.'
        ]
        assert (await stored(admin, namespace, "keep"))["pw"] == "old-value-1"
        accepted = await t.call("update_secret", name="keep", namespace=namespace, remove_keys=["pw"])
        assert accepted["removed"] == ["pw"]
        missing = await t.error("update_secret", name="absent", namespace=namespace, data={"pw": "whatever-1"})
        assert "not found" in missing
    assert len(questions) == 2
