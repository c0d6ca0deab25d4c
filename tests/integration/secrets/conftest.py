"""Every secrets integration test runs with the server's logs captured, and fails if the canary reaches them."""

from tests.canary import server_logs  # noqa: F401 (an autouse fixture, active for this directory)
