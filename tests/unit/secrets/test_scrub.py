"""Registered values never reach a log line or an error message, whichever path carries them."""

from __future__ import annotations

import base64
import logging

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from mcp_k8s import errors
from mcp_k8s.kube.secret_data import register_given, register_values
from mcp_k8s.logging import REDACTED, get_logger, register_secret_values
from mcp_k8s.tools.base import boundary
from tests.canary import CANARY, assert_not_leaked, captured_logs

pytestmark = pytest.mark.anyio


def test_a_value_in_a_log_field_is_redacted() -> None:
    register_secret_values([CANARY])
    with captured_logs() as logs:
        get_logger("test").info("about to store", note=f"value is {CANARY}", nested={"list": [CANARY]})
    text = logs.getvalue()
    assert "about to store" in text
    assert REDACTED in text
    assert_not_leaked(text, CANARY)


def test_a_value_in_an_exception_message_is_redacted() -> None:
    register_secret_values([CANARY])
    with captured_logs() as logs:
        try:
            raise ValueError(f"could not parse {CANARY!r}")
        except ValueError:
            get_logger("test").exception("parse failed")
        try:
            raise RuntimeError(CANARY)
        except RuntimeError:
            logging.getLogger("some.library").exception("library failed with %s", CANARY)
    text = logs.getvalue()
    assert "parse failed" in text
    assert "library failed" in text
    assert "ValueError" in text
    assert_not_leaked(text, CANARY)


def test_the_base64_form_is_redacted_too() -> None:
    value = "base64-form-of-this-is-registered"
    register_values([value])
    encoded = base64.b64encode(value.encode()).decode()
    with captured_logs(fmt="console") as logs:
        get_logger("test").warning("stored", blob=encoded)
        logging.getLogger("aiohttp.client").warning("body %s", encoded)
    assert encoded not in logs.getvalue()
    assert logs.getvalue().count(REDACTED) == 2


def test_register_given_walks_nested_arguments() -> None:
    given = {"a": "nested-given-value-one", "b": ["nested-given-value-two"]}
    assert register_given(given) is given
    with captured_logs() as logs:
        get_logger("test").info("echo", x=str(given))
    assert "nested-given-value" not in logs.getvalue()


async def test_the_tool_boundary_scrubs_error_messages() -> None:
    register_secret_values([CANARY])

    async def failing_tool() -> None:
        raise errors.Invalid(f"The API server rejected create secret: data[x]: Invalid value: {CANARY!r}.")

    with captured_logs() as logs, pytest.raises(ToolError) as caught:
        await boundary(failing_tool)()
    assert str(caught.value).startswith("The API server rejected create secret")
    assert REDACTED in str(caught.value)
    assert_not_leaked(str(caught.value), CANARY)
    assert_not_leaked(logs.getvalue(), CANARY)


async def test_a_crash_inside_a_tool_leaks_nothing() -> None:
    register_secret_values([CANARY])

    async def crashing_tool() -> None:
        raise KeyError(CANARY)

    with captured_logs() as logs, pytest.raises(ToolError) as caught:
        await boundary(crashing_tool)()
    assert "crashing_tool failed unexpectedly (KeyError)" in str(caught.value)
    assert "tool crashed" in logs.getvalue()
    assert_not_leaked(str(caught.value) + logs.getvalue(), CANARY)
