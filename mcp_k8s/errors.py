"""Our error tree, built from ApiException and the Kubernetes Status body; each error renders one actionable sentence.

    K8sError
    ├── LocalError              decided here, before or instead of asking the cluster
    │   ├── InvalidInput            bad tool arguments caught before any request (our validation)
    │   ├── NotAllowed              refused by this server's own policy (read-only, allowed namespaces, secrets)
    │   └── NotConfigured           no usable kubeconfig / in-cluster configuration
    └── ApiError                the API server's answer (or its absence)
        ├── Invalid                 400/422: the API rejected the object; lists the offending fields
        ├── Unauthorized            401: credentials rejected
        ├── Forbidden               403: RBAC said no; names verb, resource, namespace
        ├── NotFound                404: no such object (kind/name/namespace)
        │   └── TypeNotFound            no such resource type (with close matches when we know them)
        ├── Conflict                409: modified concurrently, or (server-side apply) fields another manager owns
        │   └── AlreadyExists
        ├── Expired                 410: resourceVersion or continue token too old
        ├── TooManyRequests         429: throttled; retry after N seconds
        ├── ServerError             5xx (and 504 timeouts)
        └── Unavailable             could not reach the API server at all (refused, DNS, TLS, timeout)

The message is what the model reads, so it is one sentence that says what was wrong and what to do. It never
includes a response body dump, and the tool boundary scrubs it for registered secret values as a last resort.
Where the way out is a tool or one of its parameters, this layer does not name it (it does not know the tools): the
error carries a `Hint` (which way out, and the fact it follows) and tools/hints.py words it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_k8s.objects import clip


@dataclass(frozen=True, kw_only=True)
class Operation:
    """What we were doing when the API answered: enough to name verb, resource, name and namespace in a message."""

    verb: str
    resource: str  # e.g. "widgets.example.com", "secrets", "pods/log"
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    apply: bool = False  # a server-side apply: its 409 is a field-ownership conflict, not a stale read

    def target(self) -> str:
        """`widget "w1" in namespace "ns"`, `widgets.example.com in namespace "ns"`, or cluster-wide forms."""
        what = f'{(self.kind or self.resource).lower()} "{self.name}"' if self.name else self.resource
        return f'{what} in namespace "{self.namespace}"' if self.namespace else what

    def action(self) -> str:
        where = f' in namespace "{self.namespace}"' if self.namespace else " cluster-wide"
        named = f' "{self.name}"' if self.name else ""
        return f"{self.verb} {self.resource}{named}{where}"


class Remedy(enum.Enum):
    """A way out that is a tool or a parameter, so only tools/hints.py may put it in words."""

    CHECK_ACCESS = enum.auto()  # refused by RBAC: ask what the credentials may do
    FIND_TYPE = enum.auto()  # a type the server does not serve: look it up among the served ones
    LIST_TYPES = enum.auto()  # a type name discovery does not know: the list of served types has it
    NO_TYPE = enum.auto()  # an empty resource type
    NO_VERB = enum.auto()  # an empty verb in an access question
    FORCE_APPLY = enum.auto()  # a server-side apply met fields another manager owns: take them over
    NAME_CONTAINER = enum.auto()  # a pod with several containers: name one
    UPDATE_SECRET = enum.auto()  # create met an existing secret: change that one instead
    NAME_NEEDS_TYPE = enum.auto()  # events about a named object: give its type too
    NOTHING_TO_UPDATE = enum.auto()  # an update that changes nothing: give something to change


@dataclass(frozen=True)
class Hint:
    """The structured half of an error whose way out names a tool or parameter: `fact` says what went wrong."""

    remedy: Remedy
    fact: str


class K8sError(Exception):
    """Base of our errors. `str()` is the sentence without tool names; a tool says `hints.sentence(error)`."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
        hint: Hint | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.hint = hint


class LocalError(K8sError):
    """Decided by this server (its validation, policy or configuration); the cluster was not asked, or not reached."""


class InvalidInput(LocalError):
    """The tool arguments are wrong; nothing was sent to the cluster."""


