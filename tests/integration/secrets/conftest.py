"""Every secrets integration test runs with the server's logs captured, and fails if the canary reaches them."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.canary import CANARY, assert_not_leaked, captured_logs


@pytest.fixture(autouse=True)
def server_logs() -> Iterator[io.StringIO]:
    """The server's log output for this test (JSON lines, debug level); the canary must never be in it."""
    with captured_logs() as logs:
        yield logs
    assert_not_leaked(logs.getvalue(), CANARY)
