"""Secret tools: list, get, create, update, delete, with values kept out of every answer by construction.

Answers are built from kube/secrets.py's redacted views (keys, decoded sizes, type, metadata), never from raw objects.
Values come back only from `get_secret(include_values=true)` on a server started with --allow-secret-values; values
the server generates are stored in the cluster and never returned, whatever the policy. Values the model sends are
registered for log and error scrubbing while the arguments are still being validated.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any, Literal

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Resolve
from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from mcp_k8s import errors, output
from mcp_k8s.kube import secret_data, secrets
from mcp_k8s.kube.secret_data import GeneratedKey
from mcp_k8s.kube.secrets import SecretView
from mcp_k8s.tools.answers import Listing
from mcp_k8s.tools.base import (
    DECLINED,
    DRY_RUN_DELETE,
    NOT_CHANGED,
    Confirm,
    Ctx,
    DryRun,
    Force,
    Name,
    Namespace,
    ToolSpec,
    app,
    ask_confirmation,
    check_name,
    confirmed,
    resolver,
    spec,
)
from mcp_k8s.tools.listing import row_tool
from mcp_k8s.tools.secret_arguments import GenerateSpec, parse_change

_MAX_KEYS_IN_ROW = 50
WITHHELD_BY_POLICY = (
    "Values are withheld by server policy (mcp-k8s was not started with --allow-secret-values); keys and decoded "
    "sizes are shown."
)
NOT_REQUESTED = "Values not included; pass include_values=true to read them."

# `Any` on purpose: a malformed `data` must not fail argument validation, whose message would echo the values.
# secret_arguments.parse_data checks the shape and names offending keys only; the validator registers the values
# before anything else.
SecretData = Annotated[
    Any,
    BeforeValidator(secret_data.register_given),
    WithJsonSchema(
        {
            "anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "null"}],
            "description": "Key → plain-text value (not base64)",
        }
    ),
]
Generate = Annotated[
    list[GenerateSpec | str] | None,
    Field(
        default=None,
        max_length=secret_data.MAX_KEYS_PER_CALL,
        description="Keys to fill with generated values, never returned: a name or {key, length, alphabet, characters}",
    ),
]
Labels = Annotated[dict[str, str] | None, Field(default=None)]


class SecretRow(BaseModel):
    """One secret in a listing: names only, never values."""

    name: str
    namespace: str | None = None
    type: str
    keys: list[str]
    more_keys: int | None = Field(default=None, description="Keys not shown in this row (see get_secret)")
    immutable: bool | None = None
    age: str | None = None


class SecretList(Listing[SecretRow]):
    """A page of secrets: names, types and keys, never values."""


class SecretDetails(SecretView):
    """One secret: keys with sizes, type and metadata; values only where the server's policy allows."""

    age: str | None = None
    values: dict[str, str] | None = Field(
        default=None, description="Decoded values (include_values=true on a server run with --allow-secret-values)"
    )
    values_base64: dict[str, str] | None = Field(default=None, description="Values that are not UTF-8 text, base64")
    truncated: output.Truncation | None = None
    note: str | None = None


class SecretWriteAnswer(SecretView):
    """The secret as stored (or as it would be, for a dry run), with what changed; values are never included."""

    action: Literal["created", "updated", "unchanged"]
    dry_run: bool
    generated: list[GeneratedKey] | None = Field(
        default=None, description="Keys whose values the server generated and stored (values are never returned)"
    )
    added: list[str] | None = None
    replaced: list[str] | None = None
    removed: list[str] | None = None
    not_present: list[str] | None = Field(default=None, description="Keys asked to be removed that did not exist")
    truncated: output.Truncation | None = None
    note: str | None = None


class SecretDeleteAnswer(BaseModel):
    deleted: bool
    dry_run: bool
    name: str
    namespace: str
    message: str


def _or_none(items: list[Any]) -> list[Any] | None:
    return items or None


def _row(view: SecretView, with_namespace: bool, key_bytes: int) -> SecretRow:
    """A listing row; a secret with many (or long) keys shows the first ones so one row never eats the budget."""
    keys: list[str] = []
    used = 0
    for info in view.keys[:_MAX_KEYS_IN_ROW]:
        used += len(info.key) + 3
        if keys and used > key_bytes:
            break
        keys.append(info.key)
    return SecretRow(
        name=view.name,
        namespace=view.namespace if with_namespace else None,
        type=view.type,
        keys=keys,
        more_keys=len(view.keys) - len(keys) or None,
        immutable=True if view.immutable else None,
        age=output.age(view.created),
    )


