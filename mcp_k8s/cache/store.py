"""The per-resource watch-cache store: objects by (namespace, name), resourceVersion, status, change log, fan-out.

No I/O lives here (an import-linter contract): reflectors write through a `Shard`, tools read through the `Store`.
A store has one shard per reflector: a single cluster-wide shard, or one per namespace when RBAC or the allowed
namespaces restrict us (then `synced` means every shard has synced, and `status` is the worst shard's).

Semantics borrowed from client-go, because the tools' answers depend on them:
- `synced` is sticky: true once every shard was filled by a full LIST (client-go `HasSynced`), never reverted.
- `replace` is atomic: the new dict is built and swapped with no `await` in between, so a reader sees the old
  state or the new one. Keys missing from a relist become synthetic DELETED changes ("final state unknown"), and
  a uid change under the same key is a delete followed by an add.
- Objects are stored without `metadata.managedFields` and the last-applied annotation (nothing a model needs),
  each as compact JSON bytes plus its labels (for selectors): ~1.3 KiB for a 1.6 KB object instead of ~5 KiB of
  dicts and strings, and nothing for the cyclic GC to walk. Reads decode (orjson, ~µs per object) only what they
  return; the last HOT_OBJECTS decoded stay decoded, so a page or an object read again costs no decode. Keys are
  kept sorted per shard, so a page of a list costs its own size, not the store's.
- A store given a `RowForm` (the list tool's summary rows; the cache cannot import how answers are shaped) also
  keeps each object's row, packed when the object is written: a first read of a page of rows unpacks ~100 bytes
  per row instead of decoding the object. A reader asking for another form (the type's columns changed) gets
  rows built from the objects.
- A watch event older than the stored object (a get's probe already repaired it) is not applied; one with the
  stored resourceVersion changes nothing and is not published twice.
- resourceVersions are compared as integers when both are digits (kube-apiserver RVs are etcd revisions), else
  only for equality (the API calls them opaque).

Freshness (`Store.freshness`) is what an answer may claim, from three times the reflector and the confirmer
record: when a shard's watch last heard from the server (watch opened, event or bookmark), when a probe last got
an answer, when one last failed. `quiet` is how long silence is taken as "nothing happened" (3 s); after that a
read must confirm with a probe (cache/freshness.py) before it may say confirmed:

    watch   silence (now − last heard or probe ok)   a probe failed, nothing heard since   answer / next step
    live    ≤ quiet                                  no                                   confirmed
    live    > quiet                                  no                                   probe due → ok: confirmed;
                                                                                          failed: unconfirmed, restart
    live    any                                      yes, < retry ago                     unconfirmed (no new probe)
    live    any                                      yes, ≥ retry ago                     probe due again
    down    any (stale, forbidden, starting)         any                                  unconfirmed; a get may probe
                                                                                          (the server's object is
                                                                                          authoritative), a list not

"Unconfirmed since" is the last moment freshness was confirmed; `stale_seconds` is the time since then (0 while
confirmed).

Subscribers never slow the reflector: each has a bounded buffer, and one that falls behind is cut off with
`SubscriptionOverflow` (it must re-read the store) instead of blocking or silently missing events.
"""

from __future__ import annotations

import bisect
import builtins
import enum
import heapq
import math
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mcp_k8s import errors
from mcp_k8s.cache.selectors import parse_field_selector, parse_label_selector
from mcp_k8s.logging import get_logger
from mcp_k8s.objects import LAST_APPLIED, Key, object_key
from mcp_k8s.objects import strip_noise as strip

__all__ = [
    "LAST_APPLIED",
    "Change",
    "ChangeType",
    "ChangeWindow",
    "Entry",
    "Freshness",
    "FreshnessPolicy",
    "Key",
    "RowForm",
    "Shard",
    "ShardStats",
    "Status",
    "Store",
    "StoreInfo",
    "Subscription",
    "SubscriptionOverflow",
    "decode",
    "encode",
    "object_key",
    "rv_at_least",
    "rv_newer",
    "strip",
]

log = get_logger(__name__)

Obj = dict[str, Any]
Listener = Callable[["Change"], None]
Labels = Mapping[str, str]
# An object as stored: compact JSON, its labels for selectors, and its row packed in the store's RowForm (if any).
Entry = tuple[bytes, Labels | None, bytes | None]

DEFAULT_CHANGE_LOG_SIZE = 10_000
HOT_OBJECTS = 128  # decoded objects kept per store for repeated reads (a page of 100 read again, a polled get)
DEFAULT_SUBSCRIBER_BUFFER = 1_000


class Status(enum.StrEnum):
    """How current a store is. Ordered worst-first when shards are combined."""

    NOT_SERVED = "not_served"  # the API no longer serves the type (CRD deleted); the store is empty
    FORBIDDEN = "forbidden"  # RBAC denies list or watch; data (if any) is kept but stale
    STARTING = "starting"  # no full LIST yet
    STALE = "stale"  # synced, but the watch is down and the reflector is retrying
    LIVE = "live"  # a watch is open; data is current within the watch's latency