class NotAllowed(LocalError):
    """This server's own policy refused the call (read-only mode, allowed namespaces, secret values)."""


class NotConfigured(LocalError):
    """No usable cluster configuration was found; the message says where we looked."""


class ApiError(K8sError):
    """The API server refused or failed the request, or could not be reached; `status` is its HTTP status."""


class Invalid(ApiError):
    """400/422: the API server rejected the request or object as invalid."""


class Unauthorized(ApiError):
    """401: the API server rejected the credentials."""


class Forbidden(ApiError):
    """403: the authorizer (RBAC) refused the request."""


class NotFound(ApiError):
    """404: no such object."""


class TypeNotFound(NotFound):
    """No such resource type is served (its CRD may not be installed)."""


class Conflict(ApiError):
    """409: the object changed since it was read, or a server-side apply met fields another manager owns."""


class AlreadyExists(Conflict):
    """409 on create: an object with that name exists."""


class Expired(ApiError):
    """410: a resourceVersion or continue token is too old."""


class TooManyRequests(ApiError):
    """429: the API server is throttling; `retry_after` says when to try again."""


class ServerError(ApiError):
    """5xx (and 504 timeouts): the API server failed."""


class Unavailable(ApiError):
    """The API server could not be reached at all (refused, DNS, TLS, timeout)."""


E = TypeVar("E", bound=K8sError)


def hinted(
    kind: type[E], fact: str, remedy: Remedy, otherwise: str, *, status: int | None = None, reason: str | None = None
) -> E:
    """`fact; otherwise.` as the error's own sentence; at a tool's boundary `remedy`, in tool words, replaces it."""
    return kind(f"{fact}; {otherwise}.", status=status, reason=reason, hint=Hint(remedy, fact))


