"""The reflector: paginated LIST → atomic replace → WATCH from the list's resourceVersion, for one shard, forever.

This is client-go's reflector rebuilt on anyio (reference/watch_cache.md §a). kubernetes_asyncio's `Watch` is not
used: it raises on ERROR events and drops their body (so `retryAfterSeconds` and the too-large cause are lost),
reconnects silently and has no read timeout. We read the raw stream line by line and decide ourselves:

    LIST   limit=500 pages, raw JSON; RV "" (consistent) or last RV + resourceVersionMatch=NotOlderThan (never
           back in time); 410 on a continue page → restart from page 1 with RV ""; 410/too-large on a
           NotOlderThan list → RV "".
    WATCH  allowWatchBookmarks, timeoutSeconds U(300, 600), client sock_read inactivity timeout; never without
           an RV; a partial line is never applied.
    probe  a freshness probe that got no answer (cache/freshness.py) → drop the watch, re-watch now (a silent
           stream is not waited out to the inactivity timeout); a 5xx answer → relist now (its error becomes the
           status); an answer while we back off → re-watch now.
    ended  clean EOF → re-watch at once (a 0-event watch under 1 s → backoff + relist); disconnect → backoff +
           re-watch; stall (sock_read) → re-watch; refused → backoff + re-watch.
    ERROR  410 → relist NotOlderThan; 504 too-large → relist ""; 429 → wait max(backoff, retryAfterSeconds) +
           re-watch; 5xx → re-watch until a deadline, then relist; 403 → FORBIDDEN (data kept) + retry;
           404 → empty the store, NOT_SERVED, poll discovery until served; anything else → backoff + relist.

Backoff is client-go's: 0.8 s doubling to a 30 s cap, jitter ×[1, 2), reset after 2 min without failures.
"""

from __future__ import annotations

import enum
import gc
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.lowlevel
import orjson

from mcp_k8s import errors, policy
from mcp_k8s.cache.store import Entry, Key, Shard, Status
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.logging import get_logger

if TYPE_CHECKING:  # annotations only: the HTTP stack loads with the first watch, not at server start
    import aiohttp

__all__ = ["Backoff", "Reflector", "ReflectorOptions"]

log = get_logger(__name__)

_MAX_ERROR_BODY = 1 << 20


@dataclass(frozen=True, kw_only=True)
class ReflectorOptions:
    """Tuning knobs; the defaults are client-go's. Tests shrink the timeouts and backoff."""

    page_size: int = 500
    watch_timeout: tuple[float, float] = (300.0, 600.0)  # server-side timeoutSeconds, randomised in this range
    inactivity_timeout: float = 90.0  # client sock_read: ~1.5× the apiserver's 60 s bookmark period
    connect_timeout: float = 10.0
    list_timeout: float = 60.0  # per page
    backoff_initial: float = 0.8
    backoff_cap: float = 30.0
    backoff_jitter: float = 1.0
    backoff_reset: float = 120.0
    not_served_cap: float = 60.0  # discovery polling while the type is not served
    internal_error_window: float = 30.0  # keep re-watching after 5xx this long, then relist
    very_short_watch: float = 1.0
    bookmarks: bool = True
    gc_freeze_min_objects: int = 1_000  # gc.freeze() after a relist at least this big
    max_line_bytes: int = 64 << 20


