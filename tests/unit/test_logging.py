"""Our own log lines are rendered and written directly (mcp_k8s/logging.py), with the same fields, level filter and
redaction as the standard-library route, and a later `configure` still applies to loggers already used."""

from __future__ import annotations

import json
import logging

from mcp_k8s.logging import REDACTED, get_logger, register_secret_values
from tests.canary import CANARY, assert_not_leaked, captured_logs


def test_a_line_has_the_usual_fields_and_respects_the_level() -> None:
    log = get_logger("mcp_k8s.test")
    with captured_logs(level="info") as logs:
        log.debug("not shown")
        log.info("tool call", tool="get_custom_resource", name="w-1")
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["event"] == "tool call"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "mcp_k8s.test"
    assert lines[0]["tool"] == "get_custom_resource"
    assert lines[0]["timestamp"].endswith("Z")


def test_a_logger_used_before_configure_follows_the_new_configuration() -> None:
    log = get_logger("mcp_k8s.test")
    with captured_logs(fmt="json") as first:
        log.info("one")
    with captured_logs(fmt="console") as second:
        log.warning("two")
    assert '"event": "one"' in first.getvalue()
    assert "two" in second.getvalue()
    assert "two" not in first.getvalue()
    assert not second.getvalue().startswith("{")


def test_exceptions_and_secret_values_on_the_direct_path() -> None:
    register_secret_values([CANARY])
    log = get_logger("mcp_k8s.test")
    with captured_logs() as logs:
        try:
            raise ValueError(f"bad value {CANARY}")
        except ValueError:
            log.exception("failed", detail=CANARY)
    text = logs.getvalue()
    assert "ValueError" in text
    assert REDACTED in text
    assert_not_leaked(text, CANARY)


def test_another_handler_on_the_root_gets_the_usual_records() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    extra = Keep()
    with captured_logs() as logs:
        logging.getLogger().addHandler(extra)
        get_logger("mcp_k8s.test").info("to both")
    assert "to both" in logs.getvalue()
    assert len(seen) == 1
