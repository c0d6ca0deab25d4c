"""Watching tools: what changed (recent_changes) and waiting for a condition (wait_for_custom_resource), both
answered from the live watch cache, which they start for a type on first use."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from pydantic import BaseModel, Field

from mcp_k8s import errors, output
from mcp_k8s import jsonpath as jp
from mcp_k8s.cache.access import CachedType
from mcp_k8s.cache.store import Change, ChangeType, Status, Subscription, SubscriptionOverflow
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.tools.base import (
    AllNamespaces,
    AppState,
    Ctx,
    Group,
    Name,
    Namespace,
    Plural,
    ToolSpec,
    Version,
    app,
    check_name,
    spec,
)
from mcp_k8s.tools.reading import WARM_WAIT, watch_type

_PROGRESS_EVERY = 2.0  # under the 2 s a client with resetTimeoutOnProgress needs to keep waiting


_MAX_OBSERVED = 200  # an observed value is evidence, not data: enough to see what the wait saw


# --- recent_changes --------------------------------------------------------------------------------------------------


class ChangeRow(BaseModel):
    type: ChangeType
    name: str
    namespace: str | None = None
    resource_version: str
    seconds_ago: float
    inferred: bool | None = Field(
        default=None, description="true: missed while disconnected and inferred from a relist (final state unknown)"
    )


class ChangesAnswer(BaseModel):
    """What changed, oldest first, from the watch cache's change log."""

    resource: str
    namespace: str | None = None
    resource_version: str = Field(
        description="The cache's current resourceVersion: pass it as since_resource_version next"
    )
    complete: bool = Field(
        description="false: the log does not cover the whole window (it started later or rolled over)"
    )
    added: int
    modified: int
    deleted: int
    changes: list[ChangeRow]
    omitted: int = Field(default=0, description="Older changes left out by limit or the answer budget")
    note: str | None = None


async def recent_changes(
    ctx: Ctx,
    plural: Plural,
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    since_resource_version: Annotated[str | None, Field(default=None, max_length=64)] = None,
    since_seconds: Annotated[float | None, Field(default=None, gt=0, le=86_400, description="Default: 300")] = None,
    limit: Annotated[int, Field(ge=1, le=1_000, description="Newest N")] = 100,
) -> ChangesAnswer:
    """Objects of one type added, modified or deleted since a resourceVersion or in the last N seconds."""
    state = app(ctx)
    rt = await state.resource_type(plural, group, version)
    ns = None if (all_namespaces or not rt.namespaced) else await state.namespace(namespace)
    store = await watch_type(state, rt)
    if store is None:
        raise errors.NotAllowed(f"{rt.display} cannot be watched by this server's cache, so its changes are unknown.")
    fresh = not store.synced
    if fresh:
        await store.wait_synced(WARM_WAIT)
    if not since_resource_version and since_seconds is None:
        since_seconds = 300.0
    window = await store.changes_since(resource_version=since_resource_version, seconds=since_seconds, namespace=ns)
    changes = window.changes
    now = time.monotonic()
    rows = [_row(c, now) for c in changes]
    counts = {t: sum(1 for c in changes if c.type == t) for t in ChangeType}
    kept = rows[-limit:]
    answer = ChangesAnswer(
        resource=rt.display,
        namespace=ns,
        resource_version=window.resource_version,
        complete=window.complete and store.synced,
        added=counts[ChangeType.ADDED],
        modified=counts[ChangeType.MODIFIED],
        deleted=counts[ChangeType.DELETED],
        changes=[],
    )
    fit, _, _ = output.cut_page(  # the newest first: a cut keeps the latest changes
        list(reversed(kept)), state.settings.output_budget, output.size_of(answer), hint=""
    )
    answer.changes = kept[len(kept) - fit :]
    answer.omitted = len(rows) - len(answer.changes)
    if fresh or not window.complete:
        answer.note = (
            "The cache started watching this type only now, so earlier changes are unknown; call again later."
            if fresh
            else "The change log does not reach back over the whole window; these are the changes it still holds."
        )
    elif store.status != Status.LIVE:
        answer.note = (
            f"The watch is {store.status.value} ({store.last_error or 'reconnecting'}); recent changes may be missing."
        )
    return answer


