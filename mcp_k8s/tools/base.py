"""What every tool shares: the app state, tool specs as plain data, the error boundary, parameter types, confirmation.

Toolsets are lists of `ToolSpec` so one filter (`select`) applies read-only mode centrally, and one wrapper
(`boundary`) turns every expected failure into a `ToolError` carrying our one-sentence message: in mcp 2.x only
`ToolError` text reaches the model; anything else is a crash the model sees as a bare "Error executing tool".

The boundary is also where a tool states what it is to the policy gate (`policy.acting(tool=..., secrets=...)`):
tools never check rules themselves; every request and cached read they make is decided below them
(mcp_k8s/policy.py). And every answer leaves scrubbed of any secret value the process has seen.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar, cast

import anyio
import orjson
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context, Elicit
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from mcp_k8s import errors, heap, output, policy
from mcp_k8s.cache.access import CacheAccess
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.kube.namespaces import resolve_namespace
from mcp_k8s.logging import get_logger, has_secret_values, scrub
from mcp_k8s.render import render
from mcp_k8s.settings import Settings
from mcp_k8s.tools import hints

if TYPE_CHECKING:
    from mcp_k8s.tools.uris import SubscriptionHub

log = get_logger("mcp_k8s.tools")


@dataclass
class AppState:
    """Built once by the server lifespan and handed to every tool through the MCP context."""

    settings: Settings
    kube: KubeClient
    discovery: Discovery
    cache: CacheAccess  # gated views only: the raw stores stay with the server and the daemon
    subscriptions: SubscriptionHub

    async def namespace(self, requested: str | None) -> str:
        return await resolve_namespace(self.kube, self.settings, requested)

    async def resource_type(self, plural: str, group: str | None, version: str | None) -> ResourceType:
        return await self.discovery.resolve(plural, group=group or None, version=version or None)


Ctx = Context[AppState, Any]


def app(ctx: Ctx) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """A tool as data: the function plus what clients and our own filters need to know about it."""

    fn: Callable[..., Awaitable[Any]]
    title: str
    read_only: bool
    destructive: bool = False
    idempotent: bool = False
    secrets: bool = False  # the secret toolset: the only tools the gate lets near core/v1 secrets

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def annotations(self) -> ToolAnnotations:
        # open_world is False: every tool talks to the one cluster this server is configured for, not the internet.
        return ToolAnnotations(
            title=self.title,
            read_only_hint=self.read_only,
            destructive_hint=self.destructive if not self.read_only else False,
            idempotent_hint=self.idempotent or self.read_only,
            open_world_hint=False,
        )


def spec(
    fn: Callable[..., Awaitable[Any]],
    *,
    title: str,
    read_only: bool,
    destructive: bool = False,
    idempotent: bool = False,
    secrets: bool = False,
) -> ToolSpec:
    return ToolSpec(
        fn=boundary(fn, secrets=secrets),
        title=title,
        read_only=read_only,
        destructive=destructive,
        idempotent=idempotent,
        secrets=secrets,
    )


def select(specs: list[ToolSpec], settings: Settings) -> list[ToolSpec]:
    """The tools this server registers: in --read-only mode, no tool that writes exists at all."""
    return [s for s in specs if s.read_only or not settings.read_only]


_AUDIT_ARGS = ("plural", "group", "version", "namespace", "name", "patch_type", "dry_run", "verb", "resource")


def boundary(fn: Callable[..., Awaitable[Any]], *, secrets: bool = False) -> Callable[..., Awaitable[Any]]:
    """Run the tool as itself for the policy gate; turn our errors into ToolError (scrubbed of secret values); log
    every call and failure to stderr, with the caller when one authenticated."""
    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        audit = {k: kwargs[k] for k in _AUDIT_ARGS if kwargs.get(k) is not None}
        caller = policy.current().caller
        if caller is not None:
            audit["caller"] = caller.user
        try:
            with policy.acting(tool=name, secrets=secrets):
                result = await fn(*args, **kwargs)
        except ToolError:
            raise
        except errors.K8sError as exc:
            log.info("tool failed", tool=name, error=type(exc).__name__, status=exc.status, **audit)
            raise ToolError(scrub(hints.sentence(exc))) from None
        except anyio.get_cancelled_exc_class():
            log.info("tool cancelled", tool=name, **audit)
            raise
        except Exception as exc:
            log.exception("tool crashed", tool=name, **audit)
            raise ToolError(
                f"{name} failed unexpectedly ({type(exc).__name__}); the server logged the details and keeps running."
            ) from None
        log.info("tool call", tool=name, **audit)
        heap.freeze_after_first_call()
        return as_result(result, scrub_values=not secrets)

    return wrapper


def describe_argument_errors(exc: ValidationError) -> str:
    """One sentence naming each bad argument and what it should be, never the value that was sent.

    Pydantic's own text spans lines, links to its docs and echoes `input_value`, which could be a secret the model
    put in the wrong field.
    """
    problems = []
    for err in exc.errors(include_url=False, include_input=False)[:6]:
        where = ".".join(str(part) for part in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    more = f" (and {exc.error_count() - 6} more)" if exc.error_count() > 6 else ""
    return f"Invalid arguments: {'; '.join(problems)}{more}. Fix them (see the tool's input schema) and call again."


def as_result(result: Any, *, scrub_values: bool = True) -> Any:
    """A model becomes a CallToolResult: structured content is the output schema's JSON (no nulls), and the text
    block is the same answer rendered for reading (render.py: tables, YAML, a metadata line), not the JSON again.

    Defense in depth: the answer is scrubbed of every secret value the process has seen (the gate already keeps
    Secrets out of other tools; this catches a copy of a value that lives somewhere else). The secret toolset is
    the exception: its answers are built from redacted views, and values appear only where the operator allowed
    them and the caller asked.
    """
    if not isinstance(result, BaseModel):
        return result
    structured = result.model_dump(mode="json", exclude_none=True)
    if scrub_values and has_secret_values():
        structured = _scrub_tree(structured)
    text = render(structured)
    if len(text) > _RENDER_CHECK:
        # A rendering is usually smaller than the JSON (no repeated keys); when it is not (deep objects, one very
        # wide column), the compact JSON is the text, so the answer still fits the budget the JSON was fitted to
        # (in bytes, as output.size_of counts).
        compact = _compact_json(structured)
        if len(text.encode()) > len(compact):
            text = compact.decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _compact_json(value: Any) -> bytes:
    try:
        return orjson.dumps(value)  # several times quicker than json.dumps; what a page of rows needs
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


_RENDER_CHECK = 2_000


def _scrub_tree(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(v) for v in value]
    return value


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
Row = TypeVar("Row")
AnswerT = TypeVar("AnswerT", bound=BaseModel)
# (namespace, the server's continue token) -> (rows of that page, the server's next continue token)
PageFetch = Callable[[str | None, str | None], Awaitable[tuple[list[Row], str | None]]]


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a listing, fitted to the answer budget."""

    namespace: str | None  # the single namespace listed; None for several, all, or a cluster-scoped type
    rows: list[Row]
    continue_token: str | None
    truncated: output.Truncation | None

    def answer(self, model: type[AnswerT], **fields: Any) -> AnswerT:
        """The tool's list answer: every listing model shares these five fields."""
        return model(
            namespace=self.namespace,
            count=len(self.rows),
            items=self.rows,
            continue_token=self.continue_token,
            truncated=self.truncated,
            **fields,
        )


