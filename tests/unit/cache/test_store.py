"""Store semantics without I/O: replace/apply, synthetic changes, the change log, waiting, fan-out, status."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from mcp_k8s import errors
from mcp_k8s.cache.selectors import UnsupportedFieldSelector
from mcp_k8s.cache.store import ChangeType, Status, Store, SubscriptionOverflow, rv_at_least
from tests.unit.cache.fakeapi import Clock, widget

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def make(namespaces: list[str] | None = None, *, log_size: int = 100) -> tuple[Store, Clock]:
    clock = Clock()
    return Store("widgets.example.com/v1", namespaces=namespaces, change_log_size=log_size, clock=clock), clock


def w(name: str, rv: int, ns: str = "ns", **kw: Any) -> Any:
    return widget(name, ns, rv, **kw)


def test_rv_comparison_is_numeric_for_digits_and_equality_otherwise() -> None:
    assert rv_at_least("10", "9")
    assert not rv_at_least("9", "10")  # not string order
    assert rv_at_least("abc", "abc")
    assert not rv_at_least("abd", "abc")


def test_objects_are_stored_stripped() -> None:
    store, _ = make()
    store.shard(None).replace([w("a", 1)], "5")
    obj = store.get("a", "ns")
    assert obj is not None
    assert "managedFields" not in obj["metadata"]
    assert obj["metadata"]["annotations"] == {"keep": "me"}
    bare = w("b", 6)
    bare["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    store.shard(None).apply("ADDED", bare)
    stored_b = store.get("b", "ns")
    assert stored_b is not None
    assert "annotations" not in stored_b["metadata"]


def test_first_replace_is_the_baseline_and_later_replaces_diff() -> None:
    store, _ = make()
    shard = store.shard(None)
    seen: list[Any] = []
    store.add_listener(seen.append)
    assert store.status is Status.STARTING
    assert not store.synced
    assert store.stale_seconds is None
    shard.replace([w("keep", 1), w("gone", 2), w("edit", 3), w("re", 4)], "10", reason="initial")
    assert seen == []  # the initial fill is not a change
    assert store.synced
    assert store.status is Status.LIVE
    assert store.resource_version == "10"
    shard.replace([w("keep", 1), w("edit", 11), w("re", 12, uid="other"), w("new", 13)], "20")
    assert [(c.type.value, c.name, c.resource_version, c.synthetic) for c in seen] == [
        ("MODIFIED", "edit", "11", True),
        ("DELETED", "re", "20", True),
        ("ADDED", "re", "12", True),
        ("ADDED", "new", "13", True),
        ("DELETED", "gone", "20", True),
    ]
    assert store.snapshot() == {("ns", "keep"): "1", ("ns", "edit"): "11", ("ns", "re"): "12", ("ns", "new"): "13"}
    assert store.stats().lists == {"initial": 1, "relist": 1}


def test_apply_normalises_types_and_splits_a_uid_change() -> None:
    store, _ = make()
    shard = store.shard(None)
    shard.replace([], "1")
    shard.apply("ADDED", w("a", 2))
    shard.apply("ADDED", w("a", 3))  # an ADDED for a known key is a modification
    shard.apply("MODIFIED", w("a", 4, uid="u2"))  # same name, new object
    shard.apply("DELETED", w("a", 5, uid="u2"))
    types = [(c.type.value, c.synthetic) for c in store.changes_since("1").changes]
    assert types == [
        ("ADDED", False),
        ("MODIFIED", False),
        ("DELETED", True),
        ("ADDED", False),
        ("DELETED", False),
    ]
    assert len(store) == 0
    assert store.resource_version == "5"


def test_change_log_is_bounded_and_says_when_it_is_incomplete() -> None:
    store, clock = make(log_size=3)
    shard = store.shard(None)
    shard.replace([], "10")
    for i in range(5):
        clock.now += 1
        shard.apply("ADDED", w(f"o{i}", 11 + i))
    window = store.changes_since("10")
    assert [c.name for c in window.changes] == ["o2", "o3", "o4"]
    assert not window.complete  # o0 and o1 were evicted
    assert store.changes_since("12").complete
    assert [c.name for c in store.changes_since("13").changes] == ["o3", "o4"]
    assert store.changes_since("5").complete is False  # before the cache started
    recent = store.changes_since(seconds=1.5)
    assert [c.name for c in recent.changes] == ["o3", "o4"]
    assert recent.complete
    assert not store.changes_since(seconds=10).complete
    assert store.changes_since().complete is False
    assert all(c.object is None for c in store.changes_since().changes)  # the log holds no objects


def test_changes_since_filters_by_namespace() -> None:
    store, _ = make()
    shard = store.shard(None)
    shard.replace([], "1")
    shard.apply("ADDED", w("a", 2, "x"))
    shard.apply("ADDED", w("b", 3, "y"))
    assert [c.name for c in store.changes_since("1", namespace="y").changes] == ["b"]
    with pytest.raises(errors.InvalidInput):
        store.changes_since(seconds=-1)


def test_list_filters_and_sorts() -> None:
    store, _ = make()
    store.shard(None).replace(
        [
            w("b", 1, "x", app="web", tier="front"),
            w("a", 2, "x", app="db"),
            w("c", 3, "y", app="web"),
            w("d", 4, "y"),
        ],
        "9",
    )

    def names(**kw: Any) -> list[str]:
        return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in store.list(**kw)]

    assert names() == ["x/a", "x/b", "y/c", "y/d"]
    assert names(namespace="y") == ["y/c", "y/d"]
    assert names(label_selector="app=web") == ["x/b", "y/c"]
    assert names(label_selector="app!=web") == ["x/a", "y/d"]  # absent labels match !=
    assert names(label_selector="app in (db, web),tier") == ["x/b"]
    assert names(label_selector="!app") == ["y/d"]
    assert names(field_selector="metadata.name=c") == ["y/c"]
    assert names(field_selector="metadata.namespace=x,metadata.name!=a") == ["x/b"]
    assert names(namespace="x", field_selector="metadata.namespace=y") == []
    assert store.get("c", "y") is not None
    assert store.get("c", "x") is None
    with pytest.raises(errors.InvalidInput, match="label_selector"):
        store.list(label_selector="app in web")
    with pytest.raises(UnsupportedFieldSelector):
        store.list(field_selector="spec.size=1")


def test_cluster_scoped_objects_use_the_empty_namespace() -> None:
    store, _ = make()
    obj = w("c1", 1)
    del obj["metadata"]["namespace"]
    store.shard(None).replace([obj], "2")
    assert store.get("c1") == obj
    assert store.snapshot() == {("", "c1"): "1"}


def test_status_and_staleness() -> None:
    store, clock = make()
    shard = store.shard(None)
    shard.mark_stale("cannot reach the server")
    assert store.status is Status.STARTING
    assert store.last_error == "cannot reach the server"
    shard.replace([w("a", 1)], "3")
    assert store.status is Status.LIVE
    assert store.stale_seconds == 0.0
    assert store.last_error is None
    clock.now += 5
    shard.mark_stale("the watch was disconnected")
    clock.now += 2
    assert store.status is Status.STALE
    assert store.stale_seconds == pytest.approx(7.0)  # since the data was last known current (the list)
    shard.mark_forbidden("Forbidden: may not watch")
    shard.replace([w("a", 1)], "4")
    assert store.status is Status.FORBIDDEN  # only a watch clears FORBIDDEN
    assert store.stale_seconds == 0.0  # just relisted: current as of now, though not live
    shard.mark_live()
    assert store.status is Status.LIVE
    shard.mark_not_served("gone")
    assert store.status is Status.NOT_SERVED
    assert len(store) == 0
    assert store.synced
    shard.mark_stale("network")
    assert store.status is Status.NOT_SERVED
    info = store.info().as_dict()
    assert info["status"] == "not_served"
    assert info["objects"] == 0
    assert info["last_error"] == "network"


def test_per_namespace_store_aggregates_its_shards() -> None:
    store, _ = make(["a", "b"])
    store.shard("a").replace([w("x", 5, "a")], "10")
    assert not store.synced
    assert store.status is Status.STARTING
    store.shard("b").replace([w("y", 7, "b")], "12")
    assert store.synced
    assert store.status is Status.LIVE
    assert store.resource_version == "10"  # complete up to the slowest shard
    store.shard("b").mark_forbidden("no")
    assert store.status is Status.FORBIDDEN
    assert store.covers("a")
    assert not store.covers("c")
    assert not store.covers(None)
    assert [o["metadata"]["name"] for o in store.list()] == ["x", "y"]
    assert store.list(namespace="c") == []
    with pytest.raises(ValueError, match="at least one"):
        Store("r", namespaces=[])


async def test_wait_synced() -> None:
    store, _ = make(["a", "b"])
    assert not await store.wait_synced(timeout=0.01)
    async with anyio.create_task_group() as tg:

        async def fill() -> None:
            await anyio.sleep(0.01)
            store.shard("a").replace([], "1")
            await anyio.sleep(0.01)
            store.shard("b").replace([], "1")

        tg.start_soon(fill)
        assert await store.wait_synced(timeout=5)


async def test_wait_for_resource_version() -> None:
    store, _ = make(["a", "b"])
    store.shard("a").replace([], "10")
    store.shard("b").replace([], "10")
    assert await store.wait_for_resource_version("9", timeout=0)
    assert not await store.wait_for_resource_version("11", timeout=0.01)
    assert not await store.wait_for_resource_version("11", namespace="zzz", timeout=1)
    results: dict[str, bool] = {}
    async with anyio.create_task_group() as tg:

        async def wait(key: str, rv: str, ns: str | None) -> None:
            results[key] = await store.wait_for_resource_version(rv, namespace=ns, timeout=5)

        tg.start_soon(wait, "a-only", "12", "a")
        tg.start_soon(wait, "all", "12", None)
        await anyio.sleep(0.01)
        store.shard("a").apply("ADDED", w("x", 12, "a"))
        await anyio.sleep(0.01)
        assert results == {"a-only": True}  # b is still behind
        store.shard("b").bookmark("15")
    assert results == {"a-only": True, "all": True}
    assert not store.shard("a")._waiters
    assert not store.shard("b")._waiters


async def test_subscribers_are_filtered_and_ended_on_close() -> None:
    store, _ = make()
    shard = store.shard(None)
    shard.replace([], "1")
    with store.subscribe() as everything, store.subscribe(namespace="ns", name="b") as only_b:
        shard.apply("ADDED", w("a", 2))
        shard.apply("ADDED", w("b", 3))
        store.close()
        assert [c.name async for c in everything] == ["a", "b"]
        received = [c async for c in only_b]
        assert [(c.type, c.name) for c in received] == [(ChangeType.ADDED, "b")]
        assert received[0].object is not None
        assert received[0].object["metadata"]["resourceVersion"] == "3"


async def test_slow_subscriber_is_cut_off_and_never_blocks_the_writer() -> None:
    store, _ = make()
    shard = store.shard(None)
    shard.replace([], "1")
    with store.subscribe(buffer=2) as slow, store.subscribe(buffer=100) as fast:
        for i in range(10):
            shard.apply("ADDED", w(f"o{i}", 2 + i))  # synchronous: returns without waiting for anyone
        assert slow.overflowed
        with anyio.fail_after(5):
            assert [c.name for c in [await slow.__anext__(), await slow.__anext__()]] == ["o0", "o1"]
            with pytest.raises(SubscriptionOverflow):
                await slow.__anext__()
        assert fast.receive_nowait() is not None
        assert not fast.overflowed
    assert store.resource_version == "11"


def test_a_failing_listener_does_not_break_the_store() -> None:
    store, _ = make()
    shard = store.shard(None)
    shard.replace([], "1")
    got: list[str] = []

    def bad(_: Any) -> None:
        raise RuntimeError("boom")

    remove = store.add_listener(bad)
    store.add_listener(lambda c: got.append(c.name))
    shard.apply("ADDED", w("a", 2))
    remove()
    shard.apply("ADDED", w("b", 3))
    assert got == ["a", "b"]
    assert len(store) == 2


class CountingRows:
    """A row form that says how each row was made: packed when stored, or built from the object at read."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.built = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountingRows) and other.tag == self.tag

    def pack(self, obj: Any) -> bytes:
        return f"{obj['metadata']['name']}@{obj['metadata']['resourceVersion']}".encode()

    def unpack(self, data: bytes) -> dict[str, Any]:
        return {"packed": data.decode()}

    def row(self, obj: Any) -> dict[str, Any]:
        self.built += 1
        return {"packed": f"{obj['metadata']['name']}@{obj['metadata']['resourceVersion']}"}


