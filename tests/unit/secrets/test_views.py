"""Redacted views, key validation, and parsing of caller values: nothing built here can carry a value."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mcp_k8s import errors
from mcp_k8s.kube.secret_data import validate_key
from mcp_k8s.kube.secrets import (
    GENERATED_KEYS,
    StoredSecret,
    _stored,
    decoded_size,
    redacted_view,
)
from mcp_k8s.logging import REDACTED, scrub
from mcp_k8s.objects import LAST_APPLIED
from mcp_k8s.settings import Settings
from mcp_k8s.tools.secret_arguments import parse_data
from tests.canary import CANARY, assert_not_leaked


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def secret_object(**extra: Any) -> dict[str, Any]:
    """A Secret as the API returns it, with the canary in every place a value can hide."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "team",
            "uid": "u-1",
            "resourceVersion": "42",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "db"},
            "annotations": {
                "owner": "team-a",
                LAST_APPLIED: json.dumps({"kind": "Secret", "stringData": {"password": CANARY}}),
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:data": {"f:password": {}}}}],
        },
        "type": "kubernetes.io/basic-auth",
        "data": {"password": b64(CANARY.encode()), "username": b64(b"app"), "blob": b64(b"\xff\x00\x01")},
    }
    obj.update(extra)
    return obj


def test_view_has_keys_sizes_and_metadata_but_no_values() -> None:
    view = redacted_view(secret_object())
    assert view.model_dump() == {
        "name": "db",
        "namespace": "team",
        "type": "kubernetes.io/basic-auth",
        "immutable": False,
        "keys": [
            {"key": "blob", "size": 3},
            {"key": "password", "size": len(CANARY)},
            {"key": "username", "size": 3},
        ],
        "labels": {"app": "db"},
        "annotations": {"owner": "team-a"},
        "created": "2026-01-01T00:00:00Z",
        "resource_version": "42",
    }
    assert_not_leaked(view.model_dump_json(), CANARY)


def test_view_defaults_for_sparse_objects() -> None:
    view = redacted_view({"metadata": {"name": "x"}, "immutable": True})
    assert (view.type, view.immutable, view.keys, view.labels, view.annotations) == ("Opaque", True, [], None, None)


@pytest.mark.parametrize("raw", [b"", b"a", b"ab", b"abc", b"abcd", bytes(range(256)), CANARY.encode()])
def test_decoded_size_matches_without_decoding(raw: bytes) -> None:
    assert decoded_size(b64(raw)) == len(raw)


def test_stored_secret_reveals_only_on_policy() -> None:
    stored = StoredSecret(view=redacted_view(secret_object()), _data=secret_object()["data"])
    assert_not_leaked(repr(stored), CANARY)
    with pytest.raises(errors.NotAllowed, match="--allow-secret-values"):
        stored.reveal(Settings())
    revealed = stored.reveal(Settings(allow_secret_values=True))
    assert revealed.text == {"password": CANARY, "username": "app"}
    assert revealed.base64 == {"blob": b64(b"\xff\x00\x01")}
    only = stored.reveal(Settings(allow_secret_values=True), ["username"])
    assert only.text == {"username": "app"}
    with pytest.raises(errors.InvalidInput, match="no key 'nope'"):
        stored.reveal(Settings(allow_secret_values=True), ["nope"])


def test_stored_values_are_registered_when_revealed_not_when_read() -> None:
    value = "stored-value-revealed-in-this-test-only"
    obj = secret_object(data={"k": b64(value.encode())})
    stored = _stored(obj)
    assert scrub(value) == value  # reading a secret does not turn its values into redactions everywhere
    stored.reveal(Settings(allow_secret_values=True))
    assert scrub(value) == REDACTED
    assert scrub(b64(value.encode())) == REDACTED


def test_generated_keys_stay_withheld_even_when_values_are_allowed() -> None:
    obj = secret_object()
    obj["metadata"]["annotations"][GENERATED_KEYS] = "password"
    stored = StoredSecret(view=redacted_view(obj), _data=obj["data"])
    revealed = stored.reveal(Settings(allow_secret_values=True))
    assert revealed.withheld == ["password"]
    assert "password" not in revealed.text


@pytest.mark.parametrize("key", ["a", "tls.crt", ".dockerconfigjson", "A_b-c.d", "a..b", "x" * 253, ".a"])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "non-empty"),
        ("x" * 254, "longer than 253"),
        ("a b", "not valid"),
        ("a/b", "not valid"),
        ("ü", "not valid"),
        ("a\n", "not valid"),
        (".", "must not be '.'"),
        ("..", "must not be '.'"),
        ("..a", "start with '..'"),
    ],
)
def test_invalid_keys(key: str, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        validate_key(key)


def test_parse_data_accepts_plain_strings_and_registers_them() -> None:
    value = "plain-value-registered-on-arrival"
    assert parse_data({"k": value}) == {"k": value}
    assert parse_data(None) == {}
    assert scrub(f"x {value} y") == f"x {REDACTED} y"
    assert scrub(base64.b64encode(value.encode()).decode()) == REDACTED


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"password={CANARY}", "must be an object"),
        ([CANARY], "must be an object"),
        ({"password": 1234, "other": CANARY}, "must be a plain string"),
        ({"bad key": CANARY}, "not valid"),
        ({f"k{i}": CANARY for i in range(300)}, "the most per call is 256"),
    ],
)
def test_parse_data_errors_name_keys_never_values(raw: Any, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message) as caught:
        parse_data(raw)
    assert_not_leaked(caught.value.message, CANARY)
