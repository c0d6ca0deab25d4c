"""One cache for many clients: MCP clients over streamable HTTP against one `mcp-k8s watch --http` daemon
(run by `nox -s bench -- load`, or `python bench/bench_load.py`).

Against a fresh sandbox control plane with N widgets, one daemon watching the two test CRD types, and a do-nothing MCP
server (tests/noop_server.py) on the same SDK, ASGI app and uvicorn settings, in the same run:

- 2 and then 50 MCP clients (the SDK's `Client` over its HTTP transport, protocol 2026-07-28) connect; /metrics must
  show exactly one open WATCH per type and no LIST beyond the initial ones, whatever the number of clients;
- bursts of 1,000 concurrent tool calls spread over the 50 clients: `get_custom_resource` (a cached read) against the
  daemon, `noop` against the do-nothing server, alternating, `--rounds` times; every call must succeed;
- per-call latency p50/p99 (send → answer, all 1,000 in flight at once), throughput (calls / wall time of the burst),
  the server's CPU time per call, the load generator's own CPU time per call (the clients share one process: on a
  busy machine it is often the bottleneck), and the daemon's RSS before the 50 clients connect and after the bursts.

Prints `RESULT <id> <name> <value> <unit>` lines and checks the targets: 0 errors, one watch per type, RSS growth
< 50 MB, cached-read throughput ≥ 0.8× the do-nothing server's. Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from kubernetes_asyncio import client as k8s
from mcp import Client

# Runnable as `python bench/bench_load.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_k8s import sandbox
from tests.daemons import Daemon, mcp_http_client, noop_server, watch_daemon
from tests.kube import api_client, apply_test_crds, create_namespace

WATCH = ("widgets.example.com/v1", "clusterwidgets.example.com/v1")
MB = 1024 * 1024
RESULTS: dict[str, float] = {}
FAILED: list[str] = []


def result(ident: str, name: str, value: float, unit: str) -> None:
    RESULTS[f"{ident} {name}"] = value
    print(f"RESULT {ident} {name} {value:.6g} {unit}", flush=True)


def target(ok: bool, what: str) -> None:
    print(f"TARGET {'met' if ok else 'MISSED'}: {what}", flush=True)
    if not ok:
        FAILED.append(what)


@dataclass
class Burst:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def calls(self) -> int:
        return len(self.latencies) + len(self.errors)

    def quantile(self, q: float) -> float:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[round(q * 100) - 1]


@asynccontextmanager
async def clients(url: str, count: int, token: str | None) -> AsyncIterator[list[Client]]:
    """`count` MCP clients, each with its own connection pool and its own server/discover (entered one after the
    other: a client's task group must be left by the task that entered it)."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(mcp_http_client(url, token=token)) for _ in range(count)]


async def burst(server: Daemon, connected: Sequence[Client], calls: int, tool: str, make_args: Any) -> Burst:
    """`calls` tool calls in flight at once, spread round-robin over the clients."""
    out = Burst()

    async def one(c: Client, index: int) -> None:
        started = time.perf_counter()
        try:
            answer = await c.call_tool(tool, make_args(index))
        except Exception as exc:  # a transport failure is an error like any other
            out.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if answer.is_error:
            out.errors.append(str(answer.content[0].text if answer.content else answer))  # type: ignore[union-attr]
            return
        out.latencies.append(time.perf_counter() - started)

    cpu, client_cpu = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(calls):
            tg.start_soon(one, connected[i % len(connected)], i)
    out.wall = time.perf_counter() - started
    out.cpu = server.cpu_seconds() - cpu
    out.client_cpu = time.process_time() - client_cpu
    return out


async def check_one_watch(daemon: Daemon, label: str) -> None:
    active = await daemon.watches_active()
    lists: dict[str, float] = {}
    for (name, labels), count in (await daemon.metrics()).items():
        if name == "mcp_k8s_cache_lists_total":
            resource = dict(labels)["resource"]
            lists[resource] = lists.get(resource, 0) + count
    for spec in WATCH:
        result(label, f"watches_active[{spec}]", active.get(spec, -1), "watches")
    target(
        all(active.get(spec) == 1 for spec in WATCH),
        f"{label}: one open WATCH per type ({active})",
    )
    target(
        all(count == 1 for count in lists.values()) and len(lists) == len(WATCH),
        f"{label}: no LIST beyond the initial one per type ({lists})",
    )


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-bench-load-"))
    async with sandbox.start_control_plane(dict(os.environ)) as plane, api_client(plane.admin_kubeconfig) as admin:
        await apply_test_crds(admin)
        namespace = await create_namespace(admin, "load")
        objects = k8s.CustomObjectsApi(admin)
        for i in range(args.objects):
            body = {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": f"w-{i:04d}", "labels": {"bench": "load"}},
                "spec": {"size": i % 7 + 1, "color": "blue"},
            }
            await objects.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", body)
        extra: list[str] = []
        token: str | None = None
        if args.auth:
            token = secrets.token_urlsafe(32)
            token_file = workdir / "tokens.csv"
            token_file.write_text(f"{token},load-client\n")
            token_file.chmod(0o600)
            extra = ["--auth", "token-file", "--auth-token-file", str(token_file)]
            print("the daemon requires a bearer token (--auth token-file); the do-nothing server does not", flush=True)

        def get_args(i: int) -> dict[str, Any]:
            return {"plural": "widgets", "namespace": namespace, "name": f"w-{i % args.objects:04d}"}

        def noop_args(i: int) -> dict[str, Any]:
            return {"name": f"w-{i % args.objects:04d}"}

        async with watch_daemon(plane.admin_kubeconfig, WATCH, workdir, *extra) as daemon, noop_server(workdir) as noop:
            result("daemon", "rss_idle", daemon.rss_bytes() / MB, "MiB")
            async with clients(daemon.mcp_url, 2, token) as two:
                warm = await burst(daemon, two, 100, "get_custom_resource", get_args)
                target(not warm.errors, f"2 clients: 100 calls, 0 errors ({warm.errors[:3]})")
                await check_one_watch(daemon, "clients2")
            rss_before = daemon.rss_bytes()
            result("daemon", "rss_before_50_clients", rss_before / MB, "MiB")
            async with (
                clients(daemon.mcp_url, args.clients, token) as many,
                clients(noop.mcp_url, args.clients, None) as baseline,
            ):
                await burst(daemon, many, args.clients * 4, "get_custom_resource", get_args)  # warm-up
                await burst(noop, baseline, args.clients * 4, "noop", noop_args)
                cached: list[Burst] = []
                nothing: list[Burst] = []
                for _ in range(args.rounds):
                    cached.append(await burst(daemon, many, args.calls, "get_custom_resource", get_args))
                    nothing.append(await burst(noop, baseline, args.calls, "noop", noop_args))
                await check_one_watch(daemon, f"clients{args.clients}")
                rss_after = daemon.rss_bytes()
            result("daemon", "rss_after_bursts", rss_after / MB, "MiB")
            result("daemon", "rss_growth", (rss_after - rss_before) / MB, "MiB")
            target(rss_after - rss_before < 50 * MB, "RSS growth after the bursts < 50 MB")
            report(cached, nothing, args)


def report(cached: list[Burst], nothing: list[Burst], args: argparse.Namespace) -> None:
    """The per-server figures of the alternating bursts, then the ratios."""
    for label, runs in (("cached_read", cached), ("noop", nothing)):
        errors = sum(len(b.errors) for b in runs)
        latencies = Burst(latencies=[x for b in runs for x in b.latencies])
        result(label, "calls", sum(b.calls for b in runs), "calls")
        result(label, "errors", errors, "calls")
        result(label, "latency_p50", latencies.quantile(0.50) * 1000, "ms")
        result(label, "latency_p99", latencies.quantile(0.99) * 1000, "ms")
        result(label, "throughput", statistics.median(b.calls / b.wall for b in runs), "calls/s")
        result(label, "server_cpu_per_call", statistics.median(b.cpu / b.calls for b in runs) * 1e3, "ms")
        result(label, "client_cpu_per_call", statistics.median(b.client_cpu / b.calls for b in runs) * 1e3, "ms")
        first = next((e for b in runs for e in b.errors), None)
        target(errors == 0, f"{label}: {args.rounds}×{args.calls} concurrent calls, 0 errors ({first})")
    ratio = RESULTS["cached_read throughput"] / RESULTS["noop throughput"]
    result("cached_read", "throughput_over_noop", ratio, "x")
    target(ratio >= 0.8, "cached-read throughput ≥ 0.8× the do-nothing server's")
    cpu_ratio = RESULTS["cached_read server_cpu_per_call"] / RESULTS["noop server_cpu_per_call"]
    result("cached_read", "server_cpu_over_noop", cpu_ratio, "x")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--auth", action="store_true", help="run the daemon with --auth token-file (clients send it)")
    args = parser.parse_args(argv)
    anyio.run(run, args)
    if FAILED:
        print(f"{len(FAILED)} target(s) missed", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
