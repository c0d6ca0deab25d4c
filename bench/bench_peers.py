"""Side-by-side benchmark of MCP servers for Kubernetes (run by `nox -s bench -- peers`).

Every server runs against the same sandbox API server and is driven by the same client (`mcp.Client` over stdio):
- mcp-k8s (this repository, `python -m mcp_k8s serve`);
- the leader, containers/kubernetes-mcp-server (Go), built from its Go module at a pinned version;
- old-style: the sync `kubernetes` client behind asyncio.to_thread (bench/peers/old_style_server.py);
- floor: a minimal MCP server doing one bare kubernetes_asyncio GET per call (bench/peers/floor_server.py);
- noop: an MCP server whose tools do nothing, the ceiling (bench/peers/noop_server.py).

Rows (issue 12): tools/list size and count; text bytes of the answer for 100 custom resources of a CRD with
printer columns, and whether that text repeats structuredContent; spawn → first tools/list (median of 5, next to a
bare `python -c "from mcp.server import MCPServer"`); one get on the API path; 200 concurrent gets; a 100-row list
one at a time; and the server's CPU time per call (utime + stime from /proc/<pid>/stat), the steadier figure on a
shared machine. mcp-k8s's API path uses a user that may get but not list/watch, so its cache cannot answer; its
cached path uses the admin user. Prints a table and `RESULT <server> <name> <value> <unit>` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client

# Runnable as `python bench/bench_peers.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_cache import make_object  # bench/ is on sys.path when run as a script

from mcp_k8s import binaries, errors, sandbox
from mcp_k8s import logging as mk_logging
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.settings import Settings

LEADER_MODULE = "github.com/containers/kubernetes-mcp-server"
LEADER_VERSION = "v0.0.66"
PEERS_DIR = Path(__file__).resolve().parent / "peers"

GROUP = "peers.mcp-k8s.io"
VERSION = "v1"
PLURAL = "gadgets"
KIND = "Gadget"
NAMESPACE = "bench-peers"
OBJECTS = 100
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "gadget", "kind": KIND, "shortNames": ["gd"]},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                "additionalPrinterColumns": [
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }
        ],
    },
}
GETTER_RULES = [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get"]}]


# --- the leader, built from its Go module --------------------------------------------------------------------------


async def build_leader(version: str, environ: dict[str, str]) -> Path:
    """Build kubernetes-mcp-server `version` into the version-keyed cache (once) and return the binary.

    `go install module@version` is refused here (the proxy's deprecation lookup answers 403), so we download the
    exact version, copy the module to a scratch directory (the module cache is read-only) and build its command.
    """
    target = binaries.cache_root(environ) / f"kubernetes-mcp-server-{version}" / "kubernetes-mcp-server"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    if shutil.which("go") is None:
        raise RuntimeError("building the leader needs Go >= 1.26 on PATH; none was found.")
    env = {**environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    with tempfile.TemporaryDirectory(prefix="mcp-k8s-leader-") as scratch:
        info = json.loads(
            await binaries._go(  # the project's one way to run go (with a heartbeat)
                ["mod", "download", "-json", f"{LEADER_MODULE}@{version}"], cwd=Path(scratch), env=env, what="leader"
            )
        )
        source = Path(scratch) / "src"
        shutil.copytree(info["Dir"], source)
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        print(f"# building {LEADER_MODULE}@{version} (cold: several minutes)", file=sys.stderr, flush=True)
        await binaries._go(
            ["build", "-mod=mod", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), "./cmd/kubernetes-mcp-server"],
            cwd=source,
            env=env,
            what="leader",
        )
        partial.replace(target)
    return target


# --- the servers ---------------------------------------------------------------------------------------------------


Call = tuple[str, dict[str, Any]]


@dataclass
class Peer:
    """How to start one server and how to ask it for one object and for the 100-object list."""

    name: str
    command: Callable[[Path], list[str]]  # kubeconfig -> argv
    get: Callable[[str], Call]
    list_call: Call
    env: dict[str, str] = field(default_factory=dict)


def python_peer(name: str, script: str) -> Peer:
    return Peer(
        name=name,
        command=lambda kubeconfig: [sys.executable, str(PEERS_DIR / script), str(kubeconfig)],
        get=lambda obj: (
            "get_custom_resource",
            {"group": GROUP, "version": VERSION, "plural": PLURAL, "namespace": NAMESPACE, "name": obj},
        ),
        list_call=(
            "list_custom_resources",
            {"group": GROUP, "version": VERSION, "plural": PLURAL, "namespace": NAMESPACE},
        ),
    )


def peers(leader: Path | None, profile: Path | None = None) -> list[Peer]:
    """The servers to compare; with `profile`, ours runs under pyinstrument and saves its session there."""
    launcher = [str(PEERS_DIR / "profiled_server.py"), str(profile)] if profile else ["-m", "mcp_k8s"]
    ours = Peer(
        name="mcp-k8s",
        command=lambda kubeconfig: [
            sys.executable,
            *launcher,
            "serve",
            "--kubeconfig",
            str(kubeconfig),
        ],
        get=lambda obj: (
            "get_custom_resource",
            {"plural": PLURAL, "group": GROUP, "version": VERSION, "namespace": NAMESPACE, "name": obj},
        ),
        list_call=(
            "list_custom_resources",
            {"plural": PLURAL, "group": GROUP, "version": VERSION, "namespace": NAMESPACE, "limit": OBJECTS},
        ),
    )
    found = [ours]
    if leader is not None:
        found.append(
            Peer(
                name="leader",
                command=lambda kubeconfig: [str(leader), "--kubeconfig", str(kubeconfig)],
                get=lambda obj: (
                    "resources_get",
                    {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "namespace": NAMESPACE, "name": obj},
                ),
                list_call=(
                    "resources_list",
                    {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "namespace": NAMESPACE},
                ),
                # client-go's default 5 QPS would make the concurrency row measure a throttle, not the server.
                env={"KUBE_CLIENT_QPS": "10000", "KUBE_CLIENT_BURST": "10000"},
            )
        )
    found += [
        python_peer("old-style", "old_style_server.py"),
        python_peer("floor", "floor_server.py"),
        python_peer("noop", "noop_server.py"),
    ]
    return found


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """What every server gets: the SDK's safe default environment (no PYTHONDONTWRITEBYTECODE, no KUBECONFIG)."""
    env = get_default_environment() | extra
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def children() -> set[int]:
    """Direct children of this process (/proc, Linux)."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Running:
    client: Client
    pid: int

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


@asynccontextmanager
async def running(peer: Peer, kubeconfig: Path, log: Path) -> AsyncIterator[Running]:
    argv = peer.command(kubeconfig)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=child_env(peer.env))
    before = children()
    with log.open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog), cache=None) as client:
            await client.list_tools()
            spawned = children() - before
            if len(spawned) != 1:
                raise RuntimeError(f"expected one new child process for {peer.name}, found {sorted(spawned)}")
            yield Running(client, spawned.pop())


# --- measurements --------------------------------------------------------------------------------------------------


ROWS: dict[str, dict[str, str]] = {}


def result(server: str, name: str, value: float, unit: str, shown: str | None = None) -> None:
    print(f"RESULT {server} {name} {value:.6g} {unit}", flush=True)
    ROWS.setdefault(name, {})[server] = shown if shown is not None else f"{value:.3g} {unit}"


def text_of(answer: Any) -> str:
    return "".join(getattr(part, "text", "") for part in answer.content)


def check(server: str, answer: Any, what: str) -> None:
    if answer.is_error:
        raise RuntimeError(f"{server}: {what} failed: {text_of(answer)[:300]}")


async def spawn_times(peers_: Sequence[Peer], kubeconfig: Path, runs: int, log: Path) -> None:
    """Spawn → first tools/list answer, median of `runs`, interleaved with a bare SDK import (one warm-up round).

    Also the CPU time the process used until then (utime + stime): on a shared machine the steadier figure."""
    bare_env = child_env({})
    times: dict[str, list[float]] = {"python+mcp": []}
    cpu: dict[str, list[float]] = {"python+mcp": []}
    for round_ in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        await anyio.run_process([sys.executable, "-c", "from mcp.server import MCPServer"], env=bare_env)
        elapsed = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if round_:
            times["python+mcp"].append(elapsed)
            cpu["python+mcp"].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        for peer in peers_:
            argv = peer.command(kubeconfig)
            params = StdioServerParameters(command=argv[0], args=argv[1:], env=child_env(peer.env))
            known = children()
            with log.open("a") as errlog:
                began = time.perf_counter()
                async with Client(stdio_client(params, errlog=errlog), cache=None) as client:
                    await client.list_tools()
                    elapsed = time.perf_counter() - began
                    used = sum(cpu_seconds(pid) for pid in children() - known)
            if round_:
                times.setdefault(peer.name, []).append(elapsed)
                cpu.setdefault(peer.name, []).append(used)
    floor = statistics.median(times["python+mcp"])
    # CPU is compared with the do-nothing server: the bare import's figure includes interpreter teardown.
    floor_cpu = statistics.median(cpu["noop" if "noop" in cpu else "python+mcp"])
    for name in ["python+mcp", *(peer.name for peer in peers_)]:
        median, median_cpu = statistics.median(times[name]), statistics.median(cpu[name])
        shown = f"{median * 1000:.0f} ms" + (" (bare import)" if name == "python+mcp" else "")
        result(name, "spawn_to_tools_list", median * 1000, "ms", shown)
        result(name, "spawn_cpu", median_cpu * 1000, "ms", f"{median_cpu * 1000:.0f} ms")
        if name != "python+mcp":
            over, over_cpu = (median - floor) * 1000, (median_cpu - floor_cpu) * 1000
            result(name, "spawn_over_bare_import", over, "ms", f"{over:+.0f} ms")
            result(name, "spawn_cpu_over_noop", over_cpu, "ms", f"{over_cpu:+.0f} ms")


async def surface(peer: Peer, server: Running) -> None:
    tools = (await server.client.list_tools()).tools
    wire = [tool.model_dump(mode="json", by_alias=True, exclude_unset=True) for tool in tools]
    size = len(json.dumps(wire, separators=(",", ":")))
    result(peer.name, "tools_list_bytes", size, "B", f"{size:,} B / {len(tools)} tools")
    result(peer.name, "tools_count", len(tools), "count", str(len(tools)))


Session = tuple[Peer, Running]
SLICES = 5  # sequential measurements are taken in this many turns per server, so load spikes hit all alike


async def list_answers(sessions: Sequence[Session], lists: int) -> None:
    """Text bytes of the 100-object answer, whether it repeats structuredContent, and its latency one at a time
    (servers take turns call by call); CPU per list."""
    times: dict[str, list[float]] = {peer.name: [] for peer, _ in sessions}
    cpu: dict[str, float] = dict.fromkeys(times, 0.0)
    for peer, server in sessions:
        answer = await server.client.call_tool(*peer.list_call)
        check(peer.name, answer, "list")
        text = text_of(answer)
        size = len(text.encode())
        result(peer.name, "list100_text_bytes", size, "B", f"{size:,} B")
        try:
            duplicate = answer.structured_content is not None and json.loads(text) == answer.structured_content
        except ValueError:
            duplicate = False
        result(peer.name, "text_repeats_structured", int(duplicate), "bool", "yes" if duplicate else "no")
    for _ in range(lists):
        for peer, server in sessions:
            before = server.cpu()
            began = time.perf_counter()
            check(peer.name, await server.client.call_tool(*peer.list_call), "list")
            times[peer.name].append(time.perf_counter() - began)
            cpu[peer.name] += server.cpu() - before
    for peer, _ in sessions:
        median = statistics.median(times[peer.name]) * 1000
        result(peer.name, "list100_ms", median, "ms", f"{median:.1f} ms")
        per_list = cpu[peer.name] / lists * 1000
        result(peer.name, "list100_cpu_ms", per_list, "ms", f"{per_list:.1f} ms")


async def one_get(peer: Peer, server: Running, label: str, i: int) -> float:
    tool, args = peer.get(f"gd-{i % OBJECTS:03d}")
    began = time.perf_counter()
    answer = await server.client.call_tool(tool, args)
    elapsed = time.perf_counter() - began
    check(peer.name, answer, "get")
    if peer.name == "mcp-k8s":
        source = (answer.structured_content or {}).get("source")
        if source != label:
            raise RuntimeError(f"mcp-k8s answered a {label}-path get from {source!r}")
    return elapsed


async def gets(sessions: Sequence[Session], label: str, count: int, concurrency: int, rounds: int) -> None:
    """One get at a time (median), then `concurrency` gets at once (median rate of `rounds`); CPU per call.

    Servers take turns (a slice of sequential gets each, then one concurrent round each) so that the load of a
    shared machine falls on all of them alike."""
    names = [peer.name for peer, _ in sessions]
    times: dict[str, list[float]] = {name: [] for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    seq_cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    conc_cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    for peer, server in sessions:
        for i in range(5):
            await one_get(peer, server, label, i)  # warm: connections, discovery, the cache
    per_slice = max(1, count // SLICES)
    for turn in range(SLICES):
        for peer, server in sessions:
            before = server.cpu()
            for i in range(per_slice):
                times[peer.name].append(await one_get(peer, server, label, turn * per_slice + i))
            seq_cpu[peer.name] += server.cpu() - before
    for _ in range(rounds):
        for peer, server in sessions:
            before = server.cpu()
            began = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for i in range(concurrency):
                    tg.start_soon(one_get, peer, server, label, i)
            rates[peer.name].append(concurrency / (time.perf_counter() - began))
            conc_cpu[peer.name] += server.cpu() - before
    for name in names:
        median = statistics.median(times[name]) * 1000
        result(name, f"get_{label}_ms", median, "ms", f"{median:.1f} ms")
        per_get = seq_cpu[name] / (per_slice * SLICES) * 1000
        result(name, f"get_{label}_cpu_ms", per_get, "ms", f"{per_get:.2f} ms")
        rate = statistics.median(rates[name])
        result(name, f"concurrent_{label}_per_s", rate, "1/s", f"{rate:.0f}/s")
        per_call = conc_cpu[name] / (concurrency * rounds) * 1000
        result(name, f"concurrent_{label}_cpu_ms", per_call, "ms", f"{per_call:.2f} ms")
    if "mcp-k8s" in rates and "noop" in rates:
        ratio = statistics.median(rates["mcp-k8s"]) / statistics.median(rates["noop"])
        result("mcp-k8s", f"concurrent_{label}_over_noop", ratio, "x", f"{ratio:.2f}× noop")


async def profile_ours(out: Path, admin: Path, getter: Path, log: Path, gets_: int, lists: int) -> None:
    """Profile mcp-k8s (pyinstrument) over API-path gets, then over cached 100-row lists; one session file each."""
    out.mkdir(parents=True, exist_ok=True)
    for label, kubeconfig in (("get-api", getter), ("list-cache", admin)):
        session = out / f"mcp-k8s-{label}.pyisession"
        session.unlink(missing_ok=True)
        peer = peers(None, profile=session)[0]
        calls = [peer.get(f"gd-{i % OBJECTS:03d}") for i in range(gets_)] if label == "get-api" else []
        calls = calls or [peer.list_call] * lists
        async with running(peer, kubeconfig, log) as server:
            for call in calls[:5]:  # warm: connections, discovery, the cache
                check(peer.name, await server.client.call_tool(*call), label)
            os.kill(server.pid, signal.SIGUSR1)
            for call in calls:
                check(peer.name, await server.client.call_tool(*call), label)
            os.kill(server.pid, signal.SIGUSR2)
            with anyio.fail_after(120):
                while not session.exists():  # noqa: ASYNC110  (another process writes it)
                    await anyio.sleep(0.1)
        print(f"# profile of {len(calls)} calls: pyinstrument --load={session}", file=sys.stderr, flush=True)


# --- setup and report ----------------------------------------------------------------------------------------------


async def setup_cluster(kube: KubeClient) -> None:
    def op(verb: str, resource: str) -> errors.Operation:
        return errors.Operation(verb=verb, resource=resource)

    await kube.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", op=op("create", "crds"), body=CRD
    )
    await kube.request(
        "POST", "/api/v1/namespaces", op=op("create", "namespaces"), body={"metadata": {"name": NAMESPACE}}
    )
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}"
    with anyio.fail_after(60):
        while True:
            try:
                await kube.request("GET", path, op=op("list", PLURAL), query=[("limit", 1)])
                break
            except errors.K8sError:
                await anyio.sleep(0.2)
    for i in range(OBJECTS):
        obj = make_object(i)
        obj["apiVersion"], obj["kind"] = f"{GROUP}/{VERSION}", KIND
        obj["metadata"].update(name=f"gd-{i:03d}", namespace=NAMESPACE)
        await kube.request("POST", path, op=op("create", PLURAL), body=obj, raw=True)
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}"
    role = {"metadata": {"name": "bench-getter"}, "rules": GETTER_RULES}
    await kube.request("POST", f"{rbac}/roles", op=op("create", "roles"), body=role)
    binding = {
        "metadata": {"name": "bench-getter"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bench-getter"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bench-getter"}],
    }
    await kube.request("POST", f"{rbac}/rolebindings", op=op("create", "rolebindings"), body=binding)


ROW_TITLES = [
    ("tools_list_bytes", "tools/list, compact JSON"),
    ("list100_text_bytes", f"answer for {OBJECTS} custom resources (text bytes)"),
    ("text_repeats_structured", "text repeats structuredContent"),
    ("spawn_to_tools_list", "spawn → first tools/list (median of {runs})"),
    ("spawn_over_bare_import", "… minus bare `from mcp.server import MCPServer`"),
    ("spawn_cpu", "… CPU time of that process until then"),
    ("spawn_cpu_over_noop", "… CPU minus the do-nothing server's"),
    ("get_api_ms", "one get, API path (median)"),
    ("get_api_cpu_ms", "… server CPU per get"),
    ("concurrent_api_per_s", "{concurrency} concurrent gets, API path"),
    ("concurrent_api_cpu_ms", "… server CPU per get"),
    ("get_cache_ms", "one get from the cache (median; noop: same call again)"),
    ("get_cache_cpu_ms", "… server CPU per get"),
    ("concurrent_cache_per_s", "{concurrency} concurrent gets from the cache"),
    ("concurrent_cache_cpu_ms", "… server CPU per get"),
    ("concurrent_cache_over_noop", "… rate over the do-nothing server's"),
    ("list100_ms", f"{OBJECTS}-row list, one at a time (median)"),
    ("list100_cpu_ms", "… server CPU per list"),
]


def print_table(columns: Sequence[str], runs: int, concurrency: int) -> None:
    cores = os.cpu_count()
    print(
        f"\n# {time.strftime('%Y-%m-%d', time.gmtime())}, {platform.machine()}, {cores} cores, Python "
        f"{platform.python_version()}; mcp-k8s list/get from the cache where marked, leader {LEADER_VERSION}"
    )
    print("| measure | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for key, title in ROW_TITLES:
        row = ROWS.get(key, {})
        if row:
            title = title.format(runs=runs, concurrency=concurrency)
            print(f"| {title} | " + " | ".join(row.get(c, "—") for c in columns) + " |")
    print(flush=True)


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leader-version", default=LEADER_VERSION, help="kubernetes-mcp-server version to build")
    parser.add_argument("--no-leader", action="store_true", help="skip the Go leader (no Go toolchain)")
    parser.add_argument("--only", default="", help="comma-separated server names to run (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="spawn measurements per server (median reported)")
    parser.add_argument("--gets", type=int, default=100, help="sequential gets per server (median reported)")
    parser.add_argument("--concurrency", type=int, default=200, help="gets in flight at once")
    parser.add_argument("--rounds", type=int, default=3, help="concurrent rounds (median rate reported)")
    parser.add_argument("--lists", type=int, default=20, help="100-row lists one at a time (median reported)")
    parser.add_argument("--profile", type=Path, help="only profile mcp-k8s (pyinstrument) and save sessions here")
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    mk_logging.configure(level="warning")
    leader = None if args.no_leader or args.profile else await build_leader(args.leader_version, environ)
    selected = [p for p in peers(leader) if not args.only or p.name in args.only.split(",")]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mcp-k8s-bench-peers-") as scratch:
        log = Path(scratch) / "servers.log"
        async with sandbox.start_control_plane(environ) as plane:
            admin = plane.admin_kubeconfig
            kube = KubeClient(Settings(kubeconfig=admin))
            try:
                await setup_cluster(kube)
            finally:
                await kube.aclose()
            getter = plane.user_kubeconfig("bench-getter", namespace=NAMESPACE)
            if args.profile:
                await profile_ours(args.profile, admin, getter, log, args.gets * 3, args.lists * 5)
                return 0
            await spawn_times(selected, admin, args.runs, log)
            async with AsyncExitStack() as stack:  # every server at once, on a user who may get but not list
                sessions = [(peer, await stack.enter_async_context(running(peer, getter, log))) for peer in selected]
                await gets(sessions, "api", args.gets, args.concurrency, args.rounds)
            async with AsyncExitStack() as stack:  # again as admin: the surface, lists, and our cached gets
                sessions = [(peer, await stack.enter_async_context(running(peer, admin, log))) for peer in selected]
                for peer, server in sessions:
                    await surface(peer, server)
                await list_answers(sessions, args.lists)
                await gets(
                    [(p, s) for p, s in sessions if p.name in ("mcp-k8s", "noop")],
                    "cache",
                    args.gets,
                    args.concurrency,
                    args.rounds,
                )
        if os.environ.get("BENCH_PEERS_SHOW_LOGS"):
            print(log.read_text(), file=sys.stderr)
    result("bench", "total_runtime", time.perf_counter() - began, "s")
    print_table(["python+mcp", *(p.name for p in selected)], args.runs, args.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