_STATUS_RANK = {s: i for i, s in enumerate(Status)}


class ChangeType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Change:
    """One change applied to the store. `synthetic` marks changes inferred from a relist, not seen as events.

    `object` is the new state (the last known state for DELETED); it is delivered to subscribers and listeners
    but not kept in the change log, so the log's memory does not grow with object size.
    """

    type: ChangeType
    namespace: str
    name: str
    resource_version: str
    uid: str
    monotonic: float
    wall: float
    synthetic: bool = False
    object: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def without_object(self) -> Change:
        return Change(
            self.type,
            self.namespace,
            self.name,
            self.resource_version,
            self.uid,
            self.monotonic,
            self.wall,
            self.synthetic,
        )


@dataclass(frozen=True, slots=True)
class ChangeWindow:
    """What `changes_since` found. `complete` is False when the log cannot vouch for the whole window (it started
    later, or older entries were evicted), so a caller can say "at least these changes" instead of "exactly"."""

    changes: list[Change]
    complete: bool
    resource_version: str


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """The header a tool puts on an answer from the cache."""

    resource: str
    status: Status
    synced: bool
    resource_version: str
    objects: int
    stale_seconds: float | None
    last_error: str | None
    namespaces: tuple[str, ...] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.resource,
            "status": self.status.value,
            "synced": self.synced,
            "resourceVersion": self.resource_version,
            "objects": self.objects,
            "stale_seconds": None if self.stale_seconds is None else round(self.stale_seconds, 3),
            "last_error": self.last_error,
            "namespaces": list(self.namespaces) if self.namespaces is not None else None,
        }