def _fit_keys(view: SecretView, budget: int) -> tuple[SecretView, output.Truncation | None]:
    """A secret with thousands of keys still gets an answer inside the budget, with the cut stated."""
    if output.size_of(view) <= budget:
        return view, None
    bare = view.model_copy(update={"keys": []})
    fit, _, truncated = output.cut_page(
        view.keys,
        budget,
        output.size_of(bare),
        hint="Too many keys for the answer budget; the first ones are shown, sorted.",
    )
    return view.model_copy(update={"keys": view.keys[:fit]}), truncated


list_secrets = row_tool(
    "list_secrets",
    secrets.list_secrets,
    SecretList,
    "List secrets: names, types and keys, never values.",
    shape=lambda view, all_namespaces, state: _row(view, all_namespaces, max(200, state.settings.output_budget // 10)),
    narrow="label_selector or a smaller limit",
)


async def get_secret(
    ctx: Ctx,
    name: Name,
    namespace: Namespace = None,
    include_values: Annotated[bool, Field(description="Needs --allow-secret-values on the server")] = False,
    keys: Annotated[
        list[str] | None,
        Field(default=None, max_length=secret_data.MAX_KEYS_PER_CALL),
    ] = None,
) -> SecretDetails:
    """Get one secret: keys with sizes, type, labels; values only if the server allows."""
    state = app(ctx)
    ns = await state.namespace(namespace)
    stored = await secrets.read_secret(state.kube, ns, check_name(name))
    budget = state.settings.output_budget - 500
    view, truncated = _fit_keys(stored.view, budget)
    details = SecretDetails(**view.model_dump(), age=output.age(view.created))
    if not state.settings.allow_secret_values:
        return details.model_copy(update={"truncated": truncated, "note": WITHHELD_BY_POLICY})
    if not include_values:
        return details.model_copy(update={"truncated": truncated, "note": NOT_REQUESTED})
    revealed = stored.reveal(state.settings, keys)
    values: dict[str, str] = {}
    binary: dict[str, str] = {}
    left_out: list[str] = []
    used = output.size_of(details) + 200
    for target, source in ((values, revealed.text), (binary, revealed.base64)):
        for key, value in source.items():
            cost = output.size_of({key: value})
            if used + cost > budget:
                left_out.append(key)
                continue
            target[key] = value
            used += cost
    if left_out:
        truncated = output.Truncation(
            omitted=len(left_out),
            hint=f"Values of {', '.join(left_out[:10])} did not fit the answer budget; ask for fewer with keys=[...].",
        )
    note: str | None = None
    if revealed.withheld:
        note = (
            f"Values of {', '.join(revealed.withheld)} were generated by the server and are never returned; they "
            "stay in the cluster (reference them by key)."
        )
    return details.model_copy(
        update={"values": values or None, "values_base64": binary or None, "truncated": truncated, "note": note}
    )


def _write_answer(
    budget: int, action: Literal["created", "updated"], result: secrets.WriteResult, dry_run: bool
) -> SecretWriteAnswer:
    view, truncated = _fit_keys(result.stored.view, budget - 1_000)
    note = None
    if result.generated:
        done = "would be generated" if dry_run else "were generated and stored in the cluster"
        note = (
            f"Values for {', '.join(g.key for g in result.generated)} {done}; they are never returned. Reference "
            "them by key (e.g. secretKeyRef)."
        )
    elif dry_run:
        note = "Dry run: the server validated the change; nothing was stored."
    return SecretWriteAnswer(
        **view.model_dump(),
        action=action,
        dry_run=dry_run,
        generated=_or_none(result.generated),
        added=_or_none(result.added),
        replaced=_or_none(result.replaced),
        removed=_or_none(result.removed),
        not_present=_or_none(result.not_present),
        truncated=truncated,
        note=note,
    )


async def create_secret(
    ctx: Ctx,
    name: Name,
    data: SecretData = None,
    generate: Generate = None,
    type: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            description="e.g. Opaque, kubernetes.io/tls",
        ),
    ] = "Opaque",
    labels: Labels = None,
    annotations: Annotated[dict[str, str] | None, Field(default=None)] = None,
    immutable: Annotated[bool, Field()] = False,
    namespace: Namespace = None,
    dry_run: DryRun = False,
) -> SecretWriteAnswer:
    """Create a secret from given values and/or generated ones (never returned)."""
    check_name(name)
    change = parse_change(data, generate)
    state = app(ctx)
    ns = await state.namespace(namespace)
    result = await secrets.create_secret(
        state.kube,
        ns,
        name,
        change,
        secret_type=type,
        labels=labels,
        annotations=annotations,
        immutable=immutable,
        dry_run=dry_run,
    )
    return _write_answer(state.settings.output_budget, "created", result, dry_run)


