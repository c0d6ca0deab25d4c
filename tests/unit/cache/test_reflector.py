"""The reflector against a scripted fake API server: every step of watch_cache.md §a that a real server cannot
produce on demand (in-stream ERROR codes, garbage, truncated lines, 410 on a continue page, 404/403 states)."""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from mcp_k8s.cache.reflector import Backoff, Reflector, ReflectorOptions
from mcp_k8s.cache.store import Change, ChangeType, Status, Store, Subscription
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.settings import Settings
from tests.unit.cache.fakeapi import (
    ABORT,
    HANG,
    WIDGETS,
    FakeApi,
    Http,
    Sleep,
    bookmark,
    error_event,
    line,
    serve,
    status,
    widget,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

FAST = ReflectorOptions(
    page_size=2,
    backoff_initial=0.02,
    backoff_cap=0.1,
    backoff_jitter=0.0,
    watch_timeout=(30.0, 30.0),
    inactivity_timeout=5.0,
    not_served_cap=0.05,
    internal_error_window=0.5,
    very_short_watch=0.2,
)


@asynccontextmanager
async def running(
    fake: FakeApi, tmp_path: Path, *, options: ReflectorOptions = FAST, namespace: str | None = None
) -> AsyncIterator[Store]:
    """A store fed by one reflector against the fake, cancelled (and its client closed) on exit."""
    async with serve(fake, tmp_path) as kubeconfig:
        kube = KubeClient(Settings(kubeconfig=kubeconfig))
        store = Store(WIDGETS.display, namespaces=[namespace] if namespace else None)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(Reflector(kube, WIDGETS, store.shard(namespace), options=options).run)
                yield store
                tg.cancel_scope.cancel()
        finally:
            await kube.aclose()


def seed(fake: FakeApi, count: int) -> None:
    for i in range(count):
        fake.put(widget(f"w{i}"))


async def next_change(subscription: Subscription, timeout: float = 5.0) -> Change:
    """The next change, or a failure (never a hang) if it does not come."""
    with anyio.fail_after(timeout):
        return await subscription.__anext__()


def assert_matches_server(store: Store, fake: FakeApi) -> None:
    """The invariant: the cache equals the server's state (keys and resourceVersions)."""
    expected = {k: o["metadata"]["resourceVersion"] for k, o in fake.objects.items()}
    assert store.snapshot() == expected


# --- LIST ------------------------------------------------------------------------------------------------------


async def test_initial_list_is_paginated_and_synced_only_after_the_last_page(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 5)
    fake.list_gate = anyio.Event()
    async with running(fake, tmp_path) as store:
        await fake.wait_for("list", 2)  # the second page is held back
        assert not store.synced
        assert len(store) == 0
        assert not await store.wait_synced(timeout=0.05)
        fake.list_gate.set()
        assert await store.wait_synced(timeout=5)
        assert_matches_server(store, fake)
        lists = fake.of("list")
        assert [s.query.get("continue") for s in lists] == [None, "105:2", "105:4"]
        assert lists[0].query == {"limit": "2"}  # first list: RV "" (consistent), no resourceVersionMatch
        watch = await fake.wait_for("watch", 1)
        assert watch.query["resourceVersion"] == "105"
        assert watch.query["allowWatchBookmarks"] == "true"
        assert watch.query["timeoutSeconds"] == "30"
        assert store.stats().lists == {"initial": 1}
        assert store.status is Status.LIVE
        obj = store.get("w0", "ns")
        assert obj is not None
        assert "managedFields" not in obj["metadata"]
        assert obj["metadata"]["annotations"] == {"keep": "me"}
        assert obj["kind"] == "Widget"  # filled in from the list kind when items lack it


async def test_watch_events_and_bookmarks_are_applied(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 2)
    fake.watches = [
        [
            lambda: line("ADDED", fake.put(widget("new"))),
            lambda: line("MODIFIED", fake.put(widget("w0"))),
            lambda: line("DELETED", fake.remove("ns", "w1")),
            bookmark(200),
            HANG,
        ]
    ]
    async with running(fake, tmp_path) as store:
        assert await store.wait_for_resource_version("200", timeout=5)
        assert_matches_server(store, fake)
        window = store.changes_since("102")
        assert [(c.type, c.name) for c in window.changes] == [
            (ChangeType.ADDED, "new"),
            (ChangeType.MODIFIED, "w0"),
            (ChangeType.DELETED, "w1"),
        ]
        assert window.complete
        assert store.stats().events == {"ADDED": 1, "MODIFIED": 1, "DELETED": 1, "BOOKMARK": 1}


async def test_open_watches_are_counted_while_open(tmp_path: Path) -> None:
    """The daemon's mcp_k8s_cache_watches_active: one while the WATCH is open, none once the reflector stops."""
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[bookmark(200), HANG]]
    async with running(fake, tmp_path) as store:
        assert await store.wait_for_resource_version("200", timeout=5)
        assert store.stats().watches_open == 1
    assert store.stats().watches_open == 0


