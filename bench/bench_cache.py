"""Watch-cache benchmark against a fresh sandbox control plane (run by `nox -s bench`).

Measures, in one run against one server (reference/watch_cache.md §d):
- initial sync of the cache for N CRs (≈1.6 KB JSON each as served) vs a bare paginated LIST (limit=500, raw
  JSON + json.loads) of the same objects, median of alternating runs;
- event-to-visible latency at a fixed write rate: a separate client patches an annotation with a nonce, we note
  when the write was sent and acknowledged (with its resourceVersion), and a store listener timestamps the moment
  the store applies that resourceVersion (no polling);
- memory per cached object: tracemalloc delta after gc, divided by N.

Every figure is printed as `RESULT <id> <name> <value> <unit>`; targets: sync ≤ 1.5× bare LIST,
p99 ≤ 50 ms at 100 writes/s, ≤ 6 KiB per object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import secrets
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

# Runnable as `python bench/bench_cache.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_k8s import errors, sandbox
from mcp_k8s import logging as mk_logging
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.reflector import Reflector, ReflectorOptions
from mcp_k8s.cache.store import Change, Store, Subscription
from mcp_k8s.kube.client import MERGE_PATCH, KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.settings import Settings

GROUP = "bench.mcp-k8s.io"
RT = ResourceType(group=GROUP, version="v1", plural="benchwidgets", kind="BenchWidget", namespaced=True)
NAMESPACES = [f"bench-{i:02d}" for i in range(10)]
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{RT.plural}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": RT.plural, "singular": "benchwidget", "kind": RT.kind},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}
OPTIONS = ReflectorOptions()  # production defaults: page size 500, bookmarks, 90 s inactivity


RESULTS: dict[tuple[str, str], float] = {}
TARGETS = [  # (id prefix, figure, limit, what)
    ("n", "sync_over_bare_list", 1.5, "initial sync ≤ 1.5× the bare LIST"),
    ("rate100", "latency_p99", 50.0, "event-to-visible p99 ≤ 50 ms at 100 writes/s"),
    ("n", "memory_per_object", 6.0, "≤ 6 KiB per cached object"),
]


def result(ident: str, name: str, value: float, unit: str) -> None:
    RESULTS[(ident, name)] = value
    print(f"RESULT {ident} {name} {value:.6g} {unit}", flush=True)


def report_targets() -> None:
    for prefix, name, limit, what in TARGETS:
        for (ident, figure), value in sorted(RESULTS.items()):
            if figure == name and ident.startswith(prefix):
                verdict = "met" if value <= limit else "MISSED"
                print(f"# target {what}: {ident} {value:.3g} → {verdict}", flush=True)


def make_object(index: int) -> dict[str, Any]:
    """A CR of a realistic shape: labels, annotations, a spec with lists and nested maps (≈1.6 KB as served)."""
    rng = random.Random(index)
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": RT.kind,
        "metadata": {
            "name": f"bw-{index:06d}",
            "namespace": NAMESPACES[index % len(NAMESPACES)],
            "labels": {"app": "bench", "tier": rng.choice(["web", "api", "db"]), "shard": str(index % 16)},
            "annotations": {"owner": f"team-{index % 7}", "description": f"benchmark object number {index}"},
        },
        "spec": {
            "size": rng.randint(1, 100),
            "color": rng.choice(["red", "green", "blue"]),
            "replicas": rng.randint(1, 5),
            "image": f"registry.example.com/team/app:{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
            "env": [{"name": f"VAR_{k}", "value": secrets.token_hex(8)} for k in range(5)],
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
            ],
            "resources": {
                "limits": {"cpu": "500m", "memory": "256Mi"},
                "requests": {"cpu": "100m", "memory": "128Mi"},
            },
            "note": secrets.token_hex(90),
        },
    }


# --- setup ---------------------------------------------------------------------------------------------------------


async def setup_cluster(kube: KubeClient) -> None:
    op = errors.Operation(verb="create", resource="customresourcedefinitions")
    await kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", op=op, body=CRD)
    with anyio.fail_after(60):
        while True:
            try:
                await kube.request("GET", RT.path("default"), op=op, query=[("limit", 1)])
                break
            except errors.K8sError:
                await anyio.sleep(0.2)
    for ns in NAMESPACES:
        await kube.request(
            "POST",
            "/api/v1/namespaces",
            op=errors.Operation(verb="create", resource="namespaces"),
            body={"metadata": {"name": ns}},
        )


async def create_objects(kube: KubeClient, start: int, stop: int, concurrency: int = 24) -> float:
    limiter = anyio.CapacityLimiter(concurrency)
    op = errors.Operation(verb="create", resource=RT.qualified)
    began = time.perf_counter()

    async def one(i: int) -> None:
        obj = make_object(i)
        async with limiter:
            for attempt in range(5):
                try:
                    await kube.request("POST", RT.path(obj["metadata"]["namespace"]), op=op, body=obj, raw=True)
                    return
                except (errors.TooManyRequests, errors.ServerError, errors.Unavailable):
                    await anyio.sleep(0.2 * (attempt + 1))
            raise RuntimeError(f"could not create object {i}")

    async with anyio.create_task_group() as tg:
        for i in range(start, stop):
            tg.start_soon(one, i)
    return time.perf_counter() - began


# --- measurements --------------------------------------------------------------------------------------------------


async def bare_list(kube: KubeClient, *, pause_gc: bool = False) -> tuple[float, int, int]:
    """What a minimal client does: paginated LIST, raw bytes, json.loads, keep the items. (seconds, items, bytes)

    `pause_gc` gives the bare LIST the cache's own parsing trick (cyclic GC off inside json.loads): a stricter
    baseline, so the ratio shows the cache's overhead rather than that trick's gain."""
    op = errors.Operation(verb="list", resource=RT.qualified)
    began = time.perf_counter()
    items: list[Any] = []
    total = 0
    token = None
    while True:
        query: list[tuple[str, str | int | bool]] = [("limit", 500)]
        if token:
            query.append(("continue", token))
        data = await kube.request("GET", RT.path(), op=op, query=query, raw=True, timeout=120)
        total += len(data)
        if pause_gc:
            gc.disable()
        try:
            doc = json.loads(data)
        finally:
            gc.enable()
        items += doc["items"]
        token = doc["metadata"].get("continue")
        if not token:
            break
    return time.perf_counter() - began, len(items), total


async def cache_sync(kube: KubeClient) -> tuple[float, Store]:
    """Time from starting a reflector to `synced` (the full paginated LIST applied to a fresh store)."""
    store = Store(RT.display)
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(Reflector(kube, RT, store.shard(None), options=OPTIONS).run)
        await store.wait_synced()
        elapsed = time.perf_counter() - began
        tg.cancel_scope.cancel()
    return elapsed, store


async def measure_sync(kube: KubeClient, n: int, runs: int) -> None:
    ident = f"n{n}"
    bare_times: list[float] = []
    paused_times: list[float] = []
    cache_times: list[float] = []
    wire = 0
    await bare_list(kube)  # warm the connection and the server's cache
    for _ in range(runs):
        seconds, count, wire = await bare_list(kube)
        assert count == n, f"expected {n} objects, listed {count}"
        bare_times.append(seconds)
        gc.collect()
        paused_times.append((await bare_list(kube, pause_gc=True))[0])
        gc.collect()
        seconds, store = await cache_sync(kube)
        assert len(store) == n
        cache_times.append(seconds)
        del store
        gc.collect()
    bare, cache = statistics.median(bare_times), statistics.median(cache_times)
    paused = statistics.median(paused_times)
    result(ident, "objects", n, "count")
    result(ident, "list_bytes_per_object", wire / n, "B")
    result(ident, "bare_list_median", bare, "s")
    result(ident, "bare_list_min", min(bare_times), "s")
    result(ident, "bare_list_gc_paused_median", paused, "s")
    result(ident, "cache_sync_median", cache, "s")
    result(ident, "cache_sync_min", min(cache_times), "s")
    result(ident, "cache_sync_objects_per_second", n / cache, "obj/s")
    result(ident, "sync_over_bare_list", cache / bare, "x")
    result(ident, "sync_over_gc_paused_list", cache / paused, "x")


async def measure_memory(kube: KubeClient, n: int) -> None:
    ident = f"n{n}"
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    _, store = await cache_sync(kube)
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(store) == n
    sample = store.list()[0]
    result(ident, "stored_bytes_per_object", len(json.dumps(sample, separators=(",", ":"))), "B")
    result(ident, "memory_per_object", (current - baseline) / n / 1024, "KiB")
    del store


async def measure_latency(kube: KubeClient, writer: KubeClient, n: int, rate: float, seconds: float) -> None:
    """Writes at `rate`/s on their own client. A store listener timestamps each write's RV as the store applies it
    (the figure the target is about); a subscription read by another task shows what a notifier would see."""
    ident = f"rate{rate:g}"
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    visible: dict[str, float] = {}
    streamed: dict[str, float] = {}

    def on_change(change: Change) -> None:
        visible.setdefault(change.resource_version, time.perf_counter())

    async def consume(subscription: Subscription) -> None:
        async for change in subscription:
            streamed.setdefault(change.resource_version, time.perf_counter())

    op = errors.Operation(verb="patch", resource=RT.qualified)
    limiter = anyio.CapacityLimiter(32)
    count = int(rate * seconds)
    rng = random.Random(7)

    async def write(i: int) -> None:
        obj = make_object(rng.randrange(n))
        path = RT.path(obj["metadata"]["namespace"], obj["metadata"]["name"])
        body = {"metadata": {"annotations": {"nonce": f"{i}-{secrets.token_hex(4)}"}}}
        async with limiter:
            began = time.perf_counter()
            doc = await writer.request("PATCH", path, op=op, body=body, content_type=MERGE_PATCH)
            done = time.perf_counter()
        rv = doc["metadata"]["resourceVersion"]
        sent[rv], acked[rv] = began, done

    async with CacheManager(kube, options=OPTIONS) as cache, anyio.create_task_group() as consumers:
        store = await cache.ensure(RT)
        await store.wait_synced()
        store.add_listener(on_change)
        subscription = store.subscribe(buffer=10_000)
        consumers.start_soon(consume, subscription)
        start = time.perf_counter()
        async with anyio.create_task_group() as writers:
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                writers.start_soon(write, i)
        achieved = count / (time.perf_counter() - start)
        # Events arrive in RV order: once the newest write is applied, every earlier one has been too.
        await store.wait_for_resource_version(max(acked, key=int), timeout=10)
        await anyio.sleep(0.1)  # let the consumer drain its buffer
        subscription.close()
    missing = [rv for rv in acked if rv not in visible]
    from_ack = sorted(max(0.0, visible[rv] - acked[rv]) for rv in acked if rv in visible)
    from_send = sorted(visible[rv] - sent[rv] for rv in acked if rv in visible)
    stream_from_send = sorted(streamed[rv] - sent[rv] for rv in acked if rv in streamed)
    before_ack = sum(1 for rv in acked if rv in visible and visible[rv] < acked[rv])

    def pct(values: Sequence[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")

    result(ident, "writes", count, "count")
    result(ident, "achieved_rate", achieved, "writes/s")
    result(ident, "not_visible", len(missing), "count")
    result(ident, "visible_before_ack", before_ack / max(1, len(acked)) * 100, "%")
    result(ident, "latency_p50", pct(from_ack, 0.50), "ms")
    result(ident, "latency_p99", pct(from_ack, 0.99), "ms")
    result(ident, "latency_max", pct(from_ack, 1.0), "ms")
    result(ident, "write_to_visible_p50", pct(from_send, 0.50), "ms")
    result(ident, "write_to_visible_p99", pct(from_send, 0.99), "ms")
    result(ident, "write_to_subscriber_p50", pct(stream_from_send, 0.50), "ms")
    result(ident, "write_to_subscriber_p99", pct(stream_from_send, 0.99), "ms")


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="1000,10000", help="object counts, comma-separated (ascending)")
    parser.add_argument("--runs", type=int, default=5, help="alternating sync runs per size (median reported)")
    parser.add_argument("--rate", type=float, default=100.0, help="writes per second for the latency test")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the latency test")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    mk_logging.configure(level="warning")
    began = time.perf_counter()
    async with sandbox.start_control_plane(dict(os.environ)) as plane:
        settings = Settings(kubeconfig=plane.admin_kubeconfig)
        kube, writer = KubeClient(settings), KubeClient(settings)
        try:
            await setup_cluster(writer)
            created = 0
            for n in sizes:
                seconds = await create_objects(writer, created, n)
                print(f"# created {n - created} objects in {seconds:.1f} s", file=sys.stderr, flush=True)
                created = n
                await measure_sync(kube, n, args.runs)
                await measure_memory(kube, n)
            await measure_latency(kube, writer, sizes[-1], args.rate, args.seconds)
        finally:
            await kube.aclose()
            await writer.aclose()
    result("bench", "total_runtime", time.perf_counter() - began, "s")
    report_targets()
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
