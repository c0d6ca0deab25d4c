"""Each HTTP status maps to our error type with one sentence naming verb, resource, name and namespace."""

from __future__ import annotations

import json

import pytest

from mcp_k8s import errors
from mcp_k8s.tools import hints

OP = errors.Operation(verb="get", resource="widgets.example.com", kind="Widget", name="w1", namespace="team-a")


def status(code: int, reason: str, message: str = "", **details: object) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
            "details": details,
        }
    ).encode()


def one_sentence(text: str) -> None:
    assert "\n" not in text
    assert "Traceback" not in text
    assert text.endswith(".") or text.endswith("?")


def test_invalid_lists_fields() -> None:
    body = status(
        422,
        "Invalid",
        'Widget.example.com "w1" is invalid: ...',
        name="w1",
        causes=[
            {"reason": "FieldValueInvalid", "message": "Invalid value: 5000: must be <= 1000", "field": "spec.size"},
            {"reason": "FieldValueNotSupported", "message": 'Unsupported value: "pink"', "field": "spec.color"},
        ],
    )
    err = errors.from_status(422, body, OP)
    assert isinstance(err, errors.Invalid)
    assert "spec.size: Invalid value: 5000: must be <= 1000" in err.message
    assert "spec.color" in err.message
    one_sentence(err.message)


def test_forbidden_names_user_verb_resource_namespace() -> None:
    body = status(
        403,
        "Forbidden",
        'widgets.example.com "w1" is forbidden: User "system:serviceaccount:a:b" cannot '
        'get resource "widgets" in API group "example.com" in the namespace "team-a"',
    )
    err = errors.from_status(403, body, OP)
    assert isinstance(err, errors.Forbidden)
    assert 'user "system:serviceaccount:a:b"' in err.message
    assert 'get widgets.example.com "w1" in namespace "team-a"' in err.message
    assert hints.sentence(err) == f"{err.message[:-1]}, or call check_access to see what is allowed."
    one_sentence(err.message)


def test_not_found_object_vs_type() -> None:
    obj = errors.from_status(404, status(404, "NotFound", 'widgets "w1" not found', name="w1", kind="widgets"), OP)
    assert type(obj) is errors.NotFound
    assert 'Widget "w1" in namespace "team-a" was not found' in obj.message
    list_op = errors.Operation(verb="list", resource="gizmos.example.com", namespace="team-a")
    typ = errors.from_status(404, status(404, "NotFound", "the server could not find the requested resource"), list_op)
    assert isinstance(typ, errors.TypeNotFound)
    assert "does not serve gizmos.example.com" in typ.message
    assert "check the resource type with list_api_resources" in hints.sentence(typ)
    one_sentence(obj.message)
    one_sentence(typ.message)


@pytest.mark.parametrize(
    ("code", "reason", "cls", "needle"),
    [
        (401, "Unauthorized", errors.Unauthorized, "rejected the credentials"),
        (409, "AlreadyExists", errors.AlreadyExists, "already exists"),
        (409, "Conflict", errors.Conflict, "re-read"),
        (410, "Expired", errors.Expired, "expired"),
        (500, "InternalError", errors.ServerError, "retry shortly"),
        (504, "Timeout", errors.ServerError, "timed out"),
    ],
)
def test_status_classes(code: int, reason: str, cls: type[errors.K8sError], needle: str) -> None:
    err = errors.from_status(code, status(code, reason, "x"), OP, server="https://k:6443")
    assert isinstance(err, cls)
    assert needle in err.message
    one_sentence(err.message)


def test_throttled_uses_retry_after() -> None:
    err = errors.from_status(429, status(429, "TooManyRequests", "slow down", retryAfterSeconds=7), OP)
    assert isinstance(err, errors.TooManyRequests)
    assert err.retry_after == 7
    assert "retry in 7 seconds" in err.message
    header = errors.from_status(429, b"", OP, retry_after_header="3")
    assert header.retry_after == 3


def test_non_status_body_is_never_dumped() -> None:
    html = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    err = errors.from_status(502, html, OP)
    assert "<html>" not in err.message
    assert len(err.message) < 300


def test_long_api_message_is_clipped() -> None:
    err = errors.from_status(500, status(500, "InternalError", "y" * 2000), OP)
    assert len(err.message) < 500


def test_unavailable_names_server_and_context() -> None:
    err = errors.unavailable(OP, server="https://10.0.0.1:6443", cause="connection refused", context="prod")
    assert 'https://10.0.0.1:6443 (context "prod")' in err.message
    one_sentence(err.message)


def test_apply_conflict_says_force_conflicts_takes_ownership() -> None:
    """A 409 on a server-side apply is a field-ownership conflict: re-reading does not resolve it, forcing does."""
    apply = errors.Operation(
        verb="patch", resource="widgets.example.com", kind="Widget", name="w1", namespace="team-a", apply=True
    )
    message = 'Apply failed with 1 conflict: conflict with "kubectl-edit" using example.com/v1: .spec.size'
    err = errors.from_status(409, status(409, "Conflict", message), apply)
    assert isinstance(err, errors.Conflict)
    assert err.message.startswith('Conflict on patch (server-side apply) widget "w1" in namespace "team-a": ')
    assert '"kubectl-edit"' in err.message
    assert ".spec.size" in err.message
    assert "force_conflicts" not in err.message  # errors.py does not know the tools' parameters ...
    told = hints.sentence(err)  # ... the tool boundary words the way out
    assert told.startswith('Conflict on patch (server-side apply) widget "w1" in namespace "team-a": ')
    assert "force_conflicts=true" in told
    assert "re-read" not in told
    one_sentence(err.message)
    one_sentence(told)
    # The same status on a merge patch is a stale read: re-read and retry.
    stale = errors.from_status(409, status(409, "Conflict", "the object has been modified"), OP)
    assert "re-read" in stale.message
    assert "force_conflicts" not in hints.sentence(stale)


def test_local_and_api_errors_have_one_base_each() -> None:
    for local in (errors.InvalidInput, errors.NotAllowed, errors.NotConfigured):
        assert issubclass(local, errors.LocalError)
        assert not issubclass(local, errors.ApiError)
    for api in (errors.Invalid, errors.Forbidden, errors.TypeNotFound, errors.AlreadyExists, errors.Unavailable):
        assert issubclass(api, errors.ApiError)
        assert not issubclass(api, errors.LocalError)
    assert isinstance(errors.from_status(418, b"", OP), errors.ApiError)


def test_every_remedy_is_worded_at_the_tool_boundary() -> None:
    for remedy in errors.Remedy:
        error = errors.hinted(errors.InvalidInput, "Something was wrong", remedy, "fix it")
        assert error.message == "Something was wrong; fix it."
        told = hints.sentence(error)
        one_sentence(told)
        assert told != error.message
    assert hints.sentence(errors.InvalidInput("No hint here.")) == "No hint here."
