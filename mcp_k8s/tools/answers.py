"""The answer vocabulary the tools share: one list answer for every listing, and the custom-resource answers.

Every listing says the same five things the same way (the namespace listed, how many rows, the rows, how to get
the rest, what was cut), so a model learns them once; a tool's list answer is `Listing[ItsRow]` plus what only it
knows.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from mcp_k8s import output
from mcp_k8s.kube.events import EventRow

RowT = TypeVar("RowT")


class CacheFreshness(BaseModel):
    """How current a cached answer is known to be (cache/store.py's state table)."""

    freshness: Literal["confirmed", "unconfirmed"] = Field(
        description="confirmed: the server was heard from within seconds, or a probe just answered"
    )
    last_heard_seconds: float | None = Field(default=None, description="Since the watch last heard from the server")
    unconfirmed_since: str | None = Field(default=None, description="UTC time freshness was last confirmed")
    lagged: bool | None = Field(default=None, description="The cache held an older copy; this is the server's")


class Listing(BaseModel, Generic[RowT]):
    """A page of rows. `namespace` absent: every (allowed) namespace, or a cluster-scoped type."""

    namespace: str | None = None
    count: int
    items: list[RowT]
    continue_token: str | None = Field(default=None, description="Pass back to get the next page")
    truncated: output.Truncation | None = None


class ResourceList(Listing[dict[str, Any]]):
    """A page of objects of one type: summary rows (default) or full objects (view=full)."""

    resource: str = Field(description="plural.group/version that was listed")
    kind: str
    source: Literal["cache", "api"] = Field(description="cache: the live watch cache; api: a direct LIST")
    resource_version: str | None = None
    synced: bool | None = None
    stale_seconds: float | None = None
    cache: CacheFreshness | None = None  # source=cache: how current it is known to be
    note: str | None = None


class ObjectAnswer(BaseModel):
    """One object, cleaned of managedFields and the last-applied annotation (plus, with describe, why it is in the
    state it is in: its status conditions and recent events)."""

    resource: str
    source: Literal["cache", "api"]
    resource_version: str | None = None
    stale_seconds: float | None = None
    cache: CacheFreshness | None = None  # source=cache: how current it is known to be
    object: dict[str, Any]
    conditions: list[output.Condition] | None = Field(default=None, description="describe: all status conditions")
    events: list[EventRow] | None = Field(default=None, description="describe: recent events, newest first")
    events_note: str | None = None
    truncated: output.Truncation | None = None


class WriteAnswer(BaseModel):
    """The object as the server stored it (or would have, for a dry run)."""

    action: Literal["created", "patched", "unchanged"]
    dry_run: bool
    resource: str
    name: str
    namespace: str | None = None
    resource_version: str | None = None
    in_cache: bool | None = Field(
        default=None, description="true: the watch cache already shows this write, so reads see it (absent: not cached)"
    )
    object: dict[str, Any]
    truncated: output.Truncation | None = None
    note: str | None = None


class DeleteAnswer(BaseModel):
    deleted: bool
    dry_run: bool
    resource: str
    name: str
    namespace: str | None = None
    message: str