@resolver("update_secret", secrets=True)
async def _confirm_loss(
    ctx: Ctx,
    name: str,
    data: Any = None,
    generate: Any = None,
    remove_keys: list[str] | None = None,
    namespace: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> Any:
    """Replacing or removing a key loses a value nobody can read back: ask first, about exactly those keys. Adding
    keys or labels loses nothing and is not asked about."""
    state = app(ctx)
    change = parse_change(data, generate, remove_keys or ())
    ns = await state.namespace(namespace)
    current = await secrets.read_secret(state.kube, ns, check_name(name))
    secrets.check_mutable(current, change, ns)
    existing = {k.key for k in current.view.keys}
    lost = sorted(change.touched & existing)
    if not lost:
        return Confirm(confirm=True)
    keys = ", ".join(lost[:10]) + (" and more" if len(lost) > 10 else "")
    question = f'Overwrite or drop {keys} in secret "{name}" (namespace "{ns}")? Their values cannot be recovered.'

    return await ask_confirmation(ctx, question, force=force, dry_run=dry_run)


async def update_secret(
    ctx: Ctx,
    name: Name,
    confirmation: Annotated[ElicitationResult[Confirm], Resolve(_confirm_loss)],
    data: SecretData = None,
    generate: Generate = None,
    remove_keys: Annotated[list[str] | None, Field(default=None, max_length=secret_data.MAX_KEYS_PER_CALL)] = None,
    labels: Labels = None,
    namespace: Namespace = None,
    dry_run: DryRun = False,
    force: Force = False,
) -> SecretWriteAnswer:
    """Set, replace or remove keys; other keys are kept. Asks before a value is lost."""
    check_name(name)
    change = parse_change(data, generate, remove_keys or ())
    state = app(ctx)
    ns = await state.namespace(namespace)
    if not confirmed(ctx, confirmation, force=force):
        current = await secrets.read_secret(state.kube, ns, name)
        unchanged = secrets.WriteResult(stored=current, generated=[])
        return _write_answer(state.settings.output_budget, "updated", unchanged, dry_run).model_copy(
            update={"action": "unchanged", "note": NOT_CHANGED}
        )
    result = await secrets.update_secret(
        state.kube,
        ns,
        name,
        change,
        labels=labels,
        dry_run=dry_run,
    )
    return _write_answer(state.settings.output_budget, "updated", result, dry_run)


@resolver("delete_secret", secrets=True)
async def _confirm_delete(
    ctx: Ctx, name: str, namespace: str | None = None, force: bool = False, dry_run: bool = False
) -> Any:
    """Ask only about a secret that exists, in the namespace it resolved to."""
    state = app(ctx)
    ns = await state.namespace(namespace)
    with suppress(errors.Forbidden):  # may delete but not read: the delete itself will tell
        await secrets.read_secret(state.kube, ns, check_name(name))
    return await ask_confirmation(ctx, f'Delete secret "{name}" in namespace "{ns}"?', force=force, dry_run=dry_run)


async def delete_secret(
    ctx: Ctx,
    name: Name,
    confirmation: Annotated[ElicitationResult[Confirm], Resolve(_confirm_delete)],
    namespace: Namespace = None,
    dry_run: DryRun = False,
    force: Force = False,
) -> SecretDeleteAnswer:
    """Delete a secret; asks the user first."""
    state = app(ctx)
    ns = await state.namespace(namespace)
    check_name(name)
    answer = SecretDeleteAnswer(deleted=False, dry_run=dry_run, name=name, namespace=ns, message=DECLINED)
    if not confirmed(ctx, confirmation, force=force):
        return answer
    await secrets.delete_secret(state.kube, ns, name, dry_run=dry_run)
    if dry_run:
        return answer.model_copy(update={"message": DRY_RUN_DELETE})
    return answer.model_copy(update={"deleted": True, "message": "Deleted."})


TOOLS: list[ToolSpec] = [
    spec(list_secrets, title="List secrets", read_only=True, secrets=True),
    spec(get_secret, title="Get a secret", read_only=True, secrets=True),
    spec(create_secret, title="Create a secret", read_only=False, secrets=True),
    # Replacing or removing a key loses the old value for good: destructive. Generated values differ per call.
    spec(update_secret, title="Update a secret", read_only=False, destructive=True, secrets=True),
    spec(delete_secret, title="Delete a secret", read_only=False, destructive=True, idempotent=True, secrets=True),
]