async def test_410_on_a_continue_page_restarts_the_list_from_page_one(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 5)
    fake.expire_continue = 1
    async with running(fake, tmp_path) as store:
        assert await store.wait_synced(timeout=5)
        queries = [s.query for s in fake.of("list")]
        assert queries[1].get("continue")  # page 2 → 410
        assert queries[2] == {"limit": "2"}  # page 1 again, RV ""
        assert store.shards[0].stats.list_failures["continue_expired"] == 1
        assert_matches_server(store, fake)


async def test_a_list_page_that_is_not_json_is_retried(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.lists = [Http(200, "<html>maintenance</html>")]  # a proxy error page with a 200
    async with running(fake, tmp_path) as store:
        assert await store.wait_synced(timeout=5)
        assert store.shards[0].stats.list_failures["ServerError"] == 1
        assert store.stats().lists == {"initial": 1}
        assert_matches_server(store, fake)


async def test_expired_not_older_than_list_falls_back_to_a_consistent_list(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[error_event(410, "Expired", "too old resource version: 1 (101)")]]
    fake.lists = []
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 1)
        fake.lists = [Http(410, status(410, "Expired", "too old"))]  # the NotOlderThan relist is refused too
        await fake.wait_for("list", 3)
        relists = fake.of("list")
        assert relists[1].query["resourceVersionMatch"] == "NotOlderThan"
        assert relists[1].query["resourceVersion"] == "101"
        assert "resourceVersion" not in relists[2].query
        await fake.wait_for("watch", 2)
        assert store.stats().lists == {"initial": 1, "rv_unavailable": 1}


# --- in-stream ERROR events ------------------------------------------------------------------------------------


async def test_error_410_relists_not_older_than_the_last_rv(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 2)
    fake.watches = [[lambda: line("MODIFIED", fake.put(widget("w0"))), error_event(410, "Expired", "too old")]]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 2)
        relist = fake.of("list")[-1].query
        assert relist["resourceVersion"] == "103"  # the last RV applied, never back in time
        assert relist["resourceVersionMatch"] == "NotOlderThan"
        assert store.stats().lists == {"initial": 1, "expired": 1}
        assert_matches_server(store, fake)
        assert all(o.get("kind") != "Status" for o in store)  # the ERROR object was not stored


async def test_error_504_too_large_relists_from_scratch(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [
        [
            error_event(
                504,
                "Timeout",
                "Too large resource version: 9999, current: 101",
                causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            )
        ]
    ]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 2)
        assert "resourceVersion" not in fake.of("list")[-1].query
        assert store.stats().lists == {"initial": 1, "too_large": 1}


async def test_error_429_waits_retry_after_then_rewatches_without_listing(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[error_event(429, "TooManyRequests", "storage is (re)initializing", retryAfterSeconds=1)]]
    async with running(fake, tmp_path) as store:
        first = await fake.wait_for("watch", 1)
        second = await fake.wait_for("watch", 2)
        assert second.at - first.at >= 0.95
        assert second.query["resourceVersion"] == "101"
        assert fake.count("list") == 1
        assert store.stats().watch_restarts["throttled"] == 1


async def test_error_500_rewatches_then_relists_after_the_deadline(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    internal = [error_event(500, "InternalError", "etcd hiccup")]
    fake.watches = [internal, internal, [Sleep(0.6), *internal], internal]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 3)
        assert fake.count("list") == 1  # within the window: re-watch only
        await fake.wait_for("watch", 5)
        assert fake.count("list") == 2  # the 500s outlasted internal_error_window: relist
        stats = store.stats()
        assert stats.watch_restarts["server_error"] >= 2
        assert stats.watch_restarts["server_error_persisted"] == 1


async def test_unknown_error_code_relists_after_backoff(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[error_event(418, "Teapot", "something odd")]]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 2)
        assert store.stats().lists == {"initial": 1, "error": 1}
        assert fake.of("list")[-1].query["resourceVersionMatch"] == "NotOlderThan"


async def test_bare_status_line_is_an_error_not_an_object(tmp_path: Path) -> None:
    import json

    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[json.dumps(status(410, "Expired", "gone")).encode() + b"\n"]]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 2)
        assert store.stats().lists["expired"] == 1
        assert_matches_server(store, fake)


# --- broken streams --------------------------------------------------------------------------------------------