class Backoff:
    """client-go's `DelayWithReset`: exponential with jitter, back to the start after a quiet period."""

    def __init__(
        self,
        initial: float,
        cap: float,
        *,
        jitter: float = 1.0,
        reset_after: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._initial = initial
        self._cap = cap
        self._jitter = jitter
        self._reset_after = reset_after
        self._clock = clock
        self._rng = rng
        self._next = initial
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        now = self._clock()
        if self._last_failure is not None and now - self._last_failure > self._reset_after:
            self._next = self._initial
        self._last_failure = now
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay * (1 + self._jitter * self._rng())


class _Action(enum.Enum):
    REWATCH = "rewatch"
    RELIST = "relist"
    NOT_SERVED = "not_served"


@dataclass(frozen=True)
class _Outcome:
    """Why a watch ended and what to do next."""

    action: _Action
    reason: str
    message: str | None = None  # None: a normal end, nothing to report
    backoff: bool = True
    at_least: float = 0.0  # a server-requested minimum wait (429 retryAfterSeconds)
    from_last_rv: bool = True  # for RELIST: NotOlderThan last RV, or "" (too large / unknown)
    status: Status | None = None  # FORBIDDEN / STALE to set before waiting


class _ListExpired(Exception):
    """The NotOlderThan list could not be served at that RV (410 or too large): list from "" instead."""


def _parse(data: bytes) -> Any:
    """orjson.loads with the cyclic GC paused: a page allocates ~15k containers, and GC passes over a large heap
    dominate bulk loads (watch_cache.md §d). Nothing awaits in here, so no other task runs meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(data)
    finally:
        if enabled:
            gc.enable()


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """An error body, read to its end or to `limit` bytes (a misbehaving proxy must not make us buffer forever)."""
    body = bytearray()
    while len(body) < limit:
        chunk = await response.content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


def _too_large(status: dict[str, Any]) -> bool:
    causes = (status.get("details") or {}).get("causes") or []
    if any(c.get("reason") == "ResourceVersionTooLarge" for c in causes if isinstance(c, dict)):
        return True
    return "too large resource version" in str(status.get("message") or "").lower()


class Reflector:
    """Keeps one shard of a store equal to the API server's view of (resource type, namespace or cluster)."""

    def __init__(
        self,
        kube: KubeClient,
        resource_type: ResourceType,
        shard: Shard,
        *,
        options: ReflectorOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.kube = kube
        self.resource_type = resource_type
        self.shard = shard
        self.options = options or ReflectorOptions()
        self.namespace = shard.namespace if resource_type.namespaced else None
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        o = self.options
        self._backoff = Backoff(
            o.backoff_initial,
            o.backoff_cap,
            jitter=o.backoff_jitter,
            reset_after=o.backoff_reset,
            clock=clock,
            rng=self._rng.random,
        )
        self._path = resource_type.path(self.namespace)
        self._log = log.bind(resource=resource_type.display, namespace=self.namespace)
        self._internal_errors_since: float | None = None
        self._interruptible: anyio.CancelScope | None = None  # the open watch, or a backoff sleep
        self._restart_reason = ""
        self._restart_relist = False
        shard.on_restart = self._restart

    def _restart(self, why: str, relist: bool) -> None:
        """Called through the shard when a probe decides: end the current watch or backoff at once."""
        if self._interruptible is not None:
            self._restart_reason, self._restart_relist = why, relist
            self._interruptible.cancel()

    # --- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> NoReturn:
        """Run until cancelled. Never raises otherwise: every failure becomes a status, a log line and a retry."""
        with policy.as_server():  # a reflector acts for nobody, whichever caller's read started it
            await self._loop()

    async def _loop(self) -> NoReturn:
        list_rv = ""
        reason = "initial"
        need_list = True
        while True:
            try:
                if need_list or not self.shard.resource_version:
                    try:
                        await self._list(list_rv, reason)
                    except _ListExpired:
                        self.shard.stats.list_failures["rv_unavailable"] += 1
                        list_rv, reason = "", "rv_unavailable"
                        continue
                    need_list = False
                    # Readers waiting for this sync run first: opening the first watch builds its own client (TLS
                    # context, pool) synchronously, and that is no reason for them to wait.
                    await anyio.lowlevel.checkpoint()
                outcome = await self._watch()
            except errors.NotFound:
                outcome = self._status_outcome(404, None, None)
            except errors.NotAllowed as exc:  # the policy gate: as final as RBAC's 403, and kept as visible
                self.shard.stats.list_failures["refused"] += 1
                outcome = _Outcome(_Action.RELIST, "refused", str(exc), status=Status.FORBIDDEN)
            except errors.Forbidden as exc:
                self.shard.stats.list_failures["forbidden"] += 1
                outcome = _Outcome(_Action.RELIST, "forbidden", str(exc), status=Status.FORBIDDEN)
            except errors.TooManyRequests as exc:
                self.shard.stats.list_failures["throttled"] += 1
                outcome = _Outcome(_Action.RELIST, "throttled", str(exc), at_least=exc.retry_after or 0.0)
            except errors.K8sError as exc:
                self.shard.stats.list_failures[type(exc).__name__] += 1
                outcome = _Outcome(_Action.RELIST, "list_failed", str(exc))
            except Exception as exc:  # a bug must not kill the cache (or, via the task group, the server)
                self._log.exception("watch cache reflector failed unexpectedly; relisting")
                outcome = _Outcome(
                    _Action.RELIST,
                    "internal",
                    f"The cache reflector hit an internal error ({exc!r}).",
                    from_last_rv=False,
                )
            need_list, list_rv, reason = await self._handle(outcome)
            if not self.shard.synced:
                reason = "initial"  # retries of the first LIST are still the initial sync

    async def _handle(self, outcome: _Outcome) -> tuple[bool, str, str]:
        """Record why the watch or list ended, set the status, wait as told; returns (need_list, list_rv, reason)."""
        self.shard.stats.watch_restarts[outcome.reason] += 1
        if outcome.message is not None:
            self._log.warning(
                "watch cache interrupted", reason=outcome.reason, action=outcome.action.value, error=outcome.message
            )
            if outcome.status is Status.FORBIDDEN:
                self.shard.mark_forbidden(outcome.message)
            elif outcome.action is not _Action.NOT_SERVED:
                self.shard.mark_stale(outcome.message)
        if outcome.action is _Action.NOT_SERVED:
            self.shard.mark_not_served(
                outcome.message or f"The API server no longer serves {self.resource_type.display}."
            )
            await self._wait_until_served()
            return True, "", "served_again"
        if outcome.backoff or outcome.at_least:
            delay = max(self._backoff.next_delay() if outcome.backoff else 0.0, outcome.at_least)
            self._log.debug("watch cache backing off", seconds=round(delay, 3), reason=outcome.reason)
            with anyio.CancelScope() as self._interruptible:
                await anyio.sleep(delay)
            self._interruptible = None
        if outcome.action is _Action.REWATCH:
            return False, "", outcome.reason
        list_rv = self.shard.resource_version if outcome.from_last_rv else ""
        return True, list_rv, outcome.reason

    # --- LIST -------------------------------------------------------------------------------------------------

    async def _list(self, rv: str, reason: str) -> None:
        """Paginated LIST into a new dict, then one synchronous swap (`Shard.replace`)."""
        started = self._clock()
        entries: dict[Key, Entry] = {}
        token: str | None = None
        query_rv = rv
        restarted = False
        pages = 0
        list_rv = ""
        while True:
            query: list[tuple[str, str | int | bool]] = [("limit", self.options.page_size)]
            if token:
                query.append(("continue", token))
            elif query_rv:
                query += [("resourceVersion", query_rv), ("resourceVersionMatch", "NotOlderThan")]
            try:
                doc = await self._list_page(query, query_rv)
            except errors.Expired:
                if token is not None and not restarted:
                    # client-go pager FullListIfExpired: the continue token's snapshot was compacted.
                    self.shard.stats.list_failures["continue_expired"] += 1
                    self._log.info("continue token expired; restarting the list from the first page")
                    entries, token, query_rv, restarted = {}, None, "", True
                    continue
                if query_rv:
                    raise _ListExpired from None
                raise
            # The stored form at once: decoded pages never pile up.
            entries.update(self.shard.encode(item) for item in doc.get("items") or [])
            meta = doc.get("metadata") or {}
            list_rv = str(meta.get("resourceVersion") or list_rv)
            token = meta.get("continue") or None
            pages += 1
            if not token:
                break
        count = self.shard.replace_entries(entries, list_rv, reason=reason)
        del entries
        self._listed(reason, count, pages, list_rv, self._clock() - started)

    async def _list_page(self, query: list[tuple[str, str | int | bool]], query_rv: str) -> dict[str, Any]:
        """One page of the LIST, checked to be a list, its items completed with kind and apiVersion."""
        op = errors.Operation(verb="list", resource=self.resource_type.qualified, namespace=self.namespace)
        try:
            data = await self.kube.request(
                "GET", self._path, op=op, query=query, raw=True, timeout=self.options.list_timeout
            )
        except errors.ServerError as exc:
            if query_rv and exc.status == 504:  # too large resource version: the server is behind us
                raise _ListExpired from None
            raise
        try:
            doc = _parse(data)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("items", []), list):
            raise errors.ServerError(
                f"The API server answered the LIST of {self.resource_type.display} with something that is not a "
                "list (a proxy error page?); retrying with backoff."
            )
        page = doc.get("items") or []
        if page and ("kind" not in page[0] or "apiVersion" not in page[0]):
            kind = str(doc.get("kind") or "").removesuffix("List") or self.resource_type.kind
            for item in page:
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", self.resource_type.api_version)
        return doc

    def _listed(self, reason: str, count: int, pages: int, list_rv: str, elapsed: float) -> None:
        if count >= self.options.gc_freeze_min_objects:
            gc.freeze()  # the store is long-lived: stop the cyclic GC from rescanning it on every pass
        self.shard.stats.last_list_seconds = elapsed
        self.shard.stats.last_list_pages = pages
        self._internal_errors_since = None
        self._log.info(
            "watch cache listed",
            reason=reason,
            objects=count,
            pages=pages,
            resource_version=list_rv,
            seconds=round(elapsed, 3),
        )

    # --- WATCH ------------------------------------------------------------------------------------------------

    async def _watch(self) -> _Outcome:
        """One watch request from the shard's RV, read to its end (or until a probe restarts it)."""
        with anyio.CancelScope() as self._interruptible:
            try:
                return await self._watch_stream()
            finally:
                self._interruptible = None
        if self._restart_relist:
            return _Outcome(
                _Action.RELIST,
                "probe_error",
                f"{self._restart_reason}; relisting {self.resource_type.display}.",
                backoff=False,
            )
        return _Outcome(
            _Action.REWATCH,
            "unconfirmed",
            f"{self._restart_reason}; restarting the watch on {self.resource_type.display} from resourceVersion "
            f"{self.shard.resource_version}.",
            backoff=False,
        )

    async def _watch_stream(self) -> _Outcome:
        """One watch request from the shard's RV, read to its end; returns what happened."""
        import aiohttp

        o = self.options
        rv = self.shard.resource_version
        timeout = self._rng.uniform(*o.watch_timeout)
        query: list[tuple[str, str]] = [
            ("watch", "true"),
            ("resourceVersion", rv),
            ("timeoutSeconds", str(max(1, int(timeout)))),
        ]
        if o.bookmarks:
            query.append(("allowWatchBookmarks", "true"))
        started = self._clock()
        try:
            response = await self.kube.stream(
                self._path,
                op=errors.Operation(verb="watch", resource=self.resource_type.qualified, namespace=self.namespace),
                query=query,
                timeout=aiohttp.ClientTimeout(
                    total=timeout + 60, sock_connect=o.connect_timeout, sock_read=o.inactivity_timeout
                ),
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return self._transport_outcome("connect", exc)
        clean = False
        self.shard.stats.watches_open += 1
        try:
            if response.status != 200:
                body = await _read_capped(response, _MAX_ERROR_BODY)
                return self._status_outcome(response.status, body, response.headers.get("Retry-After"))
            self.shard.mark_live()
            outcome, events, mid_event = await self._apply_stream(response)
            if outcome is not None:
                return outcome
            clean = True
            return self._ended(mid_event, events, self._clock() - started)
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            return self._transport_outcome("stalled", exc)
        except (aiohttp.ClientError, OSError) as exc:
            return self._transport_outcome("disconnected", exc)
        finally:
            self.shard.stats.watches_open -= 1
            if clean:
                response.release()
            else:
                response.close()

    async def _apply_stream(self, response: aiohttp.ClientResponse) -> tuple[_Outcome | None, int, bool]:
        """Apply each event line as it arrives: (the outcome that ended the watch early, if one did; events
        applied; whether the stream stopped inside an event)."""
        events = 0
        buffer = bytearray()
        while chunk := await response.content.readany():
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                line = bytes(buffer[start:end])
                start = end + 1
                outcome = self._handle_line(line)
                if outcome is not None:
                    return outcome, events, False
                events += 1
            if start:
                del buffer[:start]
            if len(buffer) > self.options.max_line_bytes:
                return self._garbage(f"a line longer than {self.options.max_line_bytes} bytes"), events, False
        return None, events, bool(buffer.strip())

    def _ended(self, mid_event: bool, events: int, lasted: float) -> _Outcome:
        """What a watch that the server ended cleanly means: a cut event, a refusal in disguise, or a timeout."""
        if mid_event:
            # The stream ended inside an event: drop the fragment, re-watch from the last applied RV.
            return _Outcome(
                _Action.REWATCH,
                "truncated",
                f"The watch on {self.resource_type.display} ended in the middle of an event; re-watching "
                f"from resourceVersion {self.shard.resource_version}.",
            )
        if events == 0 and lasted < self.options.very_short_watch:
            return _Outcome(
                _Action.RELIST,
                "short_watch",
                f"The watch on {self.resource_type.display} closed at once without events; relisting after a backoff.",
            )
        return _Outcome(_Action.REWATCH, "timeout", backoff=False)

    def _handle_line(self, line: bytes) -> _Outcome | None:
        """Apply one complete line; an outcome ends the watch."""
        if not line.strip():
            return None
        try:
            event = orjson.loads(line)
        except ValueError:
            return self._garbage("a line that is not JSON")
        if not isinstance(event, dict):
            return self._garbage("a JSON value that is not an event")
        if event.get("kind") == "Status":  # a bare Status instead of an event
            return self._status_outcome(int(event.get("code") or 500), event, None)
        event_type = event.get("type")
        obj = event.get("object")
        if event_type == "ERROR" and isinstance(obj, dict):
            return self._status_outcome(int(obj.get("code") or 500), obj, None)
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            return self._garbage(f"a {event_type or 'typeless'} event without an object")
        if event_type in ("ADDED", "MODIFIED", "DELETED"):
            if not obj["metadata"].get("name"):
                return self._garbage(f"a {event_type} event for an object without a name")
            self.shard.apply(event_type, obj)
            self._internal_errors_since = None
            return None
        if event_type == "BOOKMARK":
            rv = obj["metadata"].get("resourceVersion")
            if rv:
                self.shard.bookmark(str(rv))
            self._internal_errors_since = None
            return None
        return self._garbage(f"an event of unknown type {event_type!r}")

    # --- outcomes ---------------------------------------------------------------------------------------------

    def _garbage(self, what: str) -> _Outcome:
        return _Outcome(
            _Action.RELIST,
            "garbage",
            f"The watch on {self.resource_type.display} sent {what}; relisting from resourceVersion "
            f"{self.shard.resource_version} after a backoff.",
        )

    def _transport_outcome(self, reason: str, exc: BaseException) -> _Outcome:
        display = self.resource_type.display
        if reason == "connect":
            cause = str(exc) or type(exc).__name__
            message = (
                f"Cannot reach the API server at {self.kube.describe_target()} to watch {display} ({cause}); "
                "retrying the watch with backoff."
            )
        elif reason == "stalled":
            message = (
                f"The watch on {display} was silent for {self.options.inactivity_timeout:g} s (a stalled "
                "connection); re-watching."
            )
            return _Outcome(_Action.REWATCH, reason, message, backoff=False)
        else:
            message = (
                f"The watch on {display} was disconnected ({type(exc).__name__}); re-watching from "
                f"resourceVersion {self.shard.resource_version}."
            )
        return _Outcome(_Action.REWATCH, reason, message)

    def _status_outcome(self, code: int, body: Any, retry_after_header: str | None) -> _Outcome:
        """Map an HTTP error or an in-stream ERROR Status to the reflector's next step (and one sentence for
        `last_error`, which a tool shows next to stale data)."""
        display = self.resource_type.display
        status = errors.parse_status(body)
        reason = status.get("reason")
        detail = " ".join(str(status.get("message") or reason or "no details").split())[:200]
        rv = self.shard.resource_version
        if code == 410 or reason in ("Expired", "Gone"):
            return _Outcome(
                _Action.RELIST,
                "expired",
                f"The watch on {display} expired at resourceVersion {rv} (410: {detail}); relisting from there.",
            )
        if _too_large(status):
            return _Outcome(
                _Action.RELIST,
                "too_large",
                f"The API server is behind resourceVersion {rv} for {display} (504: {detail}); relisting from "
                "the current state.",
                from_last_rv=False,
            )
        if code == 429:
            op = errors.Operation(verb="watch", resource=self.resource_type.qualified, namespace=self.namespace)
            retry = errors.from_status(code, body, op, retry_after_header=retry_after_header).retry_after or 1.0
            return _Outcome(
                _Action.REWATCH,
                "throttled",
                f"The API server asked the watch on {display} to wait (429: {detail}); retrying in {retry:g} s.",
                at_least=retry,
            )
        if code == 403:
            op = errors.Operation(verb="watch", resource=self.resource_type.qualified, namespace=self.namespace)
            forbidden = errors.from_status(code, body, op, server=self.kube.describe_target())
            return _Outcome(_Action.RELIST, "forbidden", forbidden.message, status=Status.FORBIDDEN)
        if code == 404:
            return _Outcome(
                _Action.NOT_SERVED,
                "not_found",
                f"The API server no longer serves {display} (404; its CRD may have been deleted); the cache is "
                "empty until it is served again.",
            )
        if code >= 500:
            now = self._clock()
            if self._internal_errors_since is None:
                self._internal_errors_since = now
            message = f"The API server failed the watch on {display} ({code}: {detail}); "
            if now - self._internal_errors_since < self.options.internal_error_window:
                return _Outcome(_Action.REWATCH, "server_error", message + "re-watching.")
            self._internal_errors_since = None
            return _Outcome(_Action.RELIST, "server_error_persisted", message + "relisting.")
        return _Outcome(_Action.RELIST, "error", f"The watch on {display} failed ({code}: {detail}); relisting.")

    # --- discovery gate ---------------------------------------------------------------------------------------

    async def _wait_until_served(self) -> None:
        """Poll the group-version's discovery document (backoff capped at `not_served_cap`) until the type is back."""
        rt = self.resource_type
        path = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        op = errors.Operation(verb="discover", resource=rt.qualified)
        backoff = Backoff(
            self.options.backoff_initial,
            self.options.not_served_cap,
            jitter=self.options.backoff_jitter,
            reset_after=float("inf"),
            clock=self._clock,
            rng=self._rng.random,
        )
        while True:
            await anyio.sleep(backoff.next_delay())
            try:
                doc = await self.kube.request("GET", path, op=op)
            except errors.K8sError:
                continue
            if any(r.get("name") == rt.plural for r in (doc or {}).get("resources") or []):
                self._log.info("resource type is served again; relisting")
                return
