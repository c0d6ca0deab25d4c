"""Our error tree, built from ApiException and the Kubernetes Status body; each error renders one actionable sentence.

    K8sError
    ├── InvalidInput        bad tool arguments caught before any request (our validation)
    ├── NotAllowed          refused by this server's own policy (read-only, allowed namespaces, secret values)
    ├── NotConfigured       no usable kubeconfig / in-cluster configuration
    ├── Invalid             400/422: the API rejected the object; lists the offending fields (details.causes)
    ├── Unauthorized        401: credentials rejected
    ├── Forbidden           403: RBAC said no; names verb, resource, namespace; suggests check_access
    ├── NotFound            404: no such object (kind/name/namespace)
    │   └── TypeNotFound        no such resource type (with close matches when we know them)
    ├── Conflict            409: modified concurrently
    │   └── AlreadyExists
    ├── Expired             410: resourceVersion or continue token too old
    ├── TooManyRequests     429: throttled; retry after N seconds
    ├── ServerError         5xx (and 504 timeouts)
    └── Unavailable         could not reach the API server at all (refused, DNS, TLS, timeout)

The message is what the model reads, so it is one sentence that says what was wrong and what to do. It never
includes a response body dump, and the tool boundary scrubs it for registered secret values as a last resort.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: importing errors (e.g. from the I/O-free cache store) must not load the client
    from kubernetes_asyncio.client.rest import ApiException


@dataclass(frozen=True, kw_only=True)
class Operation:
    """What we were doing when the API answered: enough to name verb, resource, name and namespace in a message."""

    verb: str
    resource: str  # e.g. "widgets.example.com", "secrets", "pods/log"
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None

    def target(self) -> str:
        """`widget "w1" in namespace "ns"`, `widgets.example.com in namespace "ns"`, or cluster-wide forms."""
        what = f'{(self.kind or self.resource).lower()} "{self.name}"' if self.name else self.resource
        return f'{what} in namespace "{self.namespace}"' if self.namespace else what

    def action(self) -> str:
        where = f' in namespace "{self.namespace}"' if self.namespace else " cluster-wide"
        named = f' "{self.name}"' if self.name else ""
        return f"{self.verb} {self.resource}{named}{where}"


class K8sError(Exception):
    """Base of our errors. `str()` is the sentence the model sees."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class InvalidInput(K8sError):
    """The tool arguments are wrong; nothing was sent to the cluster."""


class NotAllowed(K8sError):
    """This server's own policy refused the call (read-only mode, allowed namespaces, secret values)."""


class NotConfigured(K8sError):
    """No usable cluster configuration was found; the message says where we looked."""


class Invalid(K8sError):
    pass


class Unauthorized(K8sError):
    pass


class Forbidden(K8sError):
    pass


class NotFound(K8sError):
    pass


class TypeNotFound(NotFound):
    pass


class Conflict(K8sError):
    retryable = True


class AlreadyExists(Conflict):
    retryable = False


class Expired(K8sError):
    pass


class TooManyRequests(K8sError):
    retryable = True


class ServerError(K8sError):
    retryable = True


class Unavailable(K8sError):
    retryable = True


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


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _causes(status: dict[str, Any]) -> list[str]:
    out = []
    for cause in (status.get("details") or {}).get("causes") or []:
        field = cause.get("field") or ""
        message = cause.get("message") or cause.get("reason") or "invalid"
        out.append(f"{field}: {message}" if field else message)
    return out


def from_status(
    code: int,
    body: Any,
    op: Operation,
    *,
    server: str | None = None,
    retry_after_header: str | None = None,
) -> K8sError:
    """Map an HTTP status + Status body to our error with one actionable sentence."""
    status = parse_status(body)
    reason = status.get("reason")
    api_message = _short(str(status.get("message") or ""))
    details = status.get("details") or {}
    if code in (400, 422):
        causes = _causes(status)
        fields = "; ".join(causes) if causes else api_message or "the request was malformed"
        return Invalid(
            f"The API server rejected {op.verb} {op.target()} as invalid: {_short(fields)}. "
            "Fix those fields and retry.",
            status=code,
            reason=reason,
        )
    if code == 401:
        where = f" at {server}" if server else ""
        return Unauthorized(
            f"The API server{where} rejected the credentials (401 Unauthorized) for {op.action()}; refresh the "
            "kubeconfig or token (e.g. log in again) and retry.",
            status=code,
            reason=reason,
        )
    if code == 403:
        user = _FORBIDDEN_USER.search(api_message)
        who = f'user "{user.group(1)}"' if user else "the credentials in use"
        return Forbidden(
            f"Forbidden: {who} may not {op.action()}; ask for that RBAC permission, or call check_access to see "
            "what is allowed.",
            status=code,
            reason=reason,
        )
    if code == 404:
        if details.get("name") or op.name:
            target = dataclasses.replace(op, name=details.get("name") or op.name).target()
            return NotFound(
                f"{_capitalize(target)} was not found; list {op.resource} to see what exists, or check the namespace.",
                status=code,
                reason=reason,
            )
        return TypeNotFound(
            f"The API server does not serve {op.resource}"
            + (f' in namespace "{op.namespace}"' if op.namespace else "")
            + "; check the resource type with list_api_resources (its CRD may not be installed).",
            status=code,
            reason=reason,
        )
    if code == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(
                f"{_capitalize(op.target())} already exists; patch it instead, or choose another name.",
                status=code,
                reason=reason,
            )
        return Conflict(
            f"Conflict on {op.verb} {op.target()}: {api_message or 'the object was modified concurrently'}; re-read "
            "the object and retry with its latest state.",
            status=code,
            reason=reason,
        )
    if code == 410:
        return Expired(
            f"The resourceVersion or continue token for {op.action()} has expired (410 Gone); start the listing "
            "again without a continue token.",
            status=code,
            reason=reason,
        )
    if code == 429:
        retry = details.get("retryAfterSeconds") or _header_seconds(retry_after_header) or 1
        return TooManyRequests(
            f"The API server is throttling requests (429) for {op.action()}; retry in {retry} seconds.",
            status=code,
            reason=reason,
            retry_after=float(retry),
        )
    if code == 504 or reason == "Timeout":
        return ServerError(
            f"The API server timed out (504) on {op.action()}; retry shortly, or narrow the request "
            "(a label selector or a smaller limit).",
            status=code,
            reason=reason,
        )
    if code >= 500:
        detail = f": {api_message}" if api_message else ""
        return ServerError(
            f"The API server failed ({code}) on {op.action()}{detail}; retry shortly.",
            status=code,
            reason=reason,
        )
    detail = f": {api_message}" if api_message else ""
    return K8sError(f"The API server answered {code} to {op.action()}{detail}.", status=code, reason=reason)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _header_seconds(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


def from_api_exception(exc: ApiException, op: Operation, *, server: str | None = None) -> K8sError:
    """Our error for a kubernetes_asyncio ApiException (status 0 means the request never got an answer)."""
    if not exc.status:
        return unavailable(op, server=server, cause=str(exc.reason or "no response"))
    headers: Any = exc.headers or {}
    retry_after = headers.get("Retry-After") if hasattr(headers, "get") else None
    return from_status(exc.status, exc.body, op, server=server, retry_after_header=retry_after)


def unavailable(op: Operation, *, server: str | None, cause: str, context: str | None = None) -> Unavailable:
    where = f" at {server}" if server else ""
    ctx = f' (context "{context}")' if context else ""
    return Unavailable(
        f"Cannot reach the API server{where}{ctx} to {op.action()}: {_short(cause)}; check that the cluster is "
        "running and the kubeconfig points at it, then retry.",
    )
