"""Custom-resource tools: list, get, create, patch (merge / json / server-side apply), delete.

Thin by design: validate arguments, resolve the type and namespace, call kube/ (or read the watch cache), shape the
answer with output.py. Rules (secrets, namespaces, read-only, denied types) are not checked here: the policy gate
below every request and cached read decides them (mcp_k8s/policy.py).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any, Literal

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Resolve
from pydantic import Field

from mcp_k8s import errors, output
from mcp_k8s.cache.selectors import UnsupportedFieldSelector
from mcp_k8s.kube import resources
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.events import list_events
from mcp_k8s.tools import hints, reading, resource_lists
from mcp_k8s.tools.answers import DeleteAnswer, ObjectAnswer, ResourceList, WriteAnswer
from mcp_k8s.tools.base import (
    DECLINED,
    DRY_RUN_DELETE,
    NOT_CHANGED,
    AllNamespaces,
    AppState,
    Confirm,
    ContinueToken,
    Ctx,
    DryRun,
    FieldSelector,
    Force,
    Group,
    LabelSelector,
    Limit,
    Name,
    Namespace,
    Plural,
    ToolSpec,
    Version,
    app,
    ask_confirmation,
    check_name,
    confirmed,
    resolver,
    spec,
)

_MAX_BODY_TEXT = 1_000_000


async def _target(
    state: AppState,
    plural: str,
    group: str | None,
    version: str | None,
    namespace: str | None,
    *,
    all_namespaces: bool = False,
) -> tuple[ResourceType, str | None]:
    """Resolve the type, and the namespace only for namespaced types (an all-namespaces listing has no default
    namespace to resolve, and one outside --allowed-namespaces would refuse it)."""
    rt = await state.resource_type(plural, group, version)
    if not rt.namespaced or all_namespaces:
        return rt, None
    return rt, await state.namespace(namespace)


def _parse_document(value: Any, what: str) -> Any:
    """Accept JSON/YAML text as well as a structured value: models often send documents as strings."""
    if not isinstance(value, str):
        return value
    if len(value) > _MAX_BODY_TEXT:
        raise errors.InvalidInput(f"{what} is larger than {_MAX_BODY_TEXT} bytes; send a smaller document.")
    import yaml  # only documents sent as text need a parser; keeps it out of server start-up

    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise errors.InvalidInput(f"{what} is not valid JSON or YAML{where}; send an object.") from None


def _budgeted_object(obj: dict[str, Any], budget: int) -> tuple[dict[str, Any], output.Truncation | None]:
    shrunk, cut = output.shrink_object(obj, budget)
    if not cut:
        return obj, None
    return shrunk, output.Truncation(
        omitted=len(cut),
        hint=f"Long values were shortened at {', '.join(cut[:5])}; ask for specific parts with fields=[...].",
    )


async def list_custom_resources(
    ctx: Ctx,
    plural: Plural,
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    all_namespaces: AllNamespaces = False,
    label_selector: LabelSelector = None,
    field_selector: FieldSelector = None,
    limit: Limit = 50,
    continue_token: ContinueToken = None,
    view: Annotated[Literal["summary", "full"], Field(description="full: whole objects")] = "summary",
) -> ResourceList:
    """List custom resources of one type: rows with the CRD's columns, or full objects."""
    state = app(ctx)
    rt, ns = await _target(state, plural, group, version, namespace, all_namespaces=all_namespaces)
    token = output.decode_token(continue_token) if continue_token else {}
    scope = ns
    if token.get("src", "cache") == "cache":
        store = await reading.readable_store(state, rt, scope)
        if store is not None:
            try:
                return await resource_lists.from_cache(
                    state, rt, store, scope, label_selector, field_selector, limit, token, view
                )
            except UnsupportedFieldSelector:
                pass  # fields beyond metadata.name/namespace (CRD selectableFields) are the API's to evaluate
        note = reading.cache_note(state.cache.get(rt), rt)
    else:
        note = None
    answer = await resource_lists.from_api(
        state, rt, ns, all_namespaces, label_selector, field_selector, limit, continue_token, view
    )
    return answer.model_copy(update={"note": note}) if note else answer