@dataclass(frozen=True, slots=True)
class FreshnessPolicy:
    """How long silence counts as "nothing happened", and how long a failed probe stands before another."""

    quiet: float = 3.0
    retry: float = 5.0


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a cached answer may claim about how current it is (see the state table in the module docstring)."""

    confirmed: bool
    live: bool  # every shard the read covers has an open watch
    last_heard_seconds: float | None  # since the watch last heard from the server; None: never
    confirmed_seconds: float | None  # since freshness was last confirmed (heard or probe answered); None: never
    unconfirmed_since_wall: float | None  # wall time freshness was last confirmed, when it no longer is
    probe_due: bool  # a read should probe before answering
    lagged: bool = False  # a get's probe found a newer object than the cache held (returned, and repaired)

    @property
    def stale_seconds(self) -> float | None:
        return 0.0 if self.confirmed else self.confirmed_seconds

    def as_fields(self) -> dict[str, Any]:
        """The freshness part of a cached answer's header: `stale_seconds`, and `cache` {freshness,
        last_heard_seconds, unconfirmed_since, lagged} without the parts that do not apply."""
        since = self.unconfirmed_since_wall
        detail = {
            "freshness": "confirmed" if self.confirmed else "unconfirmed",
            "last_heard_seconds": None if self.last_heard_seconds is None else round(self.last_heard_seconds, 3),
            "unconfirmed_since": None
            if self.confirmed or since is None
            else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since)) + f".{int(since % 1 * 1000):03d}Z",
            "lagged": True if self.lagged else None,
        }
        return {
            "stale_seconds": None if self.stale_seconds is None else round(self.stale_seconds, 3),
            "cache": {k: v for k, v in detail.items() if v is not None},
        }


@dataclass
class ShardStats:
    """Counters a reflector keeps (exported by the daemon, asserted by the fault tests)."""

    lists: Counter[str] = field(default_factory=Counter)  # completed LISTs by reason
    list_failures: Counter[str] = field(default_factory=Counter)
    watch_restarts: Counter[str] = field(default_factory=Counter)  # by why the last watch (or list) ended
    events: Counter[str] = field(default_factory=Counter)  # by event type, including BOOKMARK
    watches_open: int = 0  # WATCH requests open now: one per shard, however many clients read the cache
    last_list_seconds: float | None = None
    last_list_objects: int = 0
    last_list_pages: int = 0


def rv_newer(a: str, b: str) -> bool:
    """True only when `a` is known to be strictly after `b` (both kube-apiserver integer RVs)."""
    return a.isdigit() and b.isdigit() and int(a) > int(b)


def _complete_up_to(shards: Iterable[Shard]) -> str:
    """The smallest resourceVersion of these shards: each of them has applied everything up to it."""
    rvs = [s.resource_version for s in shards]
    if len(rvs) == 1:
        return rvs[0]
    if all(rv.isdigit() for rv in rvs):
        return min(rvs, key=int)
    return next((rv for rv in rvs if not rv), rvs[0])


def rv_at_least(have: str, want: str) -> bool:
    """True when resourceVersion `have` is at or after `want` (integers for kube-apiserver, else equality)."""
    if have.isdigit() and want.isdigit():
        return int(have) >= int(want)
    return have == want


class RowForm(Protocol):
    """How a listing row is built from an object, and packed beside it in the store. Equal forms make equal rows."""

    def pack(self, obj: Obj) -> bytes: ...
    def unpack(self, data: bytes) -> dict[str, Any]: ...
    def row(self, obj: Obj) -> dict[str, Any]: ...


_LABEL_SETS_MAX = 10_000  # distinct label sets shared between objects; the table restarts when full
_label_sets: dict[tuple[tuple[str, str], ...], Labels] = {}


def _shared_labels(labels: Any) -> Labels | None:
    """One dict per distinct label set, shared by every object that has it (most objects repeat a few sets)."""
    if not labels or not isinstance(labels, dict):
        return None
    items = tuple(labels.items())
    found = _label_sets.get(items)
    if found is None:
        if len(_label_sets) >= _LABEL_SETS_MAX:
            _label_sets.clear()
        found = _label_sets[items] = {sys.intern(str(k)): sys.intern(str(v)) for k, v in items}
    return found


def encode(obj: Obj, rows: RowForm | None = None) -> tuple[Key, Entry]:
    """Strip an object and turn it into its stored form (key, (compact JSON, shared labels, packed row))."""
    strip(obj)
    meta = obj["metadata"]
    # orjson over-allocates its output buffer; the copy is exact-size (3× less memory than keeping the original).
    data = bytes(memoryview(orjson.dumps(obj)))
    row = bytes(memoryview(rows.pack(obj))) if rows is not None else None
    return (sys.intern(meta.get("namespace") or ""), meta["name"]), (data, _shared_labels(meta.get("labels")), row)


def decode(entry: Entry) -> Obj:
    """A fresh dict of a stored object (the caller owns it)."""
    obj: Obj = orjson.loads(entry[0])
    return obj


def _rv(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("resourceVersion") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("uid") or "")


class SubscriptionOverflow(Exception):
    """The subscriber fell more than its buffer behind and was cut off; re-read the store and subscribe again."""


class Subscription:
    """A bounded stream of changes for one store (optionally one namespace and/or name). Use as a context manager
    and iterate with `async for`; iteration ends when the store closes, or raises `SubscriptionOverflow`."""

    def __init__(self, store: Store, namespace: str | None, name: str | None, buffer: int) -> None:
        self.namespace = namespace
        self.name = name
        self.overflowed = False
        self._store = store
        send, receive = anyio.create_memory_object_stream[Change](max_buffer_size=buffer)
        self._send: MemoryObjectSendStream[Change] = send
        self._receive: MemoryObjectReceiveStream[Change] = receive

    def wants(self, change: Change) -> bool:
        return (self.namespace is None or change.namespace == self.namespace) and (
            self.name is None or change.name == self.name
        )

    def offer(self, change: Change) -> None:
        """Called by the store; never blocks."""
        try:
            self._send.send_nowait(change)
        except anyio.WouldBlock:
            self.overflowed = True
            self._send.close()
            self._store._unsubscribe(self)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._store._unsubscribe(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self.overflowed:
                raise SubscriptionOverflow(
                    f"The subscription to {self._store.resource} fell behind and was cut off; re-read the cache."
                ) from None
            raise StopAsyncIteration from None

    def receive_nowait(self) -> Change | None:
        """The next buffered change, or None (for consumers that batch or debounce)."""
        try:
            return self._receive.receive_nowait()
        except anyio.WouldBlock:
            return None
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self.overflowed:
                raise SubscriptionOverflow(
                    f"The subscription to {self._store.resource} fell behind and was cut off; re-read the cache."
                ) from None
            raise

    def close(self) -> None:
        self._store._unsubscribe(self)
        self._send.close()
        self._receive.close()

    def _end(self) -> None:
        """The store is closing: let the consumer drain what is buffered, then stop."""
        self._send.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Shard:
    """The part of a store one reflector owns: a cluster-wide view, or one namespace. Only reflectors write here
    (and the confirmer, through `repair`)."""

    def __init__(self, store: Store, namespace: str | None) -> None:
        self.namespace = namespace
        self.objects: dict[Key, Entry] = {}
        self.keys: builtins.list[Key] = []  # self.objects' keys, sorted
        self.resource_version = ""
        self.synced = False
        self.status = Status.STARTING
        self.last_error: str | None = None
        self.current_at: float | None = None  # monotonic time the watch last heard from the server
        self.stats = ShardStats()
        self.log_start_rv: str | None = None  # the change log covers this shard from here on
        self.log_start_time: float | None = None
        # Set by the reflector: drop the watch (or cut a backoff short) and re-watch now; relist=True: list first.
        self.on_restart: Callable[[str, bool], None] | None = None
        self._store = store
        self._waiters: list[tuple[str, anyio.Event]] = []

    # --- writes (the reflector) -------------------------------------------------------------------------------

    def encode(self, obj: Obj) -> tuple[Key, Entry]:
        """An object in this store's stored form (its row packed in the store's form)."""
        return encode(obj, self._store.rows)

    def replace(self, items: Iterable[Obj], resource_version: str, *, reason: str = "relist") -> int:
        """Swap in the result of a full LIST (objects as listed); see `replace_entries`."""
        return self.replace_entries(dict(self.encode(obj) for obj in items), resource_version, reason=reason)

    def replace_entries(self, new: dict[Key, Entry], resource_version: str, *, reason: str = "relist") -> int:
        """Swap in the result of a full LIST (already `encode`d, page by page, so the decoded pages never pile up);
        emit synthetic changes for what differs from the old state.

        Synchronous from diff to swap, so no reader can see half of it. The first fill is not a change (the log
        starts there); later fills diff against what the watch had built.
        """
        store = self._store
        now, wall = store._clock(), store._wall()
        changes: list[Change] = []
        if self.log_start_rv is not None:
            old = self.objects
            for key, entry in new.items():
                prev = old.get(key)
                if prev is None:
                    changes.append(store._change(ChangeType.ADDED, key, decode(entry), now, wall, synthetic=True))
                elif prev[0] != entry[0]:
                    before, after = decode(prev), decode(entry)
                    if _uid(before) != _uid(after):
                        changes.append(
                            store._change(
                                ChangeType.DELETED, key, before, now, wall, synthetic=True, rv=resource_version
                            )
                        )
                        changes.append(store._change(ChangeType.ADDED, key, after, now, wall, synthetic=True))
                    elif _rv(before) != _rv(after):
                        changes.append(store._change(ChangeType.MODIFIED, key, after, now, wall, synthetic=True))
            for key, prev in old.items():
                if key not in new:
                    changes.append(
                        store._change(
                            ChangeType.DELETED, key, decode(prev), now, wall, synthetic=True, rv=resource_version
                        )
                    )
        else:
            self.log_start_rv, self.log_start_time = resource_version, now
        self.objects, self.keys = new, sorted(new)  # the swap
        self.stats.lists[reason] += 1
        self.stats.last_list_objects = len(new)
        first_sync = not self.synced
        self.synced = True
        if self.status is not Status.FORBIDDEN:  # FORBIDDEN clears only when a watch is allowed again
            self._set_status(Status.LIVE, None)
        self._advance(resource_version, now)
        store._publish(changes)
        if first_sync:
            store._shard_synced()
        return len(new)

    def apply(self, event_type: str, obj: Obj) -> None:
        """Apply one ADDED/MODIFIED/DELETED watch event (the caller has validated its shape)."""
        self.stats.events[event_type] += 1
        rv = _rv(obj)
        self._write(event_type, obj, synthetic=False)
        self._advance(rv, self._store._clock())

    def repair(self, obj: Obj | None, key: Key) -> None:
        """What a get's probe found newer than the cache (None: deleted). Not a watch event: the shard's
        resourceVersion stays where the watch is, and the watch's own event for it later changes nothing."""
        if obj is None:
            prev = self.objects.get(key)
            if prev is not None:
                self._write("DELETED", decode(prev), synthetic=True)
        else:
            self._write("MODIFIED", obj, synthetic=True)

    def _write(self, event_type: str, obj: Obj, *, synthetic: bool) -> None:
        store = self._store
        now, wall = store._clock(), store._wall()
        key, entry = self.encode(obj)
        rv = _rv(obj)
        prev = self.objects.get(key)
        before = decode(prev) if prev is not None else None
        if (
            before is not None
            and _uid(before) == _uid(obj)
            and (rv_newer(_rv(before), rv) or (event_type != "DELETED" and _rv(before) == rv))
        ):
            return  # older than what a probe stored, or already applied: nothing changes
        if event_type == "DELETED":
            if before is None or _uid(before) != _uid(obj):
                return  # gone already, or a newer incarnation (stored by a probe) is not this one
            del self.objects[key]
            self._unindex(key)
            changes = [store._change(ChangeType.DELETED, key, obj, now, wall, synthetic=synthetic)]
        else:
            self.objects[key] = entry
            if before is None:
                bisect.insort(self.keys, key)
                changes = [store._change(ChangeType.ADDED, key, obj, now, wall, synthetic=synthetic)]
            elif _uid(before) != _uid(obj):
                changes = [
                    store._change(ChangeType.DELETED, key, before, now, wall, synthetic=True, rv=rv),
                    store._change(ChangeType.ADDED, key, obj, now, wall, synthetic=synthetic),
                ]
            else:
                changes = [store._change(ChangeType.MODIFIED, key, obj, now, wall, synthetic=synthetic)]
        store._publish(changes)

    def _unindex(self, key: Key) -> None:
        i = bisect.bisect_left(self.keys, key)
        if i < len(self.keys) and self.keys[i] == key:
            del self.keys[i]

    def bookmark(self, resource_version: str) -> None:
        """A BOOKMARK moves the resourceVersion forward without a change."""
        self.stats.events["BOOKMARK"] += 1
        self._advance(resource_version, self._store._clock())

    def restart_watch(self, why: str, *, relist: bool = False) -> None:
        """Ask the reflector to drop its watch and open a new one now (a probe found the server silent), or to
        relist first (the server answered the probe with an error for this type)."""
        if self.status is Status.LIVE:
            self._set_status(Status.STALE, why)
        if self.on_restart is not None:
            self.on_restart(why, relist)

    def mark_live(self) -> None:
        """A watch stream is open (HTTP 200). Not yet "heard": a server can open a watch it then cannot feed (a
        failing conversion webhook holds every event back), so only events, bookmarks and lists count."""
        self._set_status(Status.LIVE, None)

    def mark_stale(self, error: str) -> None:
        """The watch or list failed and the reflector is retrying; keep serving the data, with its age.

        Before the first sync this stays STARTING (with the reason); an emptied NOT_SERVED shard stays so."""
        if self.status is Status.NOT_SERVED:
            self.last_error = error
        else:
            self._set_status(Status.STALE if self.synced else Status.STARTING, error)

    def mark_forbidden(self, error: str) -> None:
        self._set_status(Status.FORBIDDEN, error)

    def mark_not_served(self, error: str) -> None:
        """The type is gone (404): empty the shard with synthetic deletes, so subscribers and waiters see it."""
        store = self._store
        now, wall = store._clock(), store._wall()
        old, self.objects, self.keys = self.objects, {}, []
        changes = [
            store._change(ChangeType.DELETED, key, decode(prev), now, wall, synthetic=True, rv=self.resource_version)
            for key, prev in old.items()
        ]
        self._set_status(Status.NOT_SERVED, error)
        store._publish(changes)

    # --- internals --------------------------------------------------------------------------------------------

    def _set_status(self, status: Status, error: str | None) -> None:
        if status is not self.status:
            log.info(
                "watch cache status",
                resource=self._store.resource,
                namespace=self.namespace,
                status=status.value,
                previous=self.status.value,
                error=error,
            )
        changed = status is not self.status
        self.status = status
        self.last_error = error
        if changed:
            self._store._status_changed()

    def _advance(self, resource_version: str, now: float) -> None:
        if resource_version:
            self.resource_version = resource_version
        self.current_at = now
        if self._waiters:
            keep = []
            for want, event in self._waiters:
                if rv_at_least(self.resource_version, want):
                    event.set()
                else:
                    keep.append((want, event))
            self._waiters = keep

    async def _wait_rv(self, want: str) -> None:
        if rv_at_least(self.resource_version, want):
            return
        event = anyio.Event()
        entry = (want, event)
        self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            with suppress(ValueError):
                self._waiters.remove(entry)