async def paged(
    state: AppState,
    *,
    namespace: str | None,
    all_namespaces: bool,
    namespaced: bool,
    continue_token: str | None,
    fetch: PageFetch[Row],
    overhead: int,
    narrow: str = "label_selector or a smaller limit",
    token_fields: dict[str, Any] | None = None,
) -> Page[Row]:
    """The one way tools page through the API: one namespace, the allowed set, or everything.

    Our continue token records which namespace of the set, the server's own continue token, and how many rows of the
    server's page were already shown, so a page cut to fit the budget resumes exactly where it stopped.
    """
    namespaces: list[str | None]
    if not namespaced:
        namespaces = [None]
    elif all_namespaces:
        namespaces = state.kube.policy.visible_namespaces(None)
    else:
        namespaces = [await state.namespace(namespace)]
    token = output.decode_token(continue_token) if continue_token else {}
    index = token.get("i", 0)
    if not isinstance(index, int) or not 0 <= index < len(namespaces):
        raise errors.InvalidInput("continue_token does not match this listing; start again without it.")
    rows, server_next = await fetch(namespaces[index], token.get("c"))
    skip = token.get("s", 0)
    rows = rows[skip:] if isinstance(skip, int) and skip >= 0 else rows
    extra = token_fields or {}

    def token_for(fit: int) -> str | None:
        if fit < len(rows):
            return output.encode_token({**extra, "i": index, "c": token.get("c"), "s": skip + fit})
        if server_next:
            return output.encode_token({**extra, "i": index, "c": server_next, "s": 0})
        if index + 1 < len(namespaces):
            return output.encode_token({**extra, "i": index + 1, "s": 0})
        return None

    fit, next_token, truncated = output.cut_page(
        rows, state.settings.output_budget, overhead, token_for=token_for, hint=output.CUT_HINT.format(narrow=narrow)
    )
    return Page(
        namespace=namespaces[index] if len(namespaces) == 1 else None,
        rows=rows[:fit],
        continue_token=next_token,
        truncated=truncated,
    )