async def test_garbage_lines_relist_with_growing_backoff_and_no_tight_loop(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[b"<html>bad gateway</html>\n"] for _ in range(50)]
    options = ReflectorOptions(
        backoff_initial=0.05, backoff_cap=0.4, backoff_jitter=0.0, watch_timeout=(30, 30), backoff_reset=60
    )
    async with running(fake, tmp_path, options=options) as store:
        await fake.wait_for("watch", 6)
        watches = fake.of("watch")[:6]
        gaps = [b.at - a.at for a, b in itertools.pairwise(watches)]
        for gap, floor in zip(gaps, [0.05, 0.1, 0.2, 0.4, 0.4], strict=True):
            assert gap >= floor * 0.95, gaps  # backoff doubles to the cap: no tight loop
        assert store.stats().watch_restarts["garbage"] >= 5
        assert store.stats().lists["garbage"] >= 5  # a garbage stream may have lost events: relist
        assert_matches_server(store, fake)  # nothing from the garbage was stored


async def test_html_502_response_and_empty_200_are_handled(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [Http(502, "<html><body>502 Bad Gateway</body></html>"), []]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("watch", 3)
        restarts = store.stats().watch_restarts
        assert restarts["server_error"] == 1  # the 502: re-watch
        assert restarts["short_watch"] == 1  # the empty 200: backoff, then relist
        assert store.stats().lists == {"initial": 1, "short_watch": 1}


async def test_partial_line_cut_mid_stream_is_never_applied(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 2)
    event: list[bytes] = []

    def modified() -> bytes:
        if not event:
            event.append(line("MODIFIED", fake.put(widget("w0"))))
        return event[0]

    fake.watches = [[lambda: modified()[: len(modified()) // 2], Sleep(0.05), ABORT], [modified, HANG]]
    async with running(fake, tmp_path) as store:
        assert await store.wait_for_resource_version("103", timeout=5)
        second = fake.of("watch")[1]
        assert second.query["resourceVersion"] == "102"  # re-watch from the last applied RV
        assert fake.count("list") == 1  # no relist
        assert store.stats().watch_restarts["disconnected"] == 1
        assert [c.name for c in store.changes_since("102").changes] == ["w0"]  # applied once, from the re-watch
        assert_matches_server(store, fake)


async def test_clean_end_of_a_long_watch_rewatches_at_once_from_the_last_rv(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[lambda: line("ADDED", fake.put(widget("x"))), Sleep(0.3)], [HANG]]
    async with running(fake, tmp_path) as store:
        second = await fake.wait_for("watch", 2)
        first = fake.of("watch")[0]
        assert second.query["resourceVersion"] == "102"
        assert second.at - first.at < 1.0
        assert fake.count("list") == 1
        assert store.stats().watch_restarts["timeout"] == 1


async def test_silent_stream_is_detected_by_the_inactivity_timeout(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 1)
    fake.watches = [[HANG]]
    options = ReflectorOptions(backoff_initial=0.02, backoff_jitter=0.0, watch_timeout=(30, 30), inactivity_timeout=0.3)
    async with running(fake, tmp_path, options=options) as store:
        first = await fake.wait_for("watch", 1)
        second = await fake.wait_for("watch", 2)
        assert 0.25 <= second.at - first.at < 2.0
        assert second.query["resourceVersion"] == "101"
        assert store.stats().watch_restarts["stalled"] == 1
        assert fake.count("list") == 1


# --- RBAC and CRD states -----------------------------------------------------------------------------------------


async def test_watch_forbidden_keeps_the_data_stale_then_recovers(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 2)
    forbidden = Http(403, status(403, "Forbidden", 'widgets.example.com is forbidden: User "bob" cannot watch'))
    fake.watches = [forbidden, forbidden]
    async with running(fake, tmp_path) as store:
        await fake.wait_for("list", 2)  # after the 403: backoff, then list + watch again
        assert store.synced
        assert store.status is Status.FORBIDDEN
        assert store.last_error is not None
        assert "bob" in store.last_error
        assert len(store) == 2
        stale = store.stale_seconds
        assert stale is not None
        assert stale > 0
        await fake.wait_for("watch", 3)  # the script has run out: this watch is allowed
        assert await store.wait_status(Status.LIVE, timeout=5)
        assert store.stale_seconds == 0.0


async def test_type_not_served_empties_the_store_and_recovers(tmp_path: Path) -> None:
    fake = FakeApi()
    seed(fake, 2)
    fake.watches = [[Sleep(0.05)]]  # the watch ends (CRD storage torn down) …
    async with running(fake, tmp_path) as store:
        await store.wait_synced(timeout=5)
        with store.subscribe() as sub:
            fake.served = False  # … and the type is gone
            deleted = [await next_change(sub), await next_change(sub)]
            assert {(c.type, c.name, c.synthetic) for c in deleted} == {
                (ChangeType.DELETED, "w0", True),
                (ChangeType.DELETED, "w1", True),
            }
            assert store.status is Status.NOT_SERVED
            assert len(store) == 0
            await fake.wait_for("discovery", 2)
            fake.objects.clear()
            fake.put(widget("again"))
            fake.served = True
            added = await next_change(sub)
            assert (added.type, added.name, added.synthetic) == (ChangeType.ADDED, "again", True)
        assert store.stats().lists["served_again"] == 1
        assert_matches_server(store, fake)


async def test_relist_emits_synthetic_changes_for_what_was_missed(tmp_path: Path) -> None:
    fake = FakeApi()
    for name in ("keep", "gone", "edited", "recreated"):
        fake.put(widget(name))
    go = anyio.Event()
    fake.watches = [[go, error_event(410, "Expired", "too old")]]
    async with running(fake, tmp_path) as store:
        assert await store.wait_synced(timeout=5)
        with store.subscribe() as sub:
            # Changes the watch never reports (the stream is held), then a 410 forces a relist.
            fake.remove("ns", "gone")
            fake.put(widget("edited"))
            fake.remove("ns", "recreated")
            fake.put(widget("recreated", uid="a-new-uid"))
            fake.put(widget("born"))
            go.set()
            changes = [await next_change(sub) for _ in range(5)]
        assert_matches_server(store, fake)
    assert all(c.synthetic for c in changes)
    assert sorted((c.type.value, c.name) for c in changes) == [
        ("ADDED", "born"),
        ("ADDED", "recreated"),
        ("DELETED", "gone"),
        ("DELETED", "recreated"),
        ("MODIFIED", "edited"),
    ]
    deleted_gone = next(c for c in changes if c.name == "gone")
    assert deleted_gone.object is not None
    assert deleted_gone.object["metadata"]["name"] == "gone"


async def test_namespaced_reflector_lists_and_watches_one_namespace(tmp_path: Path) -> None:
    fake = FakeApi()
    fake.put(widget("a", "ns1"))
    fake.put(widget("b", "ns2"))
    async with running(fake, tmp_path, namespace="ns1") as store:
        assert await store.wait_synced(timeout=5)
        assert store.snapshot() == {("ns1", "a"): "101"}
        await fake.wait_for("watch", 1)
        assert store.covers("ns1")
        assert not store.covers("ns2")


# --- shutdown ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["list", "watch", "backoff"])
async def test_cancel_leaks_no_tasks_connections_or_sessions(tmp_path: Path, phase: str) -> None:
    fake = FakeApi()
    seed(fake, 3)
    if phase == "list":
        fake.list_gate = anyio.Event()  # hang on page 2
    if phase == "backoff":
        fake.watches = [Http(403, status(403, "Forbidden", "no"))]
    options = ReflectorOptions(page_size=2, backoff_initial=30.0, watch_timeout=(30, 30))
    before = set(asyncio.all_tasks())
    async with serve(fake, tmp_path) as kubeconfig:
        kube = KubeClient(Settings(kubeconfig=kubeconfig))
        store = Store(WIDGETS.display)
        async with anyio.create_task_group() as tg:
            tg.start_soon(Reflector(kube, WIDGETS, store.shard(None), options=options).run)
            await fake.wait_for("list" if phase == "list" else "watch", 2 if phase == "list" else 1)
            if phase == "backoff":
                await anyio.sleep(0.1)
            tg.cancel_scope.cancel()
        # The cancelled request released its connection: nothing is checked out of either pool.
        for api in (await kube.api(), await kube.watch_api()):
            connector = api.rest_client.pool_manager.connector
            assert connector is not None
            assert not connector._acquired
        await kube.aclose()
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before - {asyncio.current_task()}
    assert not leftover
    gc.collect()


# --- backoff -----------------------------------------------------------------------------------------------------


def test_backoff_doubles_to_the_cap_with_jitter_and_resets_after_a_quiet_period() -> None:
    now = [0.0]
    backoff = Backoff(0.8, 30.0, jitter=1.0, reset_after=120.0, clock=lambda: now[0], rng=lambda: 0.5)
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == pytest.approx([1.2, 2.4, 4.8, 9.6, 19.2, 38.4, 45.0, 45.0])  # ×1.5 jitter; base capped at 30
    now[0] = 100.0
    assert backoff.next_delay() == pytest.approx(45.0)  # failures within 2 min: still capped
    now[0] = 221.0
    assert backoff.next_delay() == pytest.approx(1.2)  # quiet for more than 2 min: reset
