"""A page of one custom-resource type for list_custom_resources: from the watch cache when it holds the type, else
from a direct LIST; rows are summaries with the CRD's printer columns, or whole objects.

Continue tokens say where they came from (`src`), so a listing that started on the API stays on it.
"""

from __future__ import annotations

from typing import Any

from mcp_k8s import output
from mcp_k8s.cache.access import CachedType
from mcp_k8s.kube import resources
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.tools.answers import ResourceList
from mcp_k8s.tools.base import AppState, paged
from mcp_k8s.tools.reading import summary_rows


async def from_cache(
    state: AppState,
    rt: ResourceType,
    store: CachedType,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    limit: int,
    token: dict[str, Any],
    view: str,
) -> ResourceList:
    """A page from the watch cache. Pages resume after the last (namespace, name) shown, so churn between pages
    neither repeats nor skips objects that existed throughout."""
    fresh = await store.freshness(namespace)  # first: probes when the watch has been silent, then we read
    after = tuple(token.get("after") or ())
    rows = await summary_rows(state, rt) if view != "full" else None
    objects = await store.list(
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        after=(after[0], after[1]) if len(after) == 2 else None,
        limit=limit + 1,  # one more tells whether there is a next page
        rows=rows,  # summary rows come packed from the store; objects are decoded only for view=full
    )
    page = objects[:limit]
    items = page if rows is not None else [output.strip_object(item) for item in page]
    info = store.info()
    envelope = ResourceList(
        resource=rt.display,
        kind=rt.kind,
        namespace=namespace,
        source="cache",
        resource_version=info.resource_version,
        synced=info.synced,
        **fresh.as_fields(),
        count=0,
        items=[],
    )

    def token_for(fit: int) -> str | None:
        if fit < len(items) or len(objects) > limit:
            return output.encode_token({"src": "cache", "after": list(_key(page[fit - 1], row=rows is not None))})
        return None

    fit, next_token, truncated = output.cut_page(
        items,
        state.settings.output_budget,
        output.size_of(envelope),
        token_for=token_for,
        hint=output.CUT_HINT.format(narrow=_narrow(view)),
    )
    return envelope.model_copy(
        update={"items": items[:fit], "count": fit, "continue_token": next_token, "truncated": truncated}
    )


def _narrow(view: str) -> str:
    """How to make a cut page smaller, never suggesting the view already in use."""
    return "label_selector or a smaller limit" + (", or view=summary" if view == "full" else "")


def _key(item: dict[str, Any], *, row: bool) -> tuple[str, str]:
    """The (namespace, name) a page resumes after: a summary row has them at its top, an object in metadata."""
    where = item if row else item.get("metadata") or {}
    return (where.get("namespace") or "", where.get("name") or "")


async def from_api(
    state: AppState,
    rt: ResourceType,
    ns: str | None,
    all_namespaces: bool,
    label_selector: str | None,
    field_selector: str | None,
    limit: int,
    continue_token: str | None,
    view: str,
) -> ResourceList:
    """A page from a direct LIST (tokens are tagged src=api, so later pages stay on the API)."""

    lister = resources.RowLister(rt, output.strip_object if view == "full" else (await summary_rows(state, rt)).row)
    versions: list[str | None] = []

    async def fetch(namespace: str | None, server_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        page = await lister(
            state.kube,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_token=server_token,
        )
        versions.append(page.resource_version)
        return page.items, page.continue_token

    envelope = ResourceList(resource=rt.display, kind=rt.kind, source="api", count=0, items=[])
    found = await paged(
        state,
        namespace=ns,
        all_namespaces=all_namespaces,
        namespaced=rt.namespaced,
        continue_token=continue_token,
        fetch=fetch,
        overhead=output.size_of(envelope),
        narrow=_narrow(view),
        token_fields={"src": "api"},
    )
    return envelope.model_copy(
        update={
            "namespace": found.namespace,
            "resource_version": versions[-1] if versions else None,
            "items": found.rows,
            "count": len(found.rows),
            "continue_token": found.continue_token,
            "truncated": found.truncated,
        }
    )