# Parameter types shared by the tools. Descriptions are what the model reads with every turn: only what a name does
# not already say.
Plural = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        description="Type: plural, kind or short name (widgets, Widget, wg); or plural.group",
    ),
]
Group = Annotated[str | None, Field(default=None, max_length=253)]
Version = Annotated[str | None, Field(default=None, max_length=63)]
Name = Annotated[str, Field(min_length=1, max_length=253)]
Namespace = Annotated[str | None, Field(default=None, max_length=63)]  # default: the server's namespace
AllNamespaces = bool
LabelSelector = Annotated[str | None, Field(default=None, max_length=1024)]
FieldSelector = Annotated[str | None, Field(default=None, max_length=1024)]
Limit = Annotated[int, Field(default=50, ge=1, le=1_000)]  # the answer budget may cut a page shorter
ContinueToken = Annotated[str | None, Field(default=None, max_length=8192)]
DryRun = Annotated[bool, Field(default=False)]
Force = Annotated[bool, Field(default=False, description="Only if the user asked")]


def check_name(name: str) -> str:
    """Object names become URL path segments: refuse what cannot be a Kubernetes name before building a path."""
    if name in (".", "..") or any(c in name for c in "/\\?#%") or any(ord(c) < 33 or ord(c) == 127 for c in name):
        raise errors.InvalidInput(
            f"{name[:80]!r} is not a valid object name; names use lowercase letters, digits, '-' and '.'."
        )
    return name


class Confirm(BaseModel):
    """The answer to a confirmation question."""

    confirm: bool = Field(description="true to go ahead")


def resolver(tool: str, *, secrets: bool = False) -> Callable[[F], F]:
    """For a confirmation resolver (which the SDK runs before the tool's body): act as the tool for the policy gate,
    and turn our errors into the tool's one-sentence error, so a type, namespace or object that does not exist is
    reported before anyone is asked to confirm anything."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with policy.acting(tool=tool, secrets=secrets):
                    return await fn(*args, **kwargs)
            except errors.K8sError as exc:
                log.info("tool failed", tool=tool, error=type(exc).__name__, status=exc.status)
                raise ToolError(scrub(hints.sentence(exc))) from None

        return cast(F, wrapper)

    return wrap


async def ask_confirmation(
    ctx: Context[Any, Any], question: str, *, force: bool, dry_run: bool
) -> Elicit[Confirm] | Confirm:
    """Ask the user through MCP elicitation when the client can; otherwise only an explicit force=true goes ahead."""
    if force or dry_run:
        return Confirm(confirm=True)
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return Confirm(confirm=False)
    return Elicit(question, Confirm)


def confirmed(ctx: Context[Any, Any], confirmation: ElicitationResult[Confirm], *, force: bool) -> bool:
    """True to go ahead, False when the user declined; NotAllowed when nobody could be asked and force was not given."""
    if isinstance(confirmation, AcceptedElicitation) and confirmation.data.confirm:
        return True
    capabilities = ctx.client_capabilities
    if not force and (capabilities is None or capabilities.elicitation is None):
        raise errors.NotAllowed(NOT_CONFIRMED_NO_CLIENT)
    return False


DECLINED = "The user did not confirm; nothing was deleted."
NOT_CHANGED = "The user did not confirm; nothing was changed."
DRY_RUN_DELETE = "Dry run: the server accepted the deletion; nothing was deleted."

NOT_CONFIRMED_NO_CLIENT = (
    "Not done: this client cannot ask the user to confirm a destructive operation; call again with force=true only "
    "if the user explicitly asked for it."
)