def _row(change: Change, now: float) -> ChangeRow:
    return ChangeRow(
        type=change.type,
        name=change.name,
        namespace=change.namespace or None,
        resource_version=change.resource_version,
        seconds_ago=round(max(0.0, now - change.monotonic), 3),
        inferred=True if change.synthetic else None,
    )


# --- wait_for_custom_resource ----------------------------------------------------------------------------------------


class WaitAnswer(BaseModel):
    met: bool
    condition: str = Field(description="What was waited for")
    observed: str | None = Field(default=None, description="The last value seen (condition status, path value, ...)")
    waited_seconds: float
    resource: str
    name: str
    namespace: str | None = None
    resource_version: str | None = None
    object: output.Summary | None = Field(default=None, description="The object when the wait ended (absent if gone)")
    message: str


@dataclass(frozen=True)
class _Check:
    """One condition to wait for; `evaluate` says whether it holds and what was observed."""

    condition_type: str | None
    condition_status: str
    path: jp.Path | None
    value: str | None
    deleted: bool

    @classmethod
    def from_arguments(
        cls,
        condition: str | None,
        status: str,
        jsonpath: str | None,
        value: str | int | float | bool | None,
        deleted: bool,
    ) -> _Check:
        """The one check the call asks for; refuses none, several, or a value without its path."""
        if sum(bool(x) for x in (condition, jsonpath, deleted)) != 1:
            raise errors.InvalidInput(
                "Give exactly one of condition (e.g. Ready), jsonpath (e.g. .status.phase) or deleted."
            )
        if value is not None and not jsonpath:
            raise errors.InvalidInput("value goes with jsonpath; for a status condition use condition and status.")
        return cls(condition, status, jp.parse(jsonpath) if jsonpath else None, _as_text(value), deleted)

    def describe(self) -> str:
        if self.deleted:
            return "deleted"
        if self.condition_type:
            return f"condition {self.condition_type}={self.condition_status}"
        assert self.path is not None
        return f"{self.path.text}={self.value}" if self.value is not None else f"{self.path.text} present"

    def evaluate(self, obj: dict[str, Any] | None) -> tuple[bool, str | None]:
        if self.deleted:
            return obj is None, "present" if obj is not None else "gone"
        if obj is None:
            return False, "the object does not exist (yet)"
        if self.condition_type:
            for condition in output.conditions_of(obj, key_only=False):
                if condition.type == self.condition_type:
                    seen = condition.status + (f" ({condition.reason})" if condition.reason else "")
                    if condition.message and condition.status != self.condition_status:
                        seen += f": {condition.message}"
                    return condition.status == self.condition_status, seen
            return False, f"no {self.condition_type} condition yet"
        assert self.path is not None
        found = self.path.find(obj)
        if not found:
            return False, "not set"
        rendered = jp.render(found)
        return (self.value is None or rendered == self.value), rendered


async def wait_for_custom_resource(
    ctx: Ctx,
    plural: Plural,
    name: Name,
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    condition: Annotated[
        str | None, Field(default=None, max_length=253, description="Condition type, e.g. Ready")
    ] = None,
    status: Annotated[str, Field(max_length=63)] = "True",
    jsonpath: Annotated[str | None, Field(default=None, max_length=512, description="e.g. .status.phase")] = None,
    value: Annotated[str | int | float | bool | None, Field(default=None, description="With jsonpath")] = None,
    deleted: Annotated[bool, Field()] = False,
    # 25 s default: the TypeScript SDK's and MCP Inspector's request timeout is 60 s; progress resets it for clients
    # that allow that, and a shorter default leaves room for the ones that do not.
    timeout_seconds: Annotated[float, Field(gt=0, le=3_600)] = 25.0,
) -> WaitAnswer:
    """Wait for a condition, a JSONPath value or deletion, with progress; met=false on timeout."""
    check = _Check.from_arguments(condition, status, jsonpath, value, deleted)
    state = app(ctx)
    rt = await state.resource_type(plural, group, version)
    ns = await state.namespace(namespace) if rt.namespaced else None
    check_name(name)
    started = time.monotonic()
    store = await _synced_store(state, rt, timeout_seconds)
    target = f"{rt.kind.lower()} {name!r}" + (f" in namespace {ns}" if ns else "")
    with await store.subscribe(namespace=ns if rt.namespaced else None, name=name) as changes:
        met, observed = check.evaluate(await store.get(name, ns))
        if not met:
            waiting = _Waiting(ctx, started, timeout_seconds, f"waiting for {check.describe()} on {target}", observed)
            with anyio.move_on_after(max(0.0, timeout_seconds - (time.monotonic() - started))):
                await waiting.follow(_until_met(check, store, changes, name, ns))
            met, observed = waiting.met, waiting.observed
        obj = await store.get(name, ns)
    waited = round(time.monotonic() - started, 3)
    await _progress(ctx, started, timeout_seconds, "condition met" if met else "timed out", done=met)
    meta = (obj or {}).get("metadata") or {}
    observed = output.clip(observed, _MAX_OBSERVED) if observed is not None else None
    return WaitAnswer(
        met=met,
        condition=check.describe(),
        observed=observed,
        waited_seconds=waited,
        resource=rt.display,
        name=name,
        namespace=ns,
        resource_version=meta.get("resourceVersion") or store.resource_version,
        object=output.summarize(obj) if obj is not None else None,
        message=(
            f"{target} is {check.describe()} after {waited:.1f}s."
            if met
            else f"Timed out after {waited:.1f}s waiting for {check.describe()} on {target}; last seen: {observed}."
        ),
    )