async def get_custom_resource(
    ctx: Ctx,
    plural: Plural,
    name: Name,
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    fields: Annotated[
        list[str] | None,
        Field(default=None, max_length=50, description="Only these paths, e.g. status.conditions"),
    ] = None,
    describe: Annotated[bool, Field(description="Add conditions and recent events")] = False,
) -> ObjectAnswer:
    """Get one custom resource; describe=true adds conditions and recent events."""
    state = app(ctx)
    rt, ns = await _target(state, plural, group, version, namespace)
    read = await reading.read_object(state, rt, ns, check_name(name))
    obj = read.object
    answer = ObjectAnswer(
        resource=rt.display,
        source=read.source,
        resource_version=read.resource_version,
        stale_seconds=read.stale_seconds,
        cache=read.cache,
        object={},
    )
    meta = obj.get("metadata") or {}
    budget = state.settings.output_budget - 500
    if describe:
        answer.conditions = output.conditions_of(obj, key_only=False)
        try:
            events = await list_events(
                state.kube,
                state.discovery,
                ns,
                plural=rt.plural,
                group=rt.group,
                version=rt.version,
                name=name,
                uid=meta.get("uid"),
                limit=20,
                widen_cluster_scoped=not state.settings.allowed_namespaces,
            )
        except errors.K8sError as exc:  # events are context: their absence must not hide the object
            answer.events_note = f"Events unavailable: {hints.sentence(exc)}"
        else:
            answer.events = events.items
            if not events.items:
                answer.events_note = "No events recorded for this object (events expire after about an hour)."
        budget -= output.size_of(answer)
    if fields:
        obj = output.project(obj, fields)
    answer.object, answer.truncated = _budgeted_object(obj, max(budget, 1_000))
    return answer


async def create_custom_resource(
    ctx: Ctx,
    plural: Plural,
    body: Annotated[
        dict[str, Any] | str,
        Field(description="JSON or YAML; apiVersion, kind, namespace filled in"),
    ],
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    dry_run: DryRun = False,
) -> WriteAnswer:
    """Create a custom resource from a JSON object or YAML document."""
    state = app(ctx)
    document = _parse_document(body, "body")
    if not isinstance(document, dict):
        raise errors.InvalidInput("body must be one object (JSON object or YAML mapping) with at least metadata.name.")
    rt, ns = await _target(state, plural, group, version, namespace)
    created = await resources.create_object(state.kube, rt, ns, document, dry_run=dry_run)
    visible = None if dry_run else await reading.await_write(state, rt, ns, created)
    return _write_answer(state, "created", rt, created, dry_run, visible)


def _write_answer(
    state: AppState,
    action: Literal["created", "patched", "unchanged"],
    rt: ResourceType,
    obj: dict[str, Any],
    dry_run: bool,
    visible: bool | None,
) -> WriteAnswer:
    meta = obj.get("metadata") or {}
    shown, truncated = _budgeted_object(output.strip_object(obj), state.settings.output_budget - 500)
    return WriteAnswer(
        action=action,
        dry_run=dry_run,
        resource=rt.display,
        name=meta.get("name", ""),
        namespace=meta.get("namespace"),
        resource_version=meta.get("resourceVersion"),
        in_cache=visible,
        object=shown,
        truncated=truncated,
    )


def removed_paths(patch_type: str, document: Any) -> list[str]:
    """What a patch deletes: JSON patch `remove` operations, and fields set to null in a merge patch."""
    if patch_type == "json":
        return [str(op.get("path")) for op in document or () if isinstance(op, dict) and op.get("op") == "remove"]
    if patch_type != "merge" or not isinstance(document, dict):
        return []
    out: list[str] = []

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if value is None:
                out.append(f"{prefix}{key}")
            elif isinstance(value, dict):
                walk(value, f"{prefix}{key}.")

    walk(document, "")
    return out