def test_rows_are_packed_when_written_and_unpacked_on_read() -> None:
    form = CountingRows("summary")
    store = Store("widgets.example.com/v1", rows=form)
    shard = store.shard(None)
    shard.replace([w("a", 1), w("b", 2, app="x")], "5")
    shard.apply("MODIFIED", w("a", 6))
    shard.apply("ADDED", w("c", 7))
    reader = CountingRows("summary")
    assert store.list(rows=reader) == [{"packed": "a@6"}, {"packed": "b@2"}, {"packed": "c@7"}]
    assert store.list(rows=reader, label_selector="app=x", limit=1) == [{"packed": "b@2"}]
    assert reader.built == 0  # every row came packed from the write
    other = CountingRows("columns changed")
    assert store.list(rows=other) == [{"packed": "a@6"}, {"packed": "b@2"}, {"packed": "c@7"}]
    assert other.built == 3  # another form: rows built from the objects, never the stored form's
    shard.apply("DELETED", w("b", 8))
    assert store.list(rows=reader) == [{"packed": "a@6"}, {"packed": "c@7"}]
    assert store.list()[0]["metadata"]["name"] == "a"  # without rows: the objects


def test_a_store_without_a_row_form_builds_rows_from_objects() -> None:
    store, _ = make()
    store.shard(None).replace([w("a", 1)], "5")
    reader = CountingRows("summary")
    assert store.list(rows=reader) == [{"packed": "a@1"}]
    assert reader.built == 1
