"""Watch-cache soak (reference/watch_cache.md §b.21), run by `nox -s soak -- --minutes 60`.

A control plane of its own; a seeded set of objects; a writer at a steady rate (patches, creates and deletes)
on its own client; the cache watching cluster-wide through a TCP proxy that cuts every connection now and then
(a mid-stream drop, §b.4). Every `--check-every` seconds the writer pauses, the cache is caught up to the last
write, and the invariant is checked: cache == a fresh LIST (keys and resourceVersions). Reported per check and in
total: resident memory over time, objects, relists and watch restarts by reason, event-to-visible lag
percentiles (write acknowledged → store applied that resourceVersion), probes.

Every figure is printed as `RESULT soak <name> <value> <unit>` (and one `CHECK` line per check).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
import time
import tracemalloc
from array import array
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.abc

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_cache import NAMESPACES, OPTIONS, RT, create_objects, make_object, result, rss_mib, setup_cluster

from mcp_k8s import errors, sandbox
from mcp_k8s import logging as mk_logging
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import Change, Status
from mcp_k8s.kube.client import MERGE_PATCH, KubeClient
from mcp_k8s.settings import Settings
from tests.integration.cache.support import proxied_kubeconfig, server_port
from tests.proxy import tcp_proxy


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def fresh_list(kube: KubeClient) -> dict[tuple[str, str], str]:
    op = errors.Operation(verb="list", resource=RT.qualified)
    out: dict[tuple[str, str], str] = {}
    token = None
    while True:
        query: list[tuple[str, str | int | bool]] = [("limit", 500)]
        if token:
            query.append(("continue", token))
        doc = await kube.request("GET", RT.path(), op=op, query=query, timeout=120)
        for item in doc["items"]:
            meta = item["metadata"]
            out[(meta["namespace"], meta["name"])] = meta["resourceVersion"]
        token = doc["metadata"].get("continue")
        if not token:
            return out


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to run")
    parser.add_argument("--rate", type=float, default=50.0, help="writes per second")
    parser.add_argument("--objects", type=int, default=2_000, help="objects seeded before the cache starts")
    parser.add_argument("--check-every", type=float, default=60.0, help="seconds between invariant checks")
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="compare tracemalloc snapshots from the first check to the end and print the top growth (slows it down)",
    )
    parser.add_argument("--drop-every", type=float, default=150.0, help="cut all connections this often (0: never)")
    args = parser.parse_args(argv)
    mk_logging.configure(level="warning")
    rng = random.Random(11)
    # Lag bookkeeping kept small so that RSS growth is the cache's, not the harness's: a write's time is held only
    # until its event is seen (or the other way round), then one 8-byte sample is kept.
    acked: dict[str, float] = {}  # written, not yet seen through the watch
    visible: dict[str, float] = {}  # seen through the watch, write not yet acknowledged
    lags = array("d")
    counts = {"writes": 0, "not_visible": 0}
    failures: list[str] = []

    def on_change(change: Change) -> None:
        now = time.perf_counter()
        sent = acked.pop(change.resource_version, None)
        if sent is None:
            visible.setdefault(change.resource_version, now)
        else:
            lags.append(now - sent)

    def on_ack(rv: str) -> None:
        now = time.perf_counter()
        counts["writes"] += 1
        seen = visible.pop(rv, None)
        if seen is None:
            acked[rv] = now
        else:
            lags.append(max(0.0, seen - now))

    async with sandbox.start_control_plane(dict(os.environ)) as plane:
        writer = KubeClient(Settings(kubeconfig=plane.admin_kubeconfig))
        await setup_cluster(writer)
        await create_objects(writer, 0, args.objects)
        names = {make_object(i)["metadata"]["name"]: i for i in range(args.objects)}
        alive = set(names)
        next_index = args.objects
        op = errors.Operation(verb="write", resource=RT.qualified)
        writing = anyio.Event()
        writing.set()
        in_flight = 0
        last_rv = "0"

        limiter = anyio.Semaphore(16)  # a writer that cannot keep up falls behind; it does not pile up

        async def write_one() -> None:
            nonlocal next_index, in_flight, last_rv
            roll = rng.random()
            in_flight += 1
            try:
                if roll < 0.1 or len(alive) < 100:
                    obj = make_object(next_index)
                    next_index += 1
                    path = RT.path(obj["metadata"]["namespace"])
                    doc = await writer.request("POST", path, op=op, body=obj)
                    alive.add(obj["metadata"]["name"])
                elif roll < 0.2:
                    name = rng.choice(sorted(alive))
                    alive.discard(name)
                    ns = NAMESPACES[int(name.split("-")[1]) % len(NAMESPACES)]
                    doc = await writer.request("DELETE", RT.path(ns, name), op=op)
                else:
                    name = rng.choice(sorted(alive))
                    ns = NAMESPACES[int(name.split("-")[1]) % len(NAMESPACES)]
                    body = {"metadata": {"annotations": {"nonce": secrets.token_hex(4)}}}
                    doc = await writer.request("PATCH", RT.path(ns, name), op=op, body=body, content_type=MERGE_PATCH)
                rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
                if not rv:
                    return  # a DELETE may answer with a Status: no resourceVersion to time
                on_ack(rv)
                if int(rv) > int(last_rv):
                    last_rv = rv
            except errors.K8sError as exc:
                if not isinstance(exc, errors.NotFound | errors.Conflict):
                    failures.append(str(exc))
            finally:
                limiter.release()
                in_flight -= 1

        async def write_steadily(task_group: anyio.abc.TaskGroup) -> None:
            began, i = time.perf_counter(), 0
            while True:
                await writing.wait()
                i += 1
                delay = began + i / args.rate - time.perf_counter()
                if delay > 0:
                    await anyio.sleep(delay)
                elif delay < -1:  # paused, or the server is slower than the rate: do not burst to catch up
                    began, i = time.perf_counter(), 0
                await limiter.acquire()  # released by write_one: at most 16 in flight, never a backlog
                if not writing.is_set():  # a check paused the writer while this one waited
                    limiter.release()
                    continue
                task_group.start_soon(write_one)

        async with tcp_proxy("127.0.0.1", server_port(plane.admin_kubeconfig)) as proxy:
            path = proxied_kubeconfig(plane.admin_kubeconfig, proxy.port, Path(plane.admin_kubeconfig).parent / "p")
            kube = KubeClient(Settings(kubeconfig=path))
            checker = KubeClient(Settings(kubeconfig=plane.admin_kubeconfig))
            started = time.perf_counter()
            async with CacheManager(kube, options=OPTIONS) as cache, anyio.create_task_group() as tg:
                store = await cache.ensure(RT)
                await store.wait_synced()
                store.add_listener(on_change)
                tg.start_soon(write_steadily, tg)

                async def drop_now_and_then() -> None:
                    while args.drop_every > 0:
                        await anyio.sleep(args.drop_every * (0.5 + rng.random()))
                        proxy.drop()

                tg.start_soon(drop_now_and_then)
                checks = 0
                rss_first = rss_mib()
                result("soak", "rss_start", rss_first, "MiB")
                while time.perf_counter() - started < args.minutes * 60:
                    await anyio.sleep(min(args.check_every, args.minutes * 60 - (time.perf_counter() - started)))
                    writing = anyio.Event()  # pause the writer
                    with anyio.fail_after(30):
                        while in_flight:  # noqa: ASYNC110 (a counter, polled only during a pause)
                            await anyio.sleep(0.01)
                    caught_up = await store.wait_for_resource_version(last_rv, timeout=60)
                    expected = await fresh_list(checker)
                    actual = store.snapshot()
                    ok = caught_up and actual == expected and store.status is Status.LIVE
                    writing.set()
                    checks += 1
                    if args.trace_memory and checks == 1:
                        tracemalloc.start(8)
                        baseline = tracemalloc.take_snapshot()
                    stats = store.stats()
                    # Caught up: a write still unseen never will be, an event never acknowledged was a DELETE's.
                    counts["not_visible"] += len(acked) if caught_up else 0
                    acked.clear()
                    visible.clear()
                    print(
                        f"CHECK {checks} t={time.perf_counter() - started:.0f}s ok={ok} objects={len(store)} "
                        f"rss={rss_mib():.1f}MiB lists={dict(stats.lists)} restarts={dict(stats.watch_restarts)} "
                        f"writes={counts['writes']} lag_p50={pct(lags, 0.5):.1f}ms lag_p99={pct(lags, 0.99):.1f}ms",
                        flush=True,
                    )
                    if not ok:
                        missing = {k for k in expected if actual.get(k) != expected[k]}
                        extra = set(actual) - set(expected)
                        sample = [(k, actual.get(k), expected[k]) for k in sorted(missing)[:3]]
                        failures.append(
                            f"check {checks}: {len(missing)} missing/stale {sample} (key, cache RV, LIST RV), "
                            f"{len(extra)} extra {sorted(extra)[:3]}; caught up: {caught_up}, last write RV {last_rv}"
                        )
                tg.cancel_scope.cancel()
            elapsed = time.perf_counter() - started
            stats = store.stats()
            result("soak", "minutes", elapsed / 60, "min")
            result("soak", "writes", counts["writes"], "count")
            result("soak", "write_rate", counts["writes"] / elapsed, "writes/s")
            result("soak", "not_visible", counts["not_visible"], "count")
            result("soak", "checks", checks, "count")
            result("soak", "checks_failed", sum(1 for f in failures if f.startswith("check")), "count")
            result("soak", "relists", sum(stats.lists.values()) - 1, "count")
            result("soak", "watch_restarts", sum(stats.watch_restarts.values()), "count")
            result("soak", "lag_p50", pct(lags, 0.5), "ms")
            result("soak", "lag_p90", pct(lags, 0.9), "ms")
            result("soak", "lag_p99", pct(lags, 0.99), "ms")
            result("soak", "lag_max", pct(lags, 1.0), "ms")
            result("soak", "rss_end", rss_mib(), "MiB")
            result("soak", "rss_growth", rss_mib() - rss_first, "MiB")
            result("soak", "objects_end", len(store), "count")
            result("soak", "probes", sum(store.probes.values()), "count")
            if args.trace_memory and checks:
                growth = tracemalloc.take_snapshot().compare_to(baseline, "traceback")
                for stat in growth[:8]:
                    print(f"# memory +{stat.size_diff / 1024:.0f} KiB in {stat.count_diff} blocks:")
                    for line in stat.traceback.format()[-8:]:
                        print(f"#   {line}")
            print(f"# lists by reason {dict(stats.lists)}; watch restarts by reason {dict(stats.watch_restarts)}")
            for failure in failures[:10]:
                print(f"# FAILURE {failure}")
            await kube.aclose()
            await checker.aclose()
        await writer.aclose()
    return 1 if any(f.startswith("check") for f in failures) else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