async def _synced_store(state: AppState, rt: ResourceType, timeout_seconds: float) -> CachedType:
    """The type's watch cache, synced (waiting up to 30 s of the caller's time): a wait is answered from it."""
    store = await watch_type(state, rt)
    if store is None:
        raise errors.NotAllowed(f"{rt.display} cannot be watched by this server's cache, so it cannot be waited on.")
    if not await store.wait_synced(min(timeout_seconds, 30.0)):
        raise errors.Unavailable(
            f"The watch cache for {rt.display} could not sync ({store.last_error or 'still starting'}); retry shortly."
        )
    return store


async def _until_met(
    check: _Check, store: CachedType, changes: Subscription, name: str, ns: str | None
) -> AsyncGenerator[tuple[bool, str | None]]:
    """Each change to the object, evaluated; ends when the check holds (or the subscription overflowed, after one
    fresh look, since the changes in between are lost)."""
    try:
        async for change in changes:
            obj = None if change.type == ChangeType.DELETED else await store.get(name, ns)
            verdict = check.evaluate(obj)
            yield verdict
            if verdict[0]:
                return
    except SubscriptionOverflow:
        yield check.evaluate(await store.get(name, ns))


class _Waiting:
    """The last verdict of a wait (kept when the timeout cancels it), with a progress notification every few seconds
    naming the last value observed."""

    def __init__(self, ctx: Ctx, started: float, timeout_seconds: float, doing: str, observed: str | None) -> None:
        self._ctx, self._started, self._timeout, self._doing = ctx, started, timeout_seconds, doing
        self.met, self.observed = False, observed

    async def follow(self, verdicts: AsyncGenerator[tuple[bool, str | None]]) -> None:
        async with aclosing(verdicts), anyio.create_task_group() as tg:

            async def heartbeat() -> None:
                while True:
                    await _progress(self._ctx, self._started, self._timeout, f"{self._doing}: {self.observed}")
                    await anyio.sleep(_PROGRESS_EVERY)

            tg.start_soon(heartbeat)
            async for verdict in verdicts:
                self.met, self.observed = verdict
            tg.cancel_scope.cancel()


def _as_text(value: str | int | float | bool | None) -> str | None:
    """A wanted value as JSONPath renders it: true/false for booleans, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and len(value) > 1024:
        raise errors.InvalidInput("value is longer than 1024 characters; wait on a shorter value.")
    return None if value is None else str(value)


async def _progress(ctx: Ctx, started: float, total: float, message: str, *, done: bool = False) -> None:
    elapsed = total if done else min(time.monotonic() - started, total)
    await ctx.report_progress(math.floor(elapsed * 10) / 10, total, message)


TOOLS: list[ToolSpec] = [
    spec(recent_changes, title="Recent changes", read_only=True),
    spec(wait_for_custom_resource, title="Wait for a custom resource", read_only=True),
]