@resolver("patch_custom_resource")
async def _confirm_removal(
    ctx: Ctx,
    plural: str,
    name: str,
    patch: Any,
    patch_type: str = "merge",
    group: str | None = None,
    version: str | None = None,
    namespace: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Any:
    """A patch that removes fields is asked about (naming them); one that sets fields is not."""
    removed = removed_paths(patch_type, _parse_document(patch, "patch"))
    if not removed:
        return Confirm(confirm=True)
    fields = ", ".join(removed[:10]) + (" and more" if len(removed) > 10 else "")
    target = await _existing(ctx, plural, name, group, version, namespace)
    return await ask_confirmation(ctx, f"Remove {fields} from {target}?", force=force, dry_run=dry_run)


async def _existing(
    ctx: Ctx, plural: str, name: str, group: str | None, version: str | None, namespace: str | None
) -> str:
    """Resolve type and namespace and make sure the object exists before anyone is asked about it; returns how the
    question names it (the canonical type, the resolved namespace)."""
    state = app(ctx)
    rt, ns = await _target(state, plural, group, version, namespace)
    with suppress(errors.Forbidden):  # may change but not read it: the request itself will tell
        await reading.read_object(state, rt, ns, check_name(name))
    where = f' in namespace "{ns}"' if ns else ""
    return f'{rt.qualified} "{name}"{where}'


async def patch_custom_resource(
    ctx: Ctx,
    plural: Plural,
    name: Name,
    confirmation: Annotated[ElicitationResult[Confirm], Resolve(_confirm_removal)],
    patch: Annotated[
        dict[str, Any] | list[dict[str, Any]] | str,
        Field(description="merge: partial object; json: RFC 6902 ops; apply: the fields you manage"),
    ],
    patch_type: Annotated[Literal["merge", "json", "apply"], Field()] = "merge",
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    subresource: Annotated[Literal["status"] | None, Field()] = None,
    force_conflicts: Annotated[bool, Field(description="apply: take over fields another manager owns")] = False,
    dry_run: DryRun = False,
    force: Force = False,
) -> WriteAnswer:
    """Patch a custom resource (merge, JSON patch or server-side apply); asks before removing fields."""
    state = app(ctx)
    document = _parse_document(patch, "patch")
    rt, ns = await _target(state, plural, group, version, namespace)
    if not confirmed(ctx, confirmation, force=force):
        current = (await reading.read_object(state, rt, ns, check_name(name))).object
        return _write_answer(state, "unchanged", rt, current, dry_run, None).model_copy(update={"note": NOT_CHANGED})
    if subresource and subresource not in rt.subresources:
        raise errors.InvalidInput(f"{rt.display} has no {subresource} subresource; patch the object itself.")
    patched = await resources.patch_object(
        state.kube,
        rt,
        ns,
        check_name(name),
        document,
        patch_type=patch_type,
        dry_run=dry_run,
        force=force_conflicts,
        subresource=subresource,
    )
    visible = None if dry_run else await reading.await_write(state, rt, ns, patched)
    return _write_answer(state, "patched", rt, patched, dry_run, visible)


@resolver("delete_custom_resource")
async def _confirm_delete(
    ctx: Ctx,
    plural: str,
    name: str,
    group: str | None = None,
    version: str | None = None,
    namespace: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Any:
    """Ask only about what would succeed: the type, the namespace and the object are resolved (and found) first,
    and the question names them as the server knows them."""
    target = await _existing(ctx, plural, name, group, version, namespace)
    return await ask_confirmation(ctx, f"Delete {target}?", force=force, dry_run=dry_run)


async def delete_custom_resource(
    ctx: Ctx,
    plural: Plural,
    name: Name,
    confirmation: Annotated[ElicitationResult[Confirm], Resolve(_confirm_delete)],
    group: Group = None,
    version: Version = None,
    namespace: Namespace = None,
    dry_run: DryRun = False,
    force: Force = False,
) -> DeleteAnswer:
    """Delete a custom resource; asks the user first."""
    state = app(ctx)
    rt, ns = await _target(state, plural, group, version, namespace)
    check_name(name)
    answer = DeleteAnswer(
        deleted=False, dry_run=dry_run, resource=rt.display, name=name, namespace=ns, message=DECLINED
    )
    if not confirmed(ctx, confirmation, force=force):
        return answer
    result = await resources.delete_object(state.kube, rt, ns, name, dry_run=dry_run)
    pending = (result.get("metadata") or {}).get("finalizers") if result.get("kind") != "Status" else None
    if dry_run:
        message = DRY_RUN_DELETE
    elif pending:
        await reading.await_write(state, rt, ns, result)
        message = f"Deletion started; waiting on finalizers {', '.join(pending)} before the object disappears."
    else:
        await reading.await_delete(state, rt, ns, name)
        message = "Deleted."
    return answer.model_copy(update={"deleted": not dry_run, "message": message})


TOOLS: list[ToolSpec] = [
    spec(list_custom_resources, title="List custom resources", read_only=True),
    spec(get_custom_resource, title="Get a custom resource", read_only=True),
    spec(create_custom_resource, title="Create a custom resource", read_only=False),
    # A patch can remove fields (JSON patch remove, null in a merge patch): destructive, and it asks first then.
    spec(patch_custom_resource, title="Patch a custom resource", read_only=False, destructive=True),
    spec(delete_custom_resource, title="Delete a custom resource", read_only=False, destructive=True, idempotent=True),
]
