"""Generic object CRUD for any resource type (custom resources above all): list, get, create, patch, delete.

Everything is raw JSON against `ResourceType.path()`, so a CRD installed a second ago works without models. Patches
come in the three kinds the API server understands: JSON merge patch, JSON patch (RFC 6902), and server-side apply
with our field manager. `dry_run` sends `dryRun=All`: the server runs admission and validation and persists nothing.
`RowLister` is the one list wrapper of the typed resources (pods, services, secrets): a page shaped into rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from mcp_k8s import errors
from mcp_k8s.kube.client import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, KubeClient
from mcp_k8s.kube.discovery import ResourceType

PatchType = Literal["merge", "json", "apply"]
FIELD_MANAGER = "mcp-k8s"
_CONTENT_TYPES: dict[str, str] = {"merge": MERGE_PATCH, "json": JSON_PATCH, "apply": APPLY_PATCH}
_JSON_PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}
RowT = TypeVar("RowT")


def operation(
    verb: str, rt: ResourceType, namespace: str | None = None, name: str | None = None, *, apply: bool = False
) -> errors.Operation:
    return errors.Operation(
        verb=verb,
        resource=rt.qualified,
        kind=rt.kind,
        name=name,
        namespace=namespace if rt.namespaced else None,
        apply=apply,
    )


def _dry_run(query: list[tuple[str, str | int | bool]], dry_run: bool) -> list[tuple[str, str | int | bool]]:
    if dry_run:
        query.append(("dryRun", "All"))
    return query


def list_query(
    label_selector: str | None, field_selector: str | None, limit: int | None, continue_token: str | None
) -> list[tuple[str, str | int | bool]]:
    """The query parameters of a LIST, with unset ones left out (the server treats empty values as set)."""
    query: list[tuple[str, str | int | bool]] = []
    if label_selector:
        query.append(("labelSelector", label_selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    if limit:
        query.append(("limit", limit))
    if continue_token:
        query.append(("continue", continue_token))
    return query


async def list_objects(
    kube: KubeClient,
    rt: ResourceType,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
    resource_version: str | None = None,
) -> dict[str, Any]:
    """One page of a LIST. `namespace=None` lists across all namespaces (or a cluster-scoped type)."""
    query = list_query(label_selector, field_selector, limit, continue_token)
    if resource_version is not None:
        query.append(("resourceVersion", resource_version))
    result: dict[str, Any] = await kube.request(
        "GET", rt.path(namespace), op=operation("list", rt, namespace), query=query
    )
    return result


@dataclass(frozen=True)
class ListPage(Generic[RowT]):
    """One page of a LIST shaped into rows, with where the listing stands."""

    items: list[RowT]
    continue_token: str | None = None  # pass back for the next page
    remaining: int | None = None  # the server's estimate of items after this page
    resource_version: str | None = None


@dataclass(frozen=True)
class RowLister(Generic[RowT]):
    """`await lister(kube, namespace, label_selector=...)`: one page of `rt` as rows (`namespace=None`: all)."""

    rt: ResourceType
    row: Callable[[Mapping[str, Any]], RowT]

    async def __call__(
        self,
        kube: KubeClient,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListPage[RowT]:
        doc = await list_objects(
            kube,
            self.rt,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_token=continue_token,
        )
        meta = doc.get("metadata") or {}
        return ListPage(
            items=[self.row(item) for item in doc.get("items") or []],
            continue_token=meta.get("continue") or None,
            remaining=meta.get("remainingItemCount"),
            resource_version=meta.get("resourceVersion"),
        )


async def get_object(kube: KubeClient, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
    result: dict[str, Any] = await kube.request(
        "GET", rt.path(namespace, name), op=operation("get", rt, namespace, name)
    )
    return result


def prepare_body(
    rt: ResourceType, body: Mapping[str, Any], namespace: str | None, name: str | None = None
) -> dict[str, Any]:
    """Fill apiVersion/kind/namespace (and name) the caller left out; refuse contradictions with one clear sentence."""
    out = dict(body)
    for key, expected in (("apiVersion", rt.api_version), ("kind", rt.kind)):
        given = out.get(key)
        if given is None:
            out[key] = expected
        elif given != expected:
            raise errors.InvalidInput(
                f"body.{key} is {given!r} but the resource type {rt.display} needs {expected!r}; fix it or omit it."
            )
    meta = out.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise errors.InvalidInput("body.metadata must be an object with at least a name.")
    meta = dict(meta)
    if name is not None:
        if meta.get("name") not in (None, name):
            raise errors.InvalidInput(f"body.metadata.name is {meta['name']!r} but name is {name!r}; make them agree.")
        meta["name"] = name
    if rt.namespaced and namespace is not None:
        if meta.get("namespace") not in (None, namespace):
            raise errors.InvalidInput(
                f"body.metadata.namespace is {meta['namespace']!r} but the call targets namespace {namespace!r}; "
                "make them agree."
            )
        meta["namespace"] = namespace
    elif not rt.namespaced:
        meta.pop("namespace", None)
    if not meta.get("name") and not meta.get("generateName"):
        raise errors.InvalidInput("body.metadata.name is missing; every object needs a name (or generateName).")
    out["metadata"] = meta
    return out


async def create_object(
    kube: KubeClient,
    rt: ResourceType,
    namespace: str | None,
    body: Mapping[str, Any],
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    prepared = prepare_body(rt, body, namespace)
    name = prepared["metadata"].get("name")
    result: dict[str, Any] = await kube.request(
        "POST",
        rt.path(namespace),
        op=operation("create", rt, namespace, name),
        query=_dry_run([("fieldManager", FIELD_MANAGER)], dry_run),
        body=prepared,
    )
    return result


def validate_patch(patch_type: PatchType, patch: Any) -> None:
    """Catch the common patch mistakes locally, where we can say exactly what is wrong."""
    if patch_type == "json":
        if not isinstance(patch, list) or not patch:
            raise errors.InvalidInput(
                'A json patch is a non-empty list of operations like [{"op": "replace", "path": "/spec/size", '
                '"value": 3}].'
            )
        for index, op in enumerate(patch):
            if not isinstance(op, dict) or op.get("op") not in _JSON_PATCH_OPS or not isinstance(op.get("path"), str):
                raise errors.InvalidInput(
                    f"json patch operation {index} must be an object with 'op' (one of "
                    f"{', '.join(sorted(_JSON_PATCH_OPS))}) and a string 'path' starting with '/'."
                )
            if not op["path"].startswith("/") and op["path"] != "":
                raise errors.InvalidInput(
                    f"json patch operation {index} has path {op['path']!r}; paths start with '/'."
                )
    elif not isinstance(patch, dict) or not patch:
        kind = "an apply configuration" if patch_type == "apply" else "a merge patch"
        raise errors.InvalidInput(
            f'{kind.capitalize()} must be a non-empty JSON object, e.g. {{"spec": {{"size": 3}}}}.'
        )


async def patch_object(
    kube: KubeClient,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    patch: Any,
    *,
    patch_type: PatchType = "merge",
    dry_run: bool = False,
    force: bool = False,
    subresource: str | None = None,
) -> dict[str, Any]:
    """Merge patch, JSON patch, or server-side apply (field manager `mcp-k8s`; `force` takes conflicting fields)."""
    validate_patch(patch_type, patch)
    body = prepare_body(rt, patch, namespace, name) if patch_type == "apply" else patch
    query: list[tuple[str, str | int | bool]] = [("fieldManager", FIELD_MANAGER)]
    if patch_type == "apply" and force:
        query.append(("force", "true"))
    result: dict[str, Any] = await kube.request(
        "PATCH",
        rt.path(namespace, name, subresource),
        op=operation("patch", rt, namespace, name, apply=patch_type == "apply"),
        query=_dry_run(query, dry_run),
        body=body,
        content_type=_CONTENT_TYPES[patch_type],
    )
    return result


async def delete_object(
    kube: KubeClient,
    rt: ResourceType,
    namespace: str | None,
    name: str,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete; returns the object (finalizers pending) or a Status. Background propagation, as kubectl defaults.

    With a DeleteOptions body the server reads options from the body only, so dryRun goes there, not in the query.
    """
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    if dry_run:
        body["dryRun"] = ["All"]
    result: dict[str, Any] = await kube.request(
        "DELETE", rt.path(namespace, name), op=operation("delete", rt, namespace, name), body=body
    )
    return result
