"""What create and update send to the API server, checked against a recording fake of KubeClient.request."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mcp_k8s import errors
from mcp_k8s.kube import secrets
from mcp_k8s.kube.client import MERGE_PATCH, KubeClient
from mcp_k8s.kube.secrets import GENERATED_KEYS
from mcp_k8s.logging import REDACTED, scrub
from mcp_k8s.tools.secret_arguments import GenerateSpec, parse_change
from tests.canary import CANARY, assert_not_leaked

pytestmark = pytest.mark.anyio


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@dataclass
class Sent:
    method: str
    path: str
    query: list[tuple[str, Any]]
    body: Any
    content_type: str


@dataclass
class FakeKube:
    """Answers GET with `stored`, POST with the body, PATCH with a merge of the patch into `stored`."""

    stored: dict[str, Any] | None = None
    sent: list[Sent] = field(default_factory=list)

    async def request(
        self,
        method: str,
        path: str,
        *,
        op: errors.Operation,
        query: Any = (),
        body: Any = None,
        content_type: str = "application/json",
        **_: Any,
    ) -> Any:
        self.sent.append(Sent(method, path, list(query), copy.deepcopy(body), content_type))
        if method == "GET":
            assert self.stored is not None
            return copy.deepcopy(self.stored)
        if method == "POST":
            return {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
        if method == "PATCH":
            assert self.stored is not None
            return merge(copy.deepcopy(self.stored), body)
        return {"kind": "Status", "status": "Success"}

    def as_client(self) -> KubeClient:
        return cast(KubeClient, self)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def existing(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app", "namespace": "ns", "resourceVersion": "7"},
        "type": "Opaque",
        "data": {k: b64(v) for k, v in data.items()},
    }


async def test_create_sends_base64_data_and_registers_generated_values() -> None:
    kube = FakeKube()
    change = parse_change({"password": CANARY}, [GenerateSpec(key="token", length=40, alphabet="hex")])
    result = await secrets.create_secret(
        kube.as_client(), "ns", "app", change, secret_type="Opaque", labels={"app": "a"}, dry_run=True
    )
    (post,) = kube.sent
    assert (post.method, post.path) == ("POST", "/api/v1/namespaces/ns/secrets")
    assert ("dryRun", "All") in post.query
    assert post.body["data"]["password"] == b64(CANARY)
    assert "stringData" not in post.body
    token = base64.b64decode(post.body["data"]["token"]).decode()
    assert len(token) == 40
    assert set(token) <= set("0123456789abcdef")
    assert post.body["metadata"]["annotations"] == {GENERATED_KEYS: "token"}
    # Every value is registered before the request: logs and error messages cannot carry it.
    for value in (CANARY, token, b64(CANARY), b64(token)):
        assert scrub(f"<{value}>") == f"<{REDACTED}>"
    assert [g.key for g in result.generated] == ["token"]
    assert_not_leaked(repr(result), CANARY, token)


async def test_create_refuses_more_than_a_secret_can_hold() -> None:
    kube = FakeKube()
    change = parse_change({"a": "x" * 600_000, "b": "y" * 600_000})
    with pytest.raises(errors.InvalidInput, match="at most 1048576 bytes"):
        await secrets.create_secret(kube.as_client(), "ns", "app", change)
    assert kube.sent == []


async def test_update_is_a_merge_patch_naming_only_the_changed_keys() -> None:
    kube = FakeKube(stored=existing(keep="kept-value", replace="old-value", drop="dropped-value"))
    change = parse_change({"replace": "new-value", "add": "added-value"}, ["fresh"], ["drop", "never-there"])
    result = await secrets.update_secret(kube.as_client(), "ns", "app", change, labels={"tier": "db"})
    get, patch = kube.sent
    assert (get.method, patch.method) == ("GET", "PATCH")
    assert patch.content_type == MERGE_PATCH
    assert patch.path == "/api/v1/namespaces/ns/secrets/app"
    body = patch.body
    assert set(body["data"]) == {"replace", "add", "fresh", "drop"}  # "keep" is not named: a concurrent change survives
    assert body["data"]["drop"] is None
    assert body["data"]["replace"] == b64("new-value")
    assert body["metadata"] == {"labels": {"tier": "db"}, "annotations": {GENERATED_KEYS: "fresh"}}
    assert "resourceVersion" not in json.dumps(body)
    assert (result.added, result.replaced, result.removed, result.not_present) == (
        ["add", "fresh"],
        ["replace"],
        ["drop"],
        ["never-there"],
    )
    assert [k.key for k in result.stored.view.keys] == ["add", "fresh", "keep", "replace"]


async def test_update_tracks_which_keys_hold_generated_values() -> None:
    stored = existing(a="value-a", b="value-b", c="value-c")
    stored["metadata"]["annotations"] = {GENERATED_KEYS: "a,b"}
    kube = FakeKube(stored=stored)
    await secrets.update_secret(kube.as_client(), "ns", "app", parse_change({"a": "now-given"}, ["c"], ["b"]))
    assert kube.sent[-1].body["metadata"] == {"annotations": {GENERATED_KEYS: "c"}}
    kube = FakeKube(stored=stored)
    await secrets.update_secret(kube.as_client(), "ns", "app", parse_change({"a": "x-given"}, [], ["b"]))
    assert kube.sent[-1].body["metadata"] == {"annotations": {GENERATED_KEYS: None}}


async def test_update_refuses_data_changes_on_an_immutable_secret() -> None:
    kube = FakeKube(stored={**existing(a="value-a"), "immutable": True})
    with pytest.raises(errors.Invalid, match="immutable") as caught:
        await secrets.update_secret(kube.as_client(), "ns", "app", parse_change({"a": CANARY}))
    assert [s.method for s in kube.sent] == ["GET"]
    assert_not_leaked(caught.value.message, CANARY)
    await secrets.update_secret(kube.as_client(), "ns", "app", parse_change(), labels={"x": "y"})
    assert kube.sent[-1].body == {"metadata": {"labels": {"x": "y"}}}


async def test_update_with_nothing_to_do() -> None:
    kube = FakeKube(stored=existing(a="value-a"))
    with pytest.raises(errors.InvalidInput, match="Nothing to update"):
        await secrets.update_secret(kube.as_client(), "ns", "app", parse_change())
    result = await secrets.update_secret(kube.as_client(), "ns", "app", parse_change(None, [], ["gone"]))
    assert result.not_present == ["gone"]
    assert [s.method for s in kube.sent] == ["GET"]


async def test_list_drops_data_without_decoding() -> None:
    class ListKube(FakeKube):
        async def request(self, method: str, path: str, **kwargs: Any) -> Any:
            return {
                "metadata": {"resourceVersion": "9", "continue": "next"},
                "items": [existing(password=CANARY), {**existing(), "data": {"x": "!!not-base64!!"}}],
            }

    page = await secrets.list_secrets(ListKube().as_client(), "ns", limit=2)
    assert page.continue_token == "next"
    assert [k.key for k in page.items[0].keys] == ["password"]
    assert_not_leaked(repr(page), CANARY)
