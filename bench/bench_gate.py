"""What the policy gate costs on a cached read, side by side in one run against a sandbox control plane.

Three ways to read one object from a synced watch cache, interleaved round by round so machine noise hits all alike:
- `store`: the raw Store.get (no gate: what a careless tool would do if it could);
- `gated`: the tools' view (`CachedType.get`): the policy decision, no authenticated caller;
- `impersonating`: the same view for an HTTP caller under --impersonate, whose SubjectAccessReview verdict is cached
  (the first read asks the API server; every later one within 5 s is answered from the cache).
Prints `RESULT gate <name> <value> <unit>` lines: wall and CPU microseconds per read, and the ratios to `store`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_k8s import errors, policy, sandbox
from mcp_k8s import logging as mk_logging
from mcp_k8s.cache.access import CacheAccess
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.reviews import Reviews
from mcp_k8s.settings import Settings

RT = ResourceType(group="", version="v1", plural="configmaps", kind="ConfigMap", namespaced=True)
NAMESPACE = "bench-gate"
CALLER = policy.Caller(user="bench-reader", groups=("system:authenticated",))


def result(name: str, value: float, unit: str) -> None:
    print(f"RESULT gate {name} {value:.3f} {unit}", flush=True)


async def arrange(kube: KubeClient, count: int) -> None:
    await kube.request("POST", "/api/v1/namespaces", op=_op("create"), body={"metadata": {"name": NAMESPACE}})
    for i in range(count):
        await kube.request(
            "POST",
            RT.path(NAMESPACE),
            op=_op("create"),
            body={"metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 200}},
        )
    role = {
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    await kube.request(
        "POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/roles", op=_op("create"), body=role
    )
    binding = {
        "metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": CALLER.user}],
    }
    await kube.request(
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings",
        op=_op("create"),
        body=binding,
    )


def _op(verb: str) -> errors.Operation:
    return errors.Operation(verb=verb, resource="bench")


async def timed(read: Callable[[str], Awaitable[Any]], names: list[str]) -> tuple[float, float]:
    """(wall µs, CPU µs) per read over `names`."""
    wall, cpu = time.perf_counter(), time.process_time()
    for name in names:
        await read(name)
    return (time.perf_counter() - wall) * 1e6 / len(names), (time.process_time() - cpu) * 1e6 / len(names)


async def run(count: int, rounds: int) -> None:
    async with sandbox.start_sandbox(dict(os.environ), nodes=0) as plane:
        settings = Settings(kubeconfig=plane.admin_kubeconfig)
        kube = KubeClient(settings)
        try:
            await arrange(kube, count)
            async with CacheManager(kube) as manager:
                reviews = Reviews(kube)
                access = CacheAccess(manager, kube.policy, reviews)
                view = await access.ensure(RT)
                assert await view.wait_synced(30)
                store = manager.get(RT)
                assert store is not None
                names = [f"cm-{i}" for i in range(count)]

                async def raw(name: str) -> Any:
                    return store.get(name, NAMESPACE)

                async def gated(name: str) -> Any:
                    return await view.get(name, NAMESPACE)

                async def impersonating(name: str) -> Any:
                    with policy.acting(caller=CALLER):
                        return await view.get(name, NAMESPACE)

                for read in (raw, gated, impersonating):  # warm up (and fill the SAR cache)
                    await timed(read, names)
                sent = reviews.reviews_sent
                samples: dict[str, list[tuple[float, float]]] = {"store": [], "gated": [], "impersonating": []}
                for _ in range(rounds):
                    for label, read in (("store", raw), ("gated", gated), ("impersonating", impersonating)):
                        samples[label].append(await timed(read, names))
                reviews_during = reviews.reviews_sent - sent
        finally:
            await kube.aclose()
    medians = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}
    for label, (wall, cpu) in medians.items():
        result(f"{label}_wall_per_read", wall, "us")
        result(f"{label}_cpu_per_read", cpu, "us")
    for label in ("gated", "impersonating"):
        result(f"{label}_vs_store_wall", medians[label][0] / medians["store"][0], "x")
        result(f"{label}_vs_store_cpu", medians[label][1] / medians["store"][1], "x")
    result("impersonating_vs_gated_wall", medians["impersonating"][0] / medians["gated"][0], "x")
    result("subject_access_reviews_sent_while_measuring", reviews_during, "count")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    mk_logging.configure(level="warning")
    anyio.run(run, args.objects, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
