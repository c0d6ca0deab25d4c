"""A frozen API server (SIGSTOP of a real kube-apiserver, on a control plane of the test's own: the session's is
shared): cached reads keep answering within 3 s but say their freshness is unconfirmed, and after SIGCONT a change
is visible through the cache within 5 s (issue 10, part 1). The figures are printed for the record (`-s`)."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import anyio
import pytest

from mcp_k8s import sandbox
from mcp_k8s.cache.manager import CacheManager
from mcp_k8s.cache.store import Status
from tests.integration.cache.support import FAST, WIDGETS, assert_matches_list, create_many, kube_client, patch
from tests.kube import api_client, apply_test_crds, create_namespace

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

STALL = 15.0


@pytest.mark.usefixtures("own_plane_allowed")
async def test_a_frozen_apiserver_makes_answers_unconfirmed_and_its_return_is_seen_within_5s() -> None:
    async with sandbox.start_control_plane(dict(os.environ)) as plane, api_client(plane.admin_kubeconfig) as admin:
        await apply_test_crds(admin)
        ns = await create_namespace(admin, "stall")
        await create_many(admin, WIDGETS, [(ns, f"w{i:02d}") for i in range(10)])
        # Production freshness settings (quiet 3 s, retry 5 s, probe deadline 1.5 s) and the production
        # inactivity timeout (90 s): whatever notices the stall here, it is not the read timeout.
        options = dataclasses.replace(FAST, inactivity_timeout=90.0)
        async with kube_client(plane.admin_kubeconfig) as kube, CacheManager(kube, options=options) as cache:
            store = await cache.ensure(WIDGETS)
            assert await store.wait_synced(timeout=30)
            healthy = await cache.confirm_get(WIDGETS, "w00", ns)
            assert healthy.freshness.confirmed
            apiserver = plane.pids[-1]
            readings: list[tuple[float, float, bool, bool, str | None]] = []  # (at, took, get ok, list ok, since)
            os.kill(apiserver, signal.SIGSTOP)
            stopped = time.monotonic()
            try:
                while time.monotonic() - stopped < STALL:
                    began = time.monotonic()
                    got = await cache.confirm_get(WIDGETS, "w01", ns)
                    listed = await cache.confirm_list(WIDGETS, ns)
                    took = time.monotonic() - began
                    assert got.object is not None  # the cached copy is still served
                    readings.append(
                        (
                            began - stopped,
                            took,
                            got.freshness.confirmed,
                            listed.confirmed,
                            listed.as_fields()["cache"].get("unconfirmed_since"),
                        )
                    )
                    await anyio.sleep(0.5)
            finally:
                os.kill(apiserver, signal.SIGCONT)
            resumed = time.monotonic()
            await patch(admin, WIDGETS, "w02", ns, {"spec": {"size": 42}})
            with anyio.fail_after(10):
                while (store.get("w02", ns) or {}).get("spec", {}).get("size") != 42:
                    await anyio.sleep(0.02)
            visible_after = time.monotonic() - resumed
            assert await store.wait_status(Status.LIVE, timeout=10)
            after = await cache.confirm_list(WIDGETS, ns)
            slowest = max(r[1] for r in readings)
            first_unconfirmed = next((r[0] for r in readings if not r[2] and not r[3]), None)
            late = [r for r in readings if r[0] >= 3.0 + 1.5 + 0.5]  # past quiet + one probe deadline
            stats = store.stats()
            print(
                f"\nSTALL {STALL:g}s: reads={len(readings)} slowest={slowest:.3f}s "
                f"first_unconfirmed_at={first_unconfirmed}s probes={dict(store.probes)} "
                f"watch_restarts={dict(stats.watch_restarts)} lists={dict(stats.lists)} "
                f"change_visible_after_SIGCONT={visible_after:.3f}s"
            )
            assert slowest < 3.0, readings
            assert first_unconfirmed is not None, readings
            assert first_unconfirmed <= 3.0 + 1.5 + 0.6, readings
            assert late, readings
            assert all(not r[2] and not r[3] and r[4] for r in late), readings  # never "confirmed" while frozen
            assert stats.watch_restarts["unconfirmed"] >= 1  # restarted by the probe, not the 90 s timeout
            assert visible_after <= 5.0
            assert after.confirmed
            await assert_matches_list(store, admin, WIDGETS, namespace=ns, timeout=30)
