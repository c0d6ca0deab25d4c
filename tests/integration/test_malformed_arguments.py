"""Malformed arguments fired at every tool: each answer is an error with one readable sentence, and the server
keeps answering. Runs against the real API server, so arguments that pass validation meet real Kubernetes errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import pytest
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from mcp import Client
from mcp.types import CallToolResult

from mcp_k8s.server import build_server
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster

EXAMPLES = 600

bad_names = st.sampled_from(["", "../etc", "A B", "x" * 300, "Name_With_Caps", "a/b", "%2e%2e", "\x00", "🙂", "-x-"])
huge = st.builds(lambda n: "z" * n, st.integers(min_value=10_000, max_value=200_000))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=50),
    bad_names,
    huge,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12,
)
bad_patches = st.sampled_from(
    [
        [{"op": "explode", "path": "/spec"}],
        [{"op": "replace", "path": "spec", "value": 1}],
        [],
        {},
        "not: [valid",
        [{"op": "remove", "path": "/does/not/exist"}],
        {"metadata": {"name": "other"}},
        "- a\n- b",
        42,
    ]
)


@pytest.fixture(scope="module")
def fuzz_client(cluster: TestCluster) -> Iterator[Fuzz]:
    """One server for every example (so it must survive them all), driven from a portal's event loop because
    hypothesis runs examples synchronously."""
    server = build_server(Settings(kubeconfig=cluster.kubeconfig))
    with anyio.from_thread.start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(server)) as c:
        tools = {t.name: t.input_schema for t in portal.call(c.list_tools).tools}
        yield Fuzz(portal, c, tools)


@dataclass
class Fuzz:
    portal: BlockingPortal
    client: Client
    tools: dict[str, dict[str, Any]]

    def call(self, name: str, args: dict[str, Any]) -> CallToolResult:
        return self.portal.call(self.client.call_tool, name, args)


def arguments_for(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = list(schema.get("properties", {}))
    value_for = {p: st.one_of(json_values, bad_names, bad_patches) for p in props}
    known = st.fixed_dictionaries({}, optional={p: value_for[p] for p in props})
    return st.one_of(known, st.dictionaries(st.text(max_size=12), json_values, max_size=4))


def test_fuzz_covers_every_tool(fuzz_client: Fuzz) -> None:
    assert len(fuzz_client.tools) >= 5


@given(data=st.data())
# derandomize + no example database: the tool list changes as tools are added, and replaying examples recorded
# against another tool list makes hypothesis report flaky data generation instead of testing anything.
@hsettings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
def test_malformed_arguments_get_readable_errors(fuzz_client: Fuzz, data: st.DataObject) -> None:
    tools = fuzz_client.tools
    name = data.draw(st.sampled_from(sorted(tools)), label="tool")
    args = data.draw(arguments_for(tools[name]), label="arguments")
    # The force flag would let a destructive call through; the fuzzer is about malformed input, not deletion.
    if isinstance(args.get("force"), bool) or args.get("force"):
        args["force"] = False
    result = fuzz_client.call(name, args)
    text = result.content[0].text if result.content else ""  # type: ignore[union-attr]
    if result.is_error:
        assert text.startswith(f"Error executing tool {name}: "), text[:200]
        message = text.split(": ", 1)[1]
        assert "\n" not in message, message[:300]
        assert "Traceback" not in message
        assert "errors.pydantic.dev" not in message
        assert "input_value" not in message
        assert len(message) < 1_200, message[:300]
        assert not message.startswith(f"{name} failed unexpectedly"), message
    else:  # a success is still a well-formed answer: structured content, and a text rendering of it
        assert result.structured_content is not None
        assert text.strip()
    # The server keeps answering after every malformed call.
    pong = fuzz_client.call("list_custom_resources", {"plural": "namespaces-that-do-not-exist"})
    assert pong.is_error