def parse_status(body: Any) -> dict[str, Any]:
    """The Status object from a response body (bytes, str or dict); {} when the body is not a Status."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {}
    if isinstance(body, dict) and body.get("kind") == "Status":
        return body
    return {}


_FORBIDDEN_USER = re.compile(r'(?:User|user) "([^"]+)"')
_MAX_DETAIL = 300


def _causes(status: dict[str, Any]) -> list[str]:
    out = []
    for cause in (status.get("details") or {}).get("causes") or []:
        field = cause.get("field") or ""
        message = cause.get("message") or cause.get("reason") or "invalid"
        out.append(f"{field}: {message}" if field else message)
    return out


@dataclass(frozen=True)
class _Reply:
    """An error answer from the API server, as the sentence builders below read it."""

    code: int
    op: Operation
    status: dict[str, Any]
    server: str | None
    retry_after_header: str | None

    @property
    def reason(self) -> str | None:
        return self.status.get("reason")

    @property
    def message(self) -> str:
        return clip(str(self.status.get("message") or ""), _MAX_DETAIL)

    @property
    def details(self) -> dict[str, Any]:
        return self.status.get("details") or {}

    def error(self, kind: type[ApiError], message: str, *, retry_after: float | None = None) -> ApiError:
        return kind(message, status=self.code, reason=self.reason, retry_after=retry_after)

    def hinted(self, kind: type[ApiError], fact: str, remedy: Remedy, otherwise: str) -> ApiError:
        return hinted(kind, fact, remedy, otherwise, status=self.code, reason=self.reason)


def _invalid(r: _Reply) -> ApiError:
    causes = _causes(r.status)
    fields = "; ".join(causes) if causes else r.message or "the request was malformed"
    return r.error(
        Invalid,
        f"The API server rejected {r.op.verb} {r.op.target()} as invalid: {clip(fields, _MAX_DETAIL)}. "
        "Fix those fields and retry.",
    )


def _unauthorized(r: _Reply) -> ApiError:
    where = f" at {r.server}" if r.server else ""
    return r.error(
        Unauthorized,
        f"The API server{where} rejected the credentials (401 Unauthorized) for {r.op.action()}; refresh the "
        "kubeconfig or token (e.g. log in again) and retry.",
    )


def _forbidden(r: _Reply) -> ApiError:
    user = _FORBIDDEN_USER.search(r.message)
    who = f'user "{user.group(1)}"' if user else "the credentials in use"
    return r.hinted(
        Forbidden, f"Forbidden: {who} may not {r.op.action()}", Remedy.CHECK_ACCESS, "ask for that RBAC permission"
    )


def _not_found(r: _Reply) -> ApiError:
    op = r.op
    if r.details.get("name") or op.name:
        target = dataclasses.replace(op, name=r.details.get("name") or op.name).target()
        return r.error(
            NotFound,
            f"{_capitalize(target)} was not found; list {op.resource} to see what exists, or check the namespace.",
        )
    where = f' in namespace "{op.namespace}"' if op.namespace else ""
    return r.hinted(
        TypeNotFound,
        f"The API server does not serve {op.resource}{where}",
        Remedy.FIND_TYPE,
        "check the resource type (its CRD may not be installed)",
    )


def _conflict(r: _Reply) -> ApiError:
    op = r.op
    if r.reason == "AlreadyExists":
        return r.error(
            AlreadyExists, f"{_capitalize(op.target())} already exists; patch it instead, or choose another name."
        )
    if op.apply:  # the server names the fields and their managers; forcing takes them over
        return r.hinted(
            Conflict,
            f"Conflict on {op.verb} (server-side apply) {op.target()}: "
            f"{r.message or 'another field manager owns fields in this apply'}",
            Remedy.FORCE_APPLY,
            "leave those fields out of the apply, or force it to take ownership of them",
        )
    return r.error(
        Conflict,
        f"Conflict on {op.verb} {op.target()}: {r.message or 'the object was modified concurrently'}; re-read "
        "the object and retry with its latest state.",
    )


def _expired(r: _Reply) -> ApiError:
    return r.error(
        Expired,
        f"The resourceVersion or continue token for {r.op.action()} has expired (410 Gone); start the listing "
        "again without a continue token.",
    )


def _throttled(r: _Reply) -> ApiError:
    retry = r.details.get("retryAfterSeconds") or _header_seconds(r.retry_after_header) or 1
    return r.error(
        TooManyRequests,
        f"The API server is throttling requests (429) for {r.op.action()}; retry in {retry} seconds.",
        retry_after=float(retry),
    )


def _server_error(r: _Reply) -> ApiError:
    if r.code == 504 or r.reason == "Timeout":
        return r.error(
            ServerError,
            f"The API server timed out (504) on {r.op.action()}; retry shortly, or narrow the request "
            "(a label selector or a smaller limit).",
        )
    if r.code >= 500:
        detail = f": {r.message}" if r.message else ""
        return r.error(ServerError, f"The API server failed ({r.code}) on {r.op.action()}{detail}; retry shortly.")
    detail = f": {r.message}" if r.message else ""
    return r.error(ApiError, f"The API server answered {r.code} to {r.op.action()}{detail}.")


_BY_CODE = {
    400: _invalid,
    401: _unauthorized,
    403: _forbidden,
    404: _not_found,
    409: _conflict,
    410: _expired,
    422: _invalid,
    429: _throttled,
}


def from_status(
    code: int,
    body: Any,
    op: Operation,
    *,
    server: str | None = None,
    retry_after_header: str | None = None,
) -> K8sError:
    """Map an HTTP status + Status body to our error with one actionable sentence."""
    reply = _Reply(code, op, parse_status(body), server, retry_after_header)
    return _BY_CODE.get(code, _server_error)(reply)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _header_seconds(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


def unavailable(op: Operation, *, server: str | None, cause: str, context: str | None = None) -> Unavailable:
    where = f" at {server}" if server else ""
    ctx = f' (context "{context}")' if context else ""
    return Unavailable(
        f"Cannot reach the API server{where}{ctx} to {op.action()}: {clip(cause, _MAX_DETAIL)}; check that the "
        "cluster is running and the kubeconfig points at it, then retry.",
    )
