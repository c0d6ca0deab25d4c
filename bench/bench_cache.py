"""Watch-cache benchmark against a fresh sandbox control plane (run by `nox -s bench`).

Measures, in one run against one server (reference/watch_cache.md §d):
- initial sync of the cache for N CRs (≈1.6 KB JSON each as served) vs a bare paginated LIST (limit=500, raw
  JSON + json.loads) of the same objects, alternating runs: medians of wall time, and of this process's CPU time;
- event-to-visible latency at a fixed write rate: a separate client patches an annotation with a nonce, we note
  when the write was sent and acknowledged (with its resourceVersion), and a store listener timestamps the moment
  the store applies that resourceVersion (no polling);
- memory per cached object: tracemalloc delta after gc, divided by N, for this store and, side by side, for the
  store as it was before compact storage (BASELINE_COMMIT's store.py, loaded from git) filled with the same objects;
  the process's resident memory after the sync;
- the read path side by side against the read path at BASELINE_COMMIT (its dict store; rows as the list tool built
  them then, answers measured with stdlib json then): a get (polled, and spread over every object), a get's whole
  answer, 100-row summary pages (one namespace read again, first read, all namespaces), and the store calls alone;
  plus the list tool's own cache answer (`resource_lists.from_cache`, what list_custom_resources calls: its bytes
  against the budget, its time);
- freshness probes in a quiet, healthy cluster: reads at a steady rate for a while, probes counted per minute.

Every figure is printed as `RESULT <id> <name> <value> <unit>`. Objects are created through the API (POST) by
default; `--seed etcd` writes them straight into the sandbox's etcd instead (see `seed_etcd`: the API server still
serves them through its real LIST and WATCH, and a LIST through the API must return them all before any timing).
100,000 objects: `nox -s bench -- cache --sizes 100000 --seed etcd --runs 3 --quiet-seconds 0`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import importlib.util
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio

# Runnable as `python bench/bench_cache.py` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_k8s import errors, output, sandbox
from mcp_k8s import logging as mk_logging
from mcp_k8s.cache.access import CacheAccess
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.reflector import Reflector, ReflectorOptions
from mcp_k8s.cache.store import Change, Store, Subscription
from mcp_k8s.kube.client import MERGE_PATCH, KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.settings import Settings
from mcp_k8s.tools.answers import ObjectAnswer
from mcp_k8s.tools.base import AppState
from mcp_k8s.tools.custom_resources import _budgeted_object
from mcp_k8s.tools.resource_lists import from_cache as list_from_cache

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
ROWS = output.SummaryRows()  # the list tool's summary rows for RT (its CRD has no printer columns), kept packed


BASELINE_COMMIT = "8925177"  # the store before compact storage (dicts of the objects as listed)
ROOT = Path(__file__).resolve().parent.parent

RESULTS: dict[tuple[str, str], float] = {}
TARGETS = [  # (id prefix, figure, limit, what)
    ("n", "sync_over_bare_list", 1.2, "initial sync ≤ 1.2× the bare LIST"),
    ("rate100", "latency_p99", 50.0, "event-to-visible p99 ≤ 50 ms at 100 writes/s"),
    ("n", "memory_per_object", 2.5, "≤ 2.5 KiB per cached object"),
    ("n", "get_over_baseline", 1.0, "a get, the store call alone (decodes on read), no slower than before"),
    ("n", "get_answer_over_baseline", 1.0, "a get's answer (store call + shaping) no slower than before"),
    ("n", "get_cold_over_baseline", 1.0, "a get of an object not read lately, the store call alone"),
    ("n", "get_answer_cold_over_baseline", 1.0, "a get's answer, object not read lately"),
    ("n", "page100_ns_over_baseline", 1.0, "a 100-row summary page (one namespace, read again) no slower"),
    ("n", "page100_ns_cold_over_baseline", 1.0, "a 100-row summary page (one namespace, first read) no slower"),
    ("n", "page100_ns_cold_same_rows_over_baseline", 1.0, "the same, with today's rows on both sides"),
    ("n", "page100_all_over_baseline", 1.0, "a 100-row summary page (all namespaces) no slower than before"),
    ("n", "list_answer_ms", 10.0, "a list answer from the cache ≤ 10 ms"),
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


ETCD_TXN_OPS = 128  # etcd's default --max-txn-ops


async def seed_etcd(etcd_url: str, start: int, stop: int, concurrency: int = 4) -> float:
    """Write objects start..stop-1 straight into the sandbox's etcd, as the API server stores custom resources
    (JSON under /registry/<group>/<plural>/<namespace>/<name>), ETCD_TXN_OPS puts per transaction through etcd's
    JSON gateway. Creating them through the API runs at tens per second on this machine, so 100k would take an
    hour; the API server then serves them through its real LIST and WATCH (its watch cache picks them up from
    etcd's watch like any write). `verify_listed` checks a LIST through the API returns them all before timing."""
    import aiohttp

    began = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    limiter = anyio.CapacityLimiter(concurrency)

    def put(i: int) -> dict[str, Any]:
        obj = make_object(i)
        meta = obj["metadata"]
        meta.update(uid=str(uuid.UUID(int=random.Random(-i).getrandbits(128), version=4)), generation=1)
        meta["creationTimestamp"] = created
        meta["managedFields"] = [  # what a create through the API records (so the objects are served as ≈1.6 KB)
            {
                "apiVersion": f"{GROUP}/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}),
                "manager": "bench",
                "operation": "Update",
                "time": created,
            }
        ]
        key = f"/registry/{GROUP}/{RT.plural}/{meta['namespace']}/{meta['name']}".encode()
        value = json.dumps(obj, separators=(",", ":")).encode()
        return {"requestPut": {"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()}}

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def txn(lo: int, hi: int) -> None:
            body = {"success": [put(i) for i in range(lo, hi)]}
            async with limiter, session.post(f"{etcd_url}/v3/kv/txn", json=body) as response:
                response.raise_for_status()
                doc = await response.json()
                assert doc.get("succeeded", True), doc

        async with anyio.create_task_group() as tg:
            for lo in range(start, stop, ETCD_TXN_OPS):
                tg.start_soon(txn, lo, min(stop, lo + ETCD_TXN_OPS))
    return time.perf_counter() - began


def _fields_v1(value: Any) -> dict[str, Any]:
    """The managedFields set (FieldsV1) that owns every field of `value`."""
    if not isinstance(value, dict):
        return {}
    fields: dict[str, Any] = {".": {}} if value else {}
    fields.update({f"f:{k}": _fields_v1(v) for k, v in value.items() if k not in ("name", "namespace")})
    return fields


async def verify_listed(kube: KubeClient, n: int, timeout: float = 600) -> float:
    """Wait until a paginated LIST through the API returns exactly `n` objects (seconds waited). While the API
    server's watch cache catches up with the writes, a consistent LIST can time out (504 "too large resource
    version"): that is waited out too."""
    began = time.perf_counter()
    count = -1
    while True:
        with contextlib.suppress(errors.ServerError, errors.TooManyRequests, errors.Unavailable):
            _, count, _ = await bare_list(kube)
        if count == n:
            return time.perf_counter() - began
        if time.perf_counter() - began > timeout:
            raise RuntimeError(f"the API lists {count} objects, expected {n}")
        await anyio.sleep(1)


async def create_objects(kube: KubeClient, start: int, stop: int, concurrency: int = 48) -> float:
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
    store = Store(RT.display, rows=ROWS)
    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        tg.start_soon(Reflector(kube, RT, store.shard(None), options=OPTIONS).run)
        await store.wait_synced()
        elapsed = time.perf_counter() - began
        tg.cancel_scope.cancel()
    return elapsed, store


async def measure_sync(kube: KubeClient, n: int, runs: int) -> None:
    """Alternating runs of the bare LIST and the cache's sync (wall time, and this process's CPU time for each)."""
    ident = f"n{n}"
    bare_times: list[float] = []
    bare_cpu: list[float] = []
    paused_times: list[float] = []
    cache_times: list[float] = []
    cache_cpu: list[float] = []
    wire = 0
    await bare_list(kube)  # warm the connection and the server's cache
    await cache_sync(kube)  # and the watch connection pool (created once per client)
    for _ in range(runs):
        gc.collect()
        cpu = time.process_time()
        seconds, count, wire = await bare_list(kube)
        bare_cpu.append(time.process_time() - cpu)
        assert count == n, f"expected {n} objects, listed {count}"
        bare_times.append(seconds)
        gc.collect()
        paused_times.append((await bare_list(kube, pause_gc=True))[0])
        gc.collect()
        cpu = time.process_time()
        seconds, store = await cache_sync(kube)
        cache_cpu.append(time.process_time() - cpu)
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
    result(ident, "sync_over_bare_list_min", min(cache_times) / min(bare_times), "x")
    result(ident, "sync_over_gc_paused_list", cache / paused, "x")
    result(ident, "bare_list_cpu_median", statistics.median(bare_cpu), "s")
    result(ident, "cache_sync_cpu_median", statistics.median(cache_cpu), "s")
    result(ident, "sync_cpu_over_bare_list", statistics.median(cache_cpu) / statistics.median(bare_cpu), "x")


def baseline_store_module() -> Any:
    """store.py as of BASELINE_COMMIT, imported from git under another name (the real previous code, not a copy)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:mcp_k8s/cache/store.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("baseline_store", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_store"] = module
    exec(compile(source, f"{BASELINE_COMMIT}:mcp_k8s/cache/store.py", "exec"), module.__dict__)  # noqa: S102
    return module


def rss_mib() -> float:
    """Resident memory of this process now (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """The most resident memory this process has had (VmHWM)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


async def rss_child(kubeconfig: str) -> int:
    """`--rss-child`: a process that only syncs the cache, then reports its resident memory as JSON on stdout."""
    kube = KubeClient(Settings(kubeconfig=Path(kubeconfig)))
    try:
        await kube.api()
        gc.collect()
        before = rss_mib()
        _, store = await cache_sync(kube)
        gc.collect()
        doc = {"objects": len(store), "before": before, "after": rss_mib(), "peak": peak_rss_mib()}
    finally:
        await kube.aclose()
    print(json.dumps(doc), flush=True)
    return 0


async def measure_process_rss(kubeconfig: Path, n: int) -> None:
    """Resident memory of a fresh process holding only the synced cache (this one keeps the high-water mark of the
    bare LISTs it ran): after the sync, its peak during it, and the growth per object."""
    ident = f"n{n}"
    done = await anyio.run_process([sys.executable, __file__, "--rss-child", str(kubeconfig)])
    doc = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert doc["objects"] == n, doc
    result(ident, "process_rss_before_sync", doc["before"], "MiB")
    result(ident, "process_rss_after_sync", doc["after"], "MiB")
    result(ident, "process_rss_peak", doc["peak"], "MiB")
    result(ident, "process_rss_per_object", (doc["after"] - doc["before"]) * 1024 / n, "KiB")


async def measure_memory(kube: KubeClient, n: int, *, with_baseline: bool) -> tuple[Store, Any]:
    """Memory per object now (a real sync) and, on the same objects, for the baseline store; returns both stores
    for the read-path comparison."""
    ident = f"n{n}"
    gc.collect()
    rss_before = rss_mib()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    _, store = await cache_sync(kube)
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(store) == n
    sample = store.list(limit=1)[0]
    result(ident, "stored_bytes_per_object", len(json.dumps(sample, separators=(",", ":"))), "B")
    result(ident, "memory_per_object", (current - baseline) / n / 1024, "KiB")
    result(ident, "bench_rss_after_sync", rss_mib(), "MiB")  # this process: the bare LISTs' high-water too
    result(ident, "bench_rss_growth_per_object", (rss_mib() - rss_before) * 1024 / n, "KiB")
    old_store = None
    if with_baseline:
        module = baseline_store_module()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        # The same objects, decoded as the old reflector did (json.loads), for the old store to hold.
        items = [json.loads(entry[0]) for shard in store.shards for entry in shard.objects.values()]
        old_store = module.Store(RT.display)
        old_store.shard(None).replace(items, store.resource_version)
        del items
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        result(ident, "baseline_memory_per_object", (after - before) / n / 1024, "KiB")
        result(ident, "memory_over_baseline", (current - baseline) / (after - before), "x")
    return store, old_store


def _per_call(fn: Any, repeat: int) -> float:
    """Mean seconds per call over `repeat` calls."""
    began = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - began) / repeat


def _side_by_side(ident: str, name: str, new: Any, old: Any, repeat: int) -> None:
    """Alternate rounds of the two contenders; report both medians and their ratio (new / old)."""
    new_times, old_times = [], []
    for _ in range(7):
        old_times.append(_per_call(old, repeat))
        new_times.append(_per_call(new, repeat))
    a, b = statistics.median(new_times), statistics.median(old_times)
    result(ident, f"{name}_us", a * 1e6, "us")
    result(ident, f"{name}_baseline_us", b * 1e6, "us")
    result(ident, f"{name}_over_baseline", a / b, "x")


def _old_row(obj: dict[str, Any]) -> dict[str, Any]:
    """A summary row as the list tool built it at BASELINE_COMMIT: the Summary model with Condition models, dumped
    (output.summarize then; kept here because output now builds rows as dicts)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    phase = status.get("phase") or status.get("state") if status else None
    found = status.get("conditions") if isinstance(status, dict) else None
    raw: list[Any] = found if isinstance(found, list) else []
    conditions = []
    for c in raw:
        if not isinstance(c, dict) or "type" not in c:
            continue
        if c["type"] not in output.KEY_CONDITIONS and len(raw) > 3:
            continue
        healthy = str(c.get("status")) == ("False" if c["type"] in ("Degraded", "Failed") else "True")
        message = c.get("message")
        conditions.append(
            output.Condition(
                type=str(c["type"]),
                status=str(c.get("status", "")),
                reason=c.get("reason"),
                message=output.clip(str(message), 200) if message and not healthy else None,
            )
        )
    summary = output.Summary(
        name=meta.get("name", ""),
        namespace=meta.get("namespace"),
        age=output.age(meta.get("creationTimestamp")),
        phase=str(phase) if phase is not None else None,
        conditions=conditions,
        resource_version=meta.get("resourceVersion"),
    )
    return summary.model_dump(exclude_none=True, exclude_defaults=True)


def _old_size_of(value: Any) -> int:
    """output.size_of as it was at BASELINE_COMMIT (stdlib json)."""
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def measure_reads(store: Store, old_store: Any, n: int) -> None:
    """A get and 100-row summary pages, the read path now against the read path at BASELINE_COMMIT (its dict store,
    the tools' shaping then), alternating, on the same objects. The store calls alone are reported too: decoding
    on read is what the bytes store costs, and the rest of the read path was made cheaper to pay for it."""
    ident = f"n{n}"
    rng = random.Random(3)
    keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in old_store.list(namespace=NAMESPACES[3])]
    picks = [rng.choice(keys) for _ in range(1000)]
    cycle: Iterator[tuple[str, str]] = itertools.cycle(picks)

    def get_new() -> None:
        ns, name = next(cycle)
        assert store.get(name, ns) is not None

    def get_old() -> None:
        ns, name = next(cycle)
        assert dict(old_store.get(name, ns)) is not None  # the tool copied the shared object

    _side_by_side(ident, "get", get_new, get_old, 2000)
    budget = Settings().output_budget - 500

    def get_answer_new() -> None:  # what get_custom_resource does with a cached object, freshness included
        ns, name = next(cycle)
        obj = store.get(name, ns)
        assert obj is not None
        shaped, cut = _budgeted_object(obj, budget)
        fields = store.freshness(ns).as_fields()
        ObjectAnswer(resource=RT.display, source="cache", object=shaped, truncated=cut, **fields).model_dump_json()

    def get_answer_old() -> None:  # the same at BASELINE_COMMIT: shrink_object measured the object with stdlib json
        ns, name = next(cycle)
        info = old_store.info()
        obj = dict(old_store.get(name, ns))
        assert _old_size_of(obj) <= budget  # so it was returned as it was
        fields = {"stale_seconds": info.stale_seconds}
        ObjectAnswer(resource=RT.display, source="cache", object=obj, truncated=None, **fields).model_dump_json()

    _side_by_side(ident, "get_answer", get_answer_new, get_answer_old, 500)
    # Cold: gets spread over every object, so almost none is among the HOT_OBJECTS kept decoded.
    everything = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in old_store.list()]
    cycle = itertools.cycle(rng.sample(everything, len(everything)))
    _side_by_side(ident, "get_cold", get_new, get_old, 1000)
    _side_by_side(ident, "get_answer_cold", get_answer_new, get_answer_old, 500)
    ns = NAMESPACES[5]

    def page_new(namespace: str | None) -> list[dict[str, Any]]:  # as list_custom_resources reads a page
        return store.list(namespace=namespace, limit=101, rows=ROWS)[:100]

    def page_old(namespace: str | None) -> list[dict[str, Any]]:
        return [_old_row(o) for o in old_store.list(namespace=namespace)[:100]]

    def page_old_store_new_rows(namespace: str | None) -> list[dict[str, Any]]:
        return [ROWS.row(o) for o in old_store.list(namespace=namespace)[:100]]

    def without_age(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "age"} for row in rows]

    assert without_age(page_new(ns)) == without_age(page_old(ns))
    rounds = 20 if n <= 10_000 else 3
    # Warm: the same page again (what paging back, or polling a list, does). Cold: every call another namespace,
    # so nothing read before is reused (today's rows come packed from the write either way).
    _side_by_side(ident, "page100_ns", lambda: page_new(ns), lambda: page_old(ns), rounds)
    spaces = iter(NAMESPACES * 100_000)
    # Each call reads another namespace. "same_rows": the same first read with today's rows on both sides (built
    # from the old store's objects); "list101_cold_store_only": the store calls alone.
    cold: dict[str, tuple[Callable[[str], Any], Callable[[str], Any]]] = {
        "page100_ns_cold": (page_new, page_old),
        "page100_ns_cold_same_rows": (page_new, page_old_store_new_rows),
        "list101_cold_store_only": (
            lambda space: store.list(namespace=space, limit=101),
            lambda space: old_store.list(namespace=space)[:101],
        ),
    }
    for name, (new, old) in cold.items():
        _side_by_side(ident, name, lambda new=new: new(next(spaces)), lambda old=old: old(next(spaces)), rounds)
    _side_by_side(ident, "page100_all", lambda: page_new(None), lambda: page_old(None), 10 if n <= 10_000 else 1)


async def measure_list_answer(kube: KubeClient, settings: Settings, n: int) -> None:
    """The list tool's cache answer (default limit 50; all namespaces, and one namespace), through the policy gate
    as the tool reads it: time and bytes."""
    ident = f"n{n}"
    budget = settings.output_budget
    async with CacheManager(kube, options=OPTIONS) as cache:
        store = await cache.ensure(RT, rows=ROWS)
        await store.wait_synced()
        access = CacheAccess(cache, kube.policy)
        view = access.get(RT)
        assert view is not None
        state = AppState(settings, kube, Discovery(kube), access, None)  # type: ignore[arg-type]  # no subscriptions
        await list_from_cache(state, RT, view, None, None, None, 50, {}, "summary")  # discovery warmed up
        for scope, label in ((None, "all"), (NAMESPACES[1], "ns")):
            times = []
            for _ in range(20):
                began = time.perf_counter()
                answer = await list_from_cache(state, RT, view, scope, None, None, 50, {}, "summary")
                times.append(time.perf_counter() - began)
            size = output.size_of(answer)
            assert answer.count > 0
            assert size <= budget, (size, budget)
            result(ident, f"list_answer_{label}_ms", statistics.median(times) * 1000, "ms")
            result(ident, f"list_answer_{label}_bytes", size, "B")
        result(ident, "list_answer_ms", RESULTS[(ident, "list_answer_all_ms")], "ms")
        result(ident, "output_budget", budget, "B")
        result(ident, "list_answer_probes", sum(store.probes.values()), "count")


async def measure_probes(kube: KubeClient, seconds: float, rate: float) -> None:
    """A quiet, healthy cluster: gets at `rate`/s through the confirmer for `seconds`; probes per minute, and what
    a read costs with and without one."""
    async with CacheManager(kube, options=OPTIONS) as cache:
        store = await cache.ensure(RT)
        await store.wait_synced()
        keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list(limit=50)]
        durations: list[float] = []
        began = time.perf_counter()
        i = 0
        while time.perf_counter() - began < seconds:
            ns, name = keys[i % len(keys)]
            i += 1
            t = time.perf_counter()
            confirmed = await cache.confirm_get(RT, name, ns)
            durations.append(time.perf_counter() - t)
            assert confirmed.freshness.confirmed, confirmed.freshness
            await anyio.sleep(max(0.0, began + i / rate - time.perf_counter()))
        elapsed = time.perf_counter() - began
        probes = store.probes["ok"] + store.probes["failed"]
        durations.sort()
        result("quiet", "reads", len(durations), "count")
        result("quiet", "read_rate", len(durations) / elapsed, "reads/s")
        result("quiet", "probes_per_minute", probes / elapsed * 60, "probes/min")
        result("quiet", "probe_share_of_reads", probes / max(1, len(durations)) * 100, "%")
        result("quiet", "bookmarks_seen", store.stats().events["BOOKMARK"], "count")
        result("quiet", "read_p50", durations[len(durations) // 2] * 1000, "ms")
        result("quiet", "read_max", durations[-1] * 1000, "ms")


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
    parser.add_argument(
        "--seed",
        choices=("api", "etcd"),
        default="api",
        help="create the objects through the API (POST) or write them straight into etcd (fast; for 100k)",
    )
    parser.add_argument("--runs", type=int, default=5, help="alternating sync runs per size (median reported)")
    parser.add_argument("--rate", type=float, default=100.0, help="writes per second for the latency test")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the latency test")
    parser.add_argument("--quiet-seconds", type=float, default=60.0, help="duration of the quiet probe-rate test")
    parser.add_argument("--quiet-rate", type=float, default=5.0, help="reads per second in the probe-rate test")
    parser.add_argument("--rss-child", metavar="KUBECONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        mk_logging.configure(level="warning")
        return await rss_child(args.rss_child)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    mk_logging.configure(level="warning")
    began = time.perf_counter()
    async with sandbox.start_control_plane(dict(os.environ)) as plane:
        settings = Settings(kubeconfig=plane.admin_kubeconfig)
        kube, writer = KubeClient(settings), KubeClient(settings)
        try:
            seeded = 0.0
            if args.seed == "etcd":
                # The first batch goes in before the CRD exists: the API server's watch cache then loads it with one
                # LIST from etcd when the CRD is established, instead of replaying a watch event per transaction.
                seeded = await seed_etcd(plane.etcd_url, 0, sizes[0])
            await setup_cluster(writer)
            created = 0
            for n in sizes:
                if args.seed == "etcd":
                    seconds = seeded if created == 0 else await seed_etcd(plane.etcd_url, created, n)
                    result(f"n{n}", "listed_after_seed_seconds", await verify_listed(kube, n), "s")
                else:
                    seconds = await create_objects(writer, created, n)
                result(f"n{n}", "created_seconds", seconds, "s")
                result(f"n{n}", "created_per_second", (n - created) / seconds, "obj/s")
                created = n
                await measure_sync(kube, n, args.runs)
                await measure_process_rss(plane.admin_kubeconfig, n)
                store, old_store = await measure_memory(kube, n, with_baseline=True)
                measure_reads(store, old_store, n)
                del store, old_store
                gc.collect()
                await measure_list_answer(kube, settings, n)
            await measure_latency(kube, writer, sizes[-1], args.rate, args.seconds)
            if args.quiet_seconds > 0:
                await measure_probes(kube, args.quiet_seconds, args.quiet_rate)
        finally:
            await kube.aclose()
            await writer.aclose()
    result("bench", "total_runtime", time.perf_counter() - began, "s")
    report_targets()
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, sys.argv[1:]))
