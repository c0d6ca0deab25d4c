"""Freshness: the store's state table on an injected clock, and the confirmer's probes against the scripted fake
(a frozen server, a lagging watch, one probe per type in flight), plus the compact store's read path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_k8s.cache.freshness import Confirmer
from mcp_k8s.cache.reflector import Reflector
from mcp_k8s.cache.store import Change, ChangeType, FreshnessPolicy, Status, Store
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.settings import Settings
from tests.unit.cache.fakeapi import HANG, WIDGETS, Clock, FakeApi, serve, widget
from tests.unit.cache.test_reflector import FAST

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def make(namespaces: list[str] | None = None) -> tuple[Store, Clock, list[str]]:
    clock = Clock()
    store = Store(
        WIDGETS.display,
        namespaces=namespaces,
        clock=clock,
        wall_clock=lambda: clock.now + 1_700_000_000,
        freshness_policy=FreshnessPolicy(quiet=3.0, retry=5.0),
    )
    restarts: list[str] = []
    for shard in store.shards:
        shard.on_restart = lambda why, _relist: restarts.append(why)
    return store, clock, restarts


# --- the state table ---------------------------------------------------------------------------------------------


def test_live_and_recently_heard_is_confirmed_without_a_probe() -> None:
    store, clock, _ = make()
    store.shard(None).replace([widget("a")], "10")
    clock.now += 3.0
    fresh = store.freshness()
    assert fresh.confirmed
    assert not fresh.probe_due
    assert fresh.last_heard_seconds == 3.0
    assert fresh.as_fields() == {"stale_seconds": 0.0, "cache": {"freshness": "confirmed", "last_heard_seconds": 3.0}}


def test_silence_past_quiet_asks_for_a_probe_and_an_answer_confirms() -> None:
    store, clock, restarts = make()
    store.shard(None).replace([widget("a")], "10")
    clock.now += 3.5
    fresh = store.freshness()
    assert not fresh.confirmed
    assert fresh.probe_due
    store.probe_succeeded()
    assert store.freshness().confirmed
    assert store.freshness().last_heard_seconds == 3.5  # the watch itself is still as silent as it was
    clock.now += 3.5
    assert store.freshness().probe_due  # a probe confirms for `quiet` seconds, like an event would
    store.shard(None).bookmark("11")
    assert store.freshness().confirmed
    assert restarts == []


def test_a_failed_probe_says_unconfirmed_since_the_last_confirmation_and_restarts_the_watch() -> None:
    store, clock, restarts = make()
    shard = store.shard(None)
    shard.replace([widget("a")], "10")
    clock.now += 4.0
    store.probe_failed("no answer within 1.5 s")
    assert restarts == ["no answer within 1.5 s"]
    assert shard.status is Status.STALE  # the watch is being replaced
    fresh = store.freshness()
    assert not fresh.confirmed
    assert not fresh.probe_due
    fields = fresh.as_fields()
    assert fields["cache"]["freshness"] == "unconfirmed"
    assert fields["stale_seconds"] == 4.0
    assert fields["cache"]["unconfirmed_since"] == "2023-11-14T22:30:00.000Z"  # wall time of the list (clock 1000)
    clock.now += 5.0
    assert not store.freshness().probe_due  # the watch is down: a list probe proves nothing; a get's can
    assert store.freshness(for_get=True).probe_due
    shard.mark_live()  # the new watch is open, but an open watch that delivers nothing proves nothing
    assert not store.freshness().confirmed
    assert store.freshness().probe_due  # the watch is live again: a list probe can confirm
    shard.bookmark("11")  # heard
    assert store.freshness().confirmed


def test_a_down_watch_is_unconfirmed_since_it_was_last_current() -> None:
    store, clock, _ = make(["a", "b"])
    store.shard("a").replace([widget("x", "a")], "10")
    store.shard("b").replace([], "10")
    clock.now += 1.0
    store.shard("b").mark_stale("The watch on widgets was disconnected.")
    clock.now += 1.0
    assert store.freshness("a").confirmed  # only the shards a read covers count
    fresh = store.freshness()
    assert not fresh.confirmed
    assert fresh.stale_seconds == 2.0
    assert not fresh.probe_due


def test_probes_wait_for_the_first_sync() -> None:
    store, _, _ = make()
    assert not store.freshness().probe_due
    assert not store.freshness(for_get=True).probe_due


# --- repair and the watch's late event ---------------------------------------------------------------------------


def test_a_repaired_object_is_not_overwritten_by_the_lagging_watch() -> None:
    store, _, _ = make()
    shard = store.shard(None)
    shard.replace([widget("a", rv=10)], "10")
    seen: list[Change] = []
    store.add_listener(seen.append)
    newer = widget("a", rv=12)
    newer["spec"] = {"size": 2}
    store.repair(("ns", "a"), newer)
    got = store.get("a", "ns")
    assert got is not None
    assert got["spec"] == {"size": 2}
    assert shard.resource_version == "10"  # the watch's position is the watch's
    older = widget("a", rv=11)
    shard.apply("MODIFIED", older)  # delivered late by the watch
    again = widget("a", rv=12)
    again["spec"] = {"size": 2}
    shard.apply("MODIFIED", again)  # the event the probe anticipated
    got = store.get("a", "ns")
    assert got is not None
    assert got["spec"] == {"size": 2}
    assert got["metadata"]["resourceVersion"] == "12"
    assert [(c.type, c.resource_version, c.synthetic) for c in seen] == [(ChangeType.MODIFIED, "12", True)]
    assert shard.resource_version == "12"


def test_a_probe_that_finds_the_object_gone_removes_it_once() -> None:
    store, _, _ = make()
    shard = store.shard(None)
    shard.replace([widget("a", rv=10)], "10")
    seen: list[Change] = []
    store.add_listener(seen.append)
    store.repair(("ns", "a"), None)
    assert store.get("a", "ns") is None
    shard.apply("DELETED", widget("a", rv=11))
    assert [(c.type, c.synthetic) for c in seen] == [(ChangeType.DELETED, True)]


# --- the compact store's read path -------------------------------------------------------------------------------


def test_gets_are_copies_and_pages_walk_sorted_keys() -> None:
    store, _, _ = make(["a", "b"])
    store.shard("a").replace([widget(f"x{i}", "a", app="web" if i % 2 else "db") for i in range(5)], "10")
    store.shard("b").replace([widget(f"y{i}", "b", app="web") for i in range(3)], "10")
    one = store.get("x1", "a")
    assert one is not None
    one["spec"] = {"size": 99}  # the top level is the caller's
    again = store.get("x1", "a")
    assert again is not None
    assert again["spec"]["size"] == 1

    def names(**kw: Any) -> list[str]:
        return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in store.list(**kw)]

    assert names(limit=3) == ["a/x0", "a/x1", "a/x2"]
    assert names(after=("a", "x3"), limit=3) == ["a/x4", "b/y0", "b/y1"]  # shards merged in key order
    assert names(namespace="b", after=("b", "y0")) == ["b/y1", "b/y2"]
    assert names(label_selector="app=web", limit=4) == ["a/x1", "a/x3", "b/y0", "b/y1"]
    assert names(namespaces={"b"}, limit=2) == ["b/y0", "b/y1"]
    assert names(field_selector="metadata.name!=x0", namespace="a", limit=1) == ["a/x1"]
    assert ("a", "x1") in store
    assert ("a", "nope") not in store
    store.shard("a").apply("DELETED", widget("x1", "a", rv=11))
    store.shard("a").apply("ADDED", widget("x9", "a", rv=12))
    assert names(namespace="a") == ["a/x0", "a/x2", "a/x3", "a/x4", "a/x9"]
    newer = widget("x0", "a", rv=13)
    newer["spec"] = {"size": 5}
    store.shard("a").apply("MODIFIED", newer)  # a decoded copy of the old version is never served again
    [x0] = store.list(namespace="a", limit=1)
    assert x0["spec"] == {"size": 5}


# --- the confirmer against the fake ------------------------------------------------------------------------------


@asynccontextmanager
async def confirmed_store(fake: FakeApi, tmp_path: Path) -> AsyncIterator[tuple[Store, Confirmer]]:
    async with serve(fake, tmp_path) as kubeconfig:
        kube = KubeClient(Settings(kubeconfig=kubeconfig))
        store = Store(WIDGETS.display, freshness_policy=FreshnessPolicy(quiet=0.2, retry=0.5))
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(Reflector(kube, WIDGETS, store.shard(None), options=FAST).run)
                assert await store.wait_synced(5)
                yield store, Confirmer(kube, WIDGETS, store, timeout=0.3)
                tg.cancel_scope.cancel()
        finally:
            await kube.aclose()


async def test_a_quiet_healthy_watch_is_confirmed_by_one_probe_for_many_readers(tmp_path: Path) -> None:
    fake = FakeApi()
    fake.put(widget("a"))
    fake.watches = [[HANG]]
    async with confirmed_store(fake, tmp_path) as (store, confirmer):
        assert (await confirmer.confirm_list(None)).confirmed  # just synced: no probe
        assert fake.count("list") == 1
        await anyio.sleep(0.5)
        results = []

        async def read() -> None:
            results.append(await confirmer.confirm_list("ns"))

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(read)
        assert all(r.confirmed for r in results)
        probes = fake.of("list")[1:]
        assert len(probes) == 1
        assert probes[0].query.get("limit") == "1"
        assert store.probes == {"ok": 1}


async def test_a_frozen_server_is_reported_within_the_deadline_and_the_watch_restarts(tmp_path: Path) -> None:
    fake = FakeApi()
    fake.put(widget("a"))
    fake.watches = [[HANG], [HANG], [HANG]]
    async with confirmed_store(fake, tmp_path) as (store, confirmer):
        await anyio.sleep(0.5)
        fake.frozen = anyio.Event()
        began = anyio.current_time()
        fresh = await confirmer.confirm_list(None)
        assert anyio.current_time() - began < 0.6
        assert not fresh.confirmed
        assert fresh.as_fields()["cache"]["unconfirmed_since"] is not None
        await fake.wait_for("watch", 2, timeout=2)  # re-watched at once, not after the inactivity timeout
        assert store.stats().watch_restarts["unconfirmed"] == 1
        got = await confirmer.confirm_get("a", "ns")  # inside `retry`: answered at once, unconfirmed
        assert got.object is not None
        assert not got.freshness.confirmed
        fake.frozen.set()
        fake.frozen = None
        assert await store.wait_status(Status.LIVE, timeout=2)
        assert not (await confirmer.confirm_list(None)).confirmed  # an open watch alone does not confirm
        await anyio.sleep(0.6)  # past `retry`: the next read probes, and the server answers
        assert (await confirmer.confirm_list(None)).confirmed


async def test_a_get_probe_returns_and_stores_the_newer_object(tmp_path: Path) -> None:
    fake = FakeApi()
    fake.put(widget("a"))
    fake.watches = [[HANG]]
    async with confirmed_store(fake, tmp_path) as (store, confirmer):
        newer = fake.put(widget("a"))  # the watch never tells (it hangs): the cache lags
        newer["spec"] = {"size": 7}
        await anyio.sleep(0.5)
        got = await confirmer.confirm_get("a", "ns")
        assert got.object is not None
        assert got.object["spec"] == {"size": 7}
        assert got.freshness.confirmed
        assert got.freshness.lagged
        assert got.freshness.as_fields()["cache"]["lagged"] is True
        assert "managedFields" not in got.object["metadata"]
        stored = store.get("a", "ns")
        assert stored is not None
        assert stored["metadata"]["resourceVersion"] == newer["metadata"]["resourceVersion"]
        fake.remove("ns", "a")
        await anyio.sleep(0.5)
        gone = await confirmer.confirm_get("a", "ns")
        assert gone.object is None
        assert ("ns", "a") not in store
        assert store.probes == {"ok": 2, "lagged": 2}