class Store:
    """All cached objects of one resource type, read by the tools. See the module docstring for the contract."""

    def __init__(
        self,
        resource: str,
        *,
        namespaces: Sequence[str] | None = None,
        change_log_size: int = DEFAULT_CHANGE_LOG_SIZE,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        freshness_policy: FreshnessPolicy | None = None,
        rows: RowForm | None = None,
    ) -> None:
        self.resource = resource
        self.rows = rows  # the form of the row packed beside each object, if any
        self.freshness_policy = freshness_policy or FreshnessPolicy()
        self.probes: Counter[str] = Counter()  # probe outcomes: ok / failed / lagged
        self.namespaces: tuple[str, ...] | None = tuple(dict.fromkeys(namespaces)) if namespaces is not None else None
        self._clock = clock
        self._wall = wall_clock
        if self.namespaces is None:
            self._shards: dict[str | None, Shard] = {None: Shard(self, None)}
        else:
            if not self.namespaces:
                raise ValueError("a namespace-scoped store needs at least one namespace")
            self._shards = {ns: Shard(self, ns) for ns in self.namespaces}
        self._log: deque[Change] = deque(maxlen=max(1, change_log_size))
        self._evicted_rv: str | None = None
        self._evicted_time = -math.inf
        self._listeners: list[Listener] = []
        self._subscriptions: list[Subscription] = []
        self._synced_event: anyio.Event | None = None
        self._status_event: anyio.Event | None = None
        self._closed = False
        self._probe_ok_at: float | None = None
        self._probe_failed_at: float | None = None
        self._hot: OrderedDict[Key, tuple[bytes, Obj]] = OrderedDict()  # recently read objects, decoded

    # --- shards -----------------------------------------------------------------------------------------------

    @property
    def shards(self) -> list[Shard]:
        return list(self._shards.values())

    def shard(self, namespace: str | None) -> Shard:
        """The shard a reflector for `namespace` writes to (None: the cluster-wide shard)."""
        return self._shards[namespace]

    def covers(self, namespace: str | None) -> bool:
        """Whether this store holds `namespace` (None: whether it holds every namespace)."""
        if self.namespaces is None:
            return True
        return namespace is not None and namespace in self._shards

    def _shards_for(self, namespace: str | None) -> list[Shard]:
        if self.namespaces is None or namespace is None:
            return list(self._shards.values())
        found = self._shards.get(namespace)
        return [found] if found is not None else []

    # --- state ------------------------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Every shard has been filled by a full LIST at least once (sticky)."""
        return all(s.synced for s in self._shards.values())

    @property
    def status(self) -> Status:
        return min((s.status for s in self._shards.values()), key=_STATUS_RANK.__getitem__)

    @property
    def resource_version(self) -> str:
        """The RV up to which every shard is complete (the smallest shard RV)."""
        return _complete_up_to(list(self._shards.values()))

    @property
    def last_error(self) -> str | None:
        worst = min(self._shards.values(), key=lambda s: _STATUS_RANK[s.status])
        return worst.last_error or next((s.last_error for s in self._shards.values() if s.last_error), None)

    @property
    def stale_seconds(self) -> float | None:
        """0 while every watch is open; else seconds since the data was last known current; None before the first
        sync. (How fresh an answer may claim to be is `freshness`; this is how long the watch has been down.)"""
        if not self.synced:
            return None
        if self.status is Status.LIVE:
            return 0.0
        oldest = min((s.current_at for s in self._shards.values() if s.current_at is not None), default=None)
        return None if oldest is None else max(0.0, self._clock() - oldest)

    def info(self) -> StoreInfo:
        return StoreInfo(
            resource=self.resource,
            status=self.status,
            synced=self.synced,
            resource_version=self.resource_version,
            objects=len(self),
            stale_seconds=self.stale_seconds,
            last_error=self.last_error,
            namespaces=self.namespaces,
        )

    def freshness(self, namespace: str | None = None, *, for_get: bool = False) -> Freshness:
        """What an answer covering `namespace` (None: all) may claim now; the state table is in the module doc."""
        now = self._clock()
        shards = self._shards_for(namespace) or self.shards
        heard_times = [s.current_at for s in shards]
        heard = None if any(t is None for t in heard_times) else min(t for t in heard_times if t is not None)
        live = all(s.status is Status.LIVE for s in shards)
        evidence = heard
        if live and self._probe_ok_at is not None:
            evidence = self._probe_ok_at if evidence is None else max(evidence, self._probe_ok_at)
        failed = self._probe_failed_at
        failing = failed is not None and (heard is None or heard <= failed)
        quiet, retry = self.freshness_policy.quiet, self.freshness_policy.retry
        confirmed = live and not failing and evidence is not None and now - evidence <= quiet
        retry_ok = not failing or (failed is not None and now - failed >= retry)
        probe_due = not confirmed and retry_ok and (live or for_get) and self.synced
        age = None if evidence is None else max(0.0, now - evidence)
        return Freshness(
            confirmed=confirmed,
            live=live,
            last_heard_seconds=None if heard is None else max(0.0, now - heard),
            confirmed_seconds=age,
            unconfirmed_since_wall=None if age is None or confirmed else self._wall() - age,
            probe_due=probe_due,
        )

    def probe_succeeded(self) -> None:
        """A probe got an answer within its deadline: the server is there."""
        self.probes["ok"] += 1
        self._probe_ok_at = self._clock()
        self._probe_failed_at = None
        for shard in self._shards.values():
            if shard.status is Status.STALE and shard.on_restart is not None:
                shard.on_restart("The API server answers again", False)  # cut a backoff short: re-watch now

    def probe_failed(self, why: str, *, relist: bool = False) -> None:
        """A probe got no answer in time (or a server error): answers say unconfirmed, and every shard's watch is
        restarted now (a silent stream must not wait out the client's inactivity timeout). `relist`: the server
        answered with an error for this type, so the reflector lists (and reports that list's error) instead."""
        self.probes["failed"] += 1
        self._probe_failed_at = self._clock()
        for shard in self._shards.values():
            shard.restart_watch(why, relist=relist)

    def repair(self, key: Key, obj: Obj | None) -> None:
        """Store what a get's probe found (None: the object is gone) in the shard that holds `key`."""
        self.probes["lagged"] += 1
        shards = self._shards_for(key[0] or None) if self.namespaces is not None else self.shards
        for shard in shards:
            shard.repair(obj, key)

    def stats(self) -> ShardStats:
        """Counters summed over shards."""
        total = ShardStats()
        for s in self._shards.values():
            total.lists.update(s.stats.lists)
            total.list_failures.update(s.stats.list_failures)
            total.watch_restarts.update(s.stats.watch_restarts)
            total.events.update(s.stats.events)
            total.watches_open += s.stats.watches_open
            total.last_list_objects += s.stats.last_list_objects
            total.last_list_pages += s.stats.last_list_pages
        return total

    # --- reads ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(len(s.objects) for s in self._shards.values())

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        """One object, or None: a shallow copy (top level yours, nested values shared: do not mutate those).
        `namespace` is ignored for cluster-scoped objects' key ""."""
        key = (namespace or "", name)
        for shard in self._shards_for(namespace):
            found = shard.objects.get(key)
            if found is not None:
                return dict(self._decoded(key, found))
        return None

    def _decoded(self, key: Key, entry: Entry) -> Obj:
        """The decoded object, from the few most recently read (a page read again, a polled get) or decoded now.
        Bounded (HOT_OBJECTS), so memory stays per store, not per object; an entry replaced by a newer version is
        a different bytes object, so a stale decode is never returned."""
        hot = self._hot
        found = hot.get(key)
        if found is not None and found[0] is entry[0]:
            hot.move_to_end(key)
            return found[1]
        obj = decode(entry)
        hot[key] = (entry[0], obj)
        if len(hot) > HOT_OBJECTS:
            hot.popitem(last=False)
        return obj

    def __contains__(self, key: object) -> bool:
        """`(namespace, name) in store`, without decoding anything."""
        return any(key in s.objects for s in self._shards.values())

    def list(
        self,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        after: Key | None = None,
        limit: int | None = None,
        namespaces: Collection[str] | None = None,
        rows: RowForm | None = None,
    ) -> builtins.list[Obj]:
        """Objects sorted by (namespace, name), filtered like the API would; bad selectors raise InvalidInput.

        `after` resumes after a key and `limit` stops early, so a page costs its own size (the keys are sorted);
        `namespaces` keeps only those namespaces. Only the returned objects are decoded, and they are shared with
        later reads of the same version: treat them as read-only. With `rows`, each object's row in that form
        instead (a fresh dict): unpacked when it is the store's form, else built from the object.
        """
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        pinned_ns = fields.value_of("metadata.namespace")
        if namespace is not None and pinned_ns is not None and pinned_ns != namespace:
            return []
        namespace = namespace if namespace is not None else pinned_ns
        pinned_name = fields.value_of("metadata.name")
        out: builtins.list[Obj] = []
        if limit is not None and limit <= 0:
            return out
        shards = self._shards_for(namespace)
        packed = rows is not None and rows == self.rows
        if pinned_name is not None and namespace is not None:
            key = (namespace, pinned_name)
            found = [s.objects[key] for s in shards if key in s.objects]
            candidates: Iterable[tuple[Key, Entry]] = (
                [(key, found[0])] if found and (after is None or key > after) else []
            )
        else:
            iterators = [_walk(s, namespace, after) for s in shards]
            candidates = iterators[0] if len(iterators) == 1 else heapq.merge(*iterators, key=_first)
        for key, entry in candidates:
            if namespace is not None and key[0] != namespace:
                break  # keys are sorted: past the namespace
            if namespaces is not None and key[0] not in namespaces:
                continue
            if labels.requirements and not labels.matches(entry[1]):
                continue
            if fields.terms and not fields.matches_key(*key):
                continue
            if rows is None:
                out.append(self._decoded(key, entry))
            elif packed and entry[2] is not None:
                out.append(rows.unpack(entry[2]))
            else:
                out.append(rows.row(self._decoded(key, entry)))
            if limit is not None and len(out) >= limit:
                break
        return out

    def snapshot(self) -> dict[Key, str]:
        """{(namespace, name): resourceVersion} for every object: what the consistency checks compare."""
        return {key: _rv(decode(entry)) for s in self._shards.values() for key, entry in s.objects.items()}

    # --- change log -------------------------------------------------------------------------------------------

    def changes_since(
        self,
        resource_version: str | None = None,
        seconds: float | None = None,
        namespace: str | None = None,
    ) -> ChangeWindow:
        """Changes after `resource_version` and/or within the last `seconds`, oldest first.

        With neither, everything the log holds. `complete` tells whether the log covers the whole window.
        """
        if seconds is not None and seconds < 0:
            raise errors.InvalidInput("seconds must be zero or positive.")
        if resource_version is not None and not resource_version.strip():
            resource_version = None
        shards = self._shards_for(namespace)
        started = bool(shards) and all(s.log_start_rv is not None for s in shards)
        complete = started
        entries: list[Change] = list(self._log)
        if resource_version is not None:
            if resource_version.isdigit():
                want = int(resource_version)
                entries = [c for c in entries if not c.resource_version.isdigit() or int(c.resource_version) > want]
                for s in shards:
                    start = s.log_start_rv or ""
                    if start.isdigit() and int(start) > want:
                        complete = False
                if self._evicted_rv is not None and self._evicted_rv.isdigit() and int(self._evicted_rv) > want:
                    complete = False
            else:
                positions = [i for i, c in enumerate(entries) if c.resource_version == resource_version]
                if positions:
                    entries = entries[positions[-1] + 1 :]
                else:
                    complete = False
        if seconds is not None:
            cutoff = self._clock() - seconds
            entries = [c for c in entries if c.monotonic >= cutoff]
            if self._evicted_time >= cutoff or any(
                s.log_start_time is None or s.log_start_time > cutoff for s in shards
            ):
                complete = False
        if resource_version is None and seconds is None and self._evicted_rv is not None:
            complete = False
        if namespace is not None:
            entries = [c for c in entries if c.namespace == namespace]
        # The RV the window is complete up to, from the shards read: a quiet namespace's shard, behind the others
        # until its next bookmark, must not send the next `since` back over changes already shown.
        return ChangeWindow(
            changes=entries, complete=complete, resource_version=_complete_up_to(shards or self._shards.values())
        )

    # --- waiting ----------------------------------------------------------------------------------------------

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until every shard has synced; False if `timeout` passes first."""
        if self.synced:
            return True
        if self._synced_event is None:
            self._synced_event = anyio.Event()
        event = self._synced_event
        with anyio.move_on_after(timeout):
            await event.wait()
        return self.synced

    async def wait_for_resource_version(
        self, resource_version: str, *, namespace: str | None = None, timeout: float | None = None
    ) -> bool:
        """Wait until the store has applied `resource_version` (or later): read-after-write for the tools.

        With `namespace` on a per-namespace store, only that namespace's shard must catch up (others may be idle).
        False on timeout, or when the store does not cover `namespace`.
        """
        shards = self._shards_for(namespace)
        if not shards:
            return False
        with anyio.move_on_after(timeout):
            for shard in shards:
                await shard._wait_rv(resource_version)
            return True
        return False

    async def wait_status(self, *statuses: Status, timeout: float | None = None) -> bool:
        """Wait until the (aggregate) status is one of `statuses`; False if `timeout` passes first."""
        with anyio.move_on_after(timeout):
            while self.status not in statuses:
                if self._status_event is None:
                    self._status_event = anyio.Event()
                await self._status_event.wait()
        return self.status in statuses

    # --- fan-out ----------------------------------------------------------------------------------------------

    def subscribe(
        self, *, namespace: str | None = None, name: str | None = None, buffer: int = DEFAULT_SUBSCRIBER_BUFFER
    ) -> Subscription:
        """A bounded stream of future changes (use `with store.subscribe(...) as sub: async for c in sub`)."""
        sub = Subscription(self, namespace, name, buffer)
        if self._closed:
            sub._end()
        else:
            self._subscriptions.append(sub)
        return sub

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(change)` synchronously as each change is applied; it must be quick and must not raise.
        Returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            with suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def close(self) -> None:
        """End every subscription (after they drain) and wake sync waiters; the manager calls this at shutdown."""
        self._closed = True
        for sub in list(self._subscriptions):
            sub._end()
        self._subscriptions.clear()
        if self._synced_event is not None:
            self._synced_event.set()

    def _unsubscribe(self, sub: Subscription) -> None:
        with suppress(ValueError):
            self._subscriptions.remove(sub)

    # --- internals --------------------------------------------------------------------------------------------

    def _change(
        self,
        change_type: ChangeType,
        key: Key,
        obj: Obj,
        now: float,
        wall: float,
        *,
        synthetic: bool = False,
        rv: str | None = None,
    ) -> Change:
        return Change(
            change_type, key[0], key[1], rv if rv is not None else _rv(obj), _uid(obj), now, wall, synthetic, obj
        )

    def _publish(self, changes: builtins.list[Change]) -> None:
        if not changes:
            return
        logbook = self._log
        for change in changes:
            if len(logbook) == logbook.maxlen:
                evicted = logbook[0]
                self._evicted_rv, self._evicted_time = evicted.resource_version, evicted.monotonic
            logbook.append(change.without_object())
        for listener in list(self._listeners):
            for change in changes:
                try:
                    listener(change)
                except Exception:
                    log.exception("watch cache listener failed", resource=self.resource)
        if self._subscriptions:
            for sub in list(self._subscriptions):
                for change in changes:
                    if sub.wants(change):
                        sub.offer(change)
                        if sub.overflowed:
                            break

    def _shard_synced(self) -> None:
        if self.synced and self._synced_event is not None:
            self._synced_event.set()

    def _status_changed(self) -> None:
        event, self._status_event = self._status_event, None
        if event is not None:
            event.set()

    def __iter__(self) -> Iterator[Obj]:
        for shard in self._shards.values():
            for entry in list(shard.objects.values()):
                yield decode(entry)


def _first(item: tuple[Key, Entry]) -> Key:
    return item[0]


def _walk(shard: Shard, namespace: str | None, after: Key | None) -> Iterator[tuple[Key, Entry]]:
    """(key, entry) in key order from the first key of `namespace` / after `after`. Callers finish iterating
    before they next await, so the shard cannot change underneath."""
    keys = shard.keys
    start = 0
    if namespace is not None:
        start = bisect.bisect_left(keys, (namespace, ""))
    if after is not None:
        start = max(start, bisect.bisect_right(keys, after))
    objects = shard.objects
    for i in range(start, len(keys)):
        key = keys[i]
        yield key, objects[key]
