"""The policy gate: one decision for every Kubernetes request and every cache read, whatever tool asked.

Tools do not check rules. The tool boundary says who is acting (`acting(tool=..., secrets=...)`, plus the caller an
HTTP authenticator vouched for), and every request is decided from what it really is: its method and REST path,
parsed the way the API server's own RequestInfo parses them, so a tool that builds a path by hand, or labels it
wrongly, is judged by the path. The same decision serves cache reads (`Request.of`), so the watch cache is no side
door.

| rule                  | comes from              | refuses                                                            |
|-----------------------|-------------------------|--------------------------------------------------------------------|
| secrets               | always                  | any request on core/v1 secrets from outside the secret toolset     |
| secret values         | --allow-secret-values   | nothing: values in answers are blanked (same size, zero bytes)     |
| denied types          | --deny-resources        | any request on a matching group/resource                           |
| read-only             | --read-only             | every verb that changes state (access reviews change nothing)      |
| namespaces            | --allowed-namespaces    | namespaced requests outside the set; all-namespace lists/watches   |
| subresources          | always                  | exec, attach, portforward, proxy, serviceaccounts/token            |
| malformed paths       | always                  | `.`/`..`/empty segments, encoded `/`, unparseable resource paths   |

Every secret value that passes through (in a Secret answer) is registered with the log/answer scrubber before any
tool sees it, so a copy that turns up elsewhere (a ConfigMap, an error) is still redacted.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from mcp_k8s import errors
from mcp_k8s.logging import register_secret_values
from mcp_k8s.settings import Settings

READ_VERBS = frozenset({"get", "list", "watch"})
# Reviews are created, but they only ask the authorizer a question: read-only mode lets them through.
_REVIEWS = frozenset(
    {
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authorization.k8s.io", "subjectaccessreviews"),
        ("authentication.k8s.io", "tokenreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    }
)
# No tool needs these, and each hands out a shell, a tunnel or a credential.
_FORBIDDEN_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
_FORBIDDEN_PAIRS = frozenset({("", "serviceaccounts", "token")})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
# Wider than DNS names (RBAC objects allow ':' and capitals, some types '@'), but never a path separator, a
# percent-escape, a query or fragment, whitespace or a control character.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._:@+=~-]{1,253}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Decoded values shorter than this, or shaped like object names ("default", "kube-system"), are not registered:
# redacting them would blank ordinary words from every later answer. Their base64 forms are always registered.
_MIN_PLAIN_VALUE = 8
_NAME_LIKE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

SECRET_RULE = (
    "Secrets are only handled by the secret tools (list_secrets, get_secret, ...), which never return values unless "  # noqa: S105
    "the server allows it; use those."
)


# --- who is acting ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """An authenticated HTTP caller, as the authenticator (TokenReview or the token file) named them."""

    user: str
    groups: tuple[str, ...] = ()
    uid: str | None = None
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def impersonation_headers(self) -> list[tuple[str, str]]:
        """Impersonate-* header lines (one per group and per extra value: the API server reads each line)."""
        out = [("Impersonate-User", self.user)]
        out += [("Impersonate-Group", g) for g in self.groups]
        if self.uid:
            out.append(("Impersonate-Uid", self.uid))
        for key, values in self.extra.items():
            out += [(f"Impersonate-Extra-{_header_key(key)}", v) for v in values]
        return out


def _header_key(key: str) -> str:
    # Extra keys go in a header name: percent-encode what a header name cannot hold (as client-go does).
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02X}" for c in key)


@dataclass(frozen=True)
class Scope:
    """Who a request is made for: which tool (None for the server's own work), whether that tool is the secret
    toolset, and the authenticated caller (None for the local operator on stdio or an unauthenticated listener)."""

    tool: str | None = None
    secrets: bool = False
    caller: Caller | None = None


SERVER = Scope()
_scope: ContextVar[Scope] = ContextVar("mcp_k8s_policy_scope", default=SERVER)


def current() -> Scope:
    return _scope.get()


@contextmanager
def acting(**changes: Any) -> Iterator[Scope]:
    """Run the block as a narrower or named scope (the tool boundary and the caller middleware use this)."""
    scope = replace(_scope.get(), **changes)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@contextmanager
def as_server() -> Iterator[None]:
    """The server's own background work (reflectors) acts for nobody: no caller, no secret toolset.

    Tasks inherit the context of whoever started them, so a reflector started by a caller's first read must drop
    that caller explicitly.
    """
    token = _scope.set(SERVER)
    try:
        yield
    finally:
        _scope.reset(token)


# --- what is asked ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """A request as the authorizer sees it: verb, group, resource, subresource, namespace, name."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str | None = None
    name: str | None = None
    namespaced_resource: bool = True  # False for cluster-scoped types (so no namespace is fine)

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    @property
    def is_secret(self) -> bool:
        return self.group == "" and self.resource == "secrets"

    @property
    def qualified(self) -> str:
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{name}/{self.subresource}" if self.subresource else name

    @classmethod
    def of(
        cls,
        verb: str,
        *,
        group: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        namespaced: bool = True,
    ) -> Request:
        """A request that never becomes HTTP (a cache read), described the same way."""
        return cls(
            verb=verb,
            group=group,
            resource=resource,
            namespace=namespace if namespaced else None,
            name=name,
            namespaced_resource=namespaced,
        )

    @classmethod
    def parse(cls, method: str, path: str, query: Sequence[tuple[str, Any]] = ()) -> Request:
        """What an HTTP request does, from its method and path (kube-apiserver's RequestInfoFactory, simplified)."""
        raw = path.split("?", 1)[0]
        parts = raw.strip("/").split("/") if raw.strip("/") else []
        segments = [unquote(p) for p in parts]
        if any(s in ("", ".", "..") or "/" in s for s in segments):
            raise errors.NotAllowed(
                f"The request path {raw[:200]!r} is malformed; object names cannot hold '/' or '..'."
            )
        watch = any(k == "watch" and str(v).lower() in ("true", "1") for k, v in query)
        if not segments or segments[0] not in ("api", "apis"):
            return cls(verb=_plain_verb(method))  # /version, /openapi, /healthz...: not a resource
        if segments[0] == "api":
            group, rest = "", segments[2:] if len(segments) > 1 else []
        else:
            if len(segments) < 3:
                return cls(verb=_plain_verb(method))  # discovery: /apis, /apis/group
            group, rest = segments[1], segments[3:]
        if not rest:
            return cls(verb=_plain_verb(method))  # discovery of one group/version
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            namespace, rest = rest[1], rest[2:]
        elif rest[0] == "namespaces" and len(rest) >= 2:
            namespace = rest[1]  # the namespace object itself: its namespace is its name (as the API server says)
        if namespace is not None and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
            raise errors.NotAllowed(f"{namespace[:80]!r} in the request path is not a namespace name; refused.")
        if len(rest) > 3:
            raise errors.NotAllowed(f"The request path {raw[:200]!r} does not name one object; refused.")
        resource, name = rest[0], rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else ""
        if method == "GET" or method == "HEAD":
            verb = "get" if name else ("watch" if watch else "list")
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = _VERBS.get(method, method.lower())
        return cls(
            verb=verb,
            group=group,
            resource=resource,
            subresource=subresource,
            namespace=namespace,
            name=name,
            namespaced_resource=namespace is not None or resource != "namespaces",
        )


def _plain_verb(method: str) -> str:
    return "get" if method in ("GET", "HEAD") else method.lower()


# --- the decision ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DenyPattern:
    """One --deny-resources entry: `nodes`, `rbac.authorization.k8s.io/*`, `*.example.com`, `widgets.example.com`."""

    group: str  # "*" for any
    resource: str  # "*" for any

    @classmethod
    def parse(cls, text: str) -> DenyPattern:
        spec = text.strip().lower()
        if "/" in spec:
            group, _, resource = spec.partition("/")
            return cls(group="" if group in ("core", "v1") else group, resource=resource or "*")
        resource, _, group = spec.partition(".")
        return cls(group=group, resource=resource or "*")

    def matches(self, group: str, resource: str) -> bool:
        return self.group in ("*", group) and self.resource in ("*", resource)

    def __str__(self) -> str:
        return f"{self.group or 'core'}/{self.resource}"


class Policy:
    """The operator's rules (from Settings), applied to every request and cache read. No I/O."""

    def __init__(self, settings: Settings) -> None:
        self.read_only = settings.read_only
        self.allowed_namespaces = settings.allowed_namespaces
        self.reveal_secret_values = settings.allow_secret_values
        self.denied = tuple(DenyPattern.parse(p) for p in settings.deny_resources)
        # A path does not say whether its type is cluster-scoped; discovery tells us (`learn_scopes`). Until then a
        # type counts as namespaced, the safe side: an all-namespace list of it is refused under --allowed-namespaces.
        self._cluster_scoped: set[tuple[str, str]] = set()

    def learn_scopes(self, types: Iterable[tuple[str, str, bool]]) -> None:
        """(group, plural, namespaced) for each served type, from discovery."""
        self._cluster_scoped = {(group, plural) for group, plural, namespaced in types if not namespaced}

    def hides(self, group: str, resource: str) -> bool:
        """True for a type --deny-resources hides (discovery listings leave it out)."""
        base = resource.split("/", 1)[0]
        return any(p.matches(group, base) for p in self.denied)

    def check(self, request: Request, scope: Scope | None = None, body: Any = None) -> None:
        """Refuse with one sentence naming the rule and what is allowed; return None when the request may go."""
        scope = scope or current()
        if not request.is_resource:
            if self.read_only and request.verb not in READ_VERBS:
                raise errors.NotAllowed("This server is read-only (--read-only); only reads reach the cluster.")
            return
        what = request.qualified
        if request.name is not None and (request.name in (".", "..") or not _SAFE_NAME.match(request.name)):
            raise errors.NotAllowed(
                f"{request.name[:80]!r} is not an object name; names use lowercase letters, digits, '-', '.' and ':'."
            )
        if request.subresource in _FORBIDDEN_SUBRESOURCES or (
            (request.group, request.resource, request.subresource) in _FORBIDDEN_PAIRS
        ):
            raise errors.NotAllowed(f"{what} is never reachable through this server; no tool needs it.")
        if self.hides(request.group, request.resource):
            raise errors.NotAllowed(
                f"{what} is hidden by this server's --deny-resources ({', '.join(map(str, self.denied))}); "
                "ask the operator if you need it."
            )
        if request.is_secret and not scope.secrets:
            raise errors.NotAllowed(SECRET_RULE)
        review = (request.group, request.resource) in _REVIEWS
        if self.read_only and request.verb not in READ_VERBS and not review:
            raise errors.NotAllowed(
                f"This server is read-only (--read-only), so {request.verb} on {what} is refused; only reads are "
                "allowed."
            )
        if not review:
            self._check_namespace(request, what)
        if body is not None and request.namespace and request.verb in ("create", "update", "patch"):
            _check_body_namespace(body, request.namespace)

    def _check_namespace(self, request: Request, what: str) -> None:
        allowed = self.allowed_namespaces
        if not allowed:
            return
        if request.resource == "namespaces" and request.group == "":
            if request.name is not None and request.name not in allowed:
                raise errors.NotAllowed(_outside(request.name, allowed))
            return
        if request.namespace is None:
            namespaced = request.namespaced_resource and (request.group, request.resource) not in self._cluster_scoped
            if namespaced and request.verb in ("list", "watch", "deletecollection"):
                raise errors.NotAllowed(
                    f"Listing {what} across all namespaces is outside this server's allowed namespaces "
                    f"({', '.join(allowed)}); list one of those."
                )
            return
        if request.namespace not in allowed:
            raise errors.NotAllowed(_outside(request.namespace, allowed))

    def visible_namespaces(self, namespace: str | None) -> list[str | None]:
        """The namespaces an all-namespace read may cover: the allowed set, or everything."""
        if namespace is not None:
            return [namespace]
        return list(self.allowed_namespaces) or [None]

    def treat_secret_answer(self, answer: Any) -> Any:
        """Register every value in a Secret answer (object, list or watch event), and blank them unless allowed."""
        for secret in _secrets_in(answer):
            data = secret.get("data")
            if isinstance(data, dict):
                _register(data.values())
                if not self.reveal_secret_values:
                    secret["data"] = {k: _blank(v) for k, v in data.items()}
            secret.pop("stringData", None)
            annotations = (secret.get("metadata") or {}).get("annotations")
            if isinstance(annotations, dict) and _LAST_APPLIED in annotations and not self.reveal_secret_values:
                annotations[_LAST_APPLIED] = ""  # a copy of the data, as kubectl applied it
        return answer


_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _outside(namespace: str, allowed: Sequence[str]) -> str:
    return (
        f'Namespace "{namespace[:80]}" is outside the namespaces this server may use ({", ".join(allowed)}); pass one '
        "of those."
    )


def _check_body_namespace(body: Any, namespace: str) -> None:
    """A body may not name another namespace than the path it is sent to (a move, or a write elsewhere)."""
    meta = body.get("metadata") if isinstance(body, Mapping) else None
    given = meta.get("namespace") if isinstance(meta, Mapping) else None
    if given not in (None, namespace):
        raise errors.NotAllowed(
            f"The body names namespace {str(given)[:80]!r} but the request targets {namespace!r}; objects cannot move "
            "between namespaces, so make them agree."
        )


def _secrets_in(answer: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(answer, dict):
        return
    if answer.get("kind") == "Secret":
        yield answer
    elif isinstance(answer.get("items"), list):
        yield from (item for item in answer["items"] if isinstance(item, dict))
    elif isinstance(answer.get("object"), dict):  # a watch event
        yield from _secrets_in(answer["object"])


def _blank(value: Any) -> Any:
    """Zero bytes of the same decoded length: sizes stay true, contents are gone."""
    if not isinstance(value, str):
        return ""
    padding = len(value) - len(value.rstrip("="))
    return "A" * (len(value) - padding) + "=" * padding


def _register(values: Any) -> None:
    out: list[str] = []
    for encoded in values:
        if not isinstance(encoded, str) or not encoded:
            continue
        out.append(encoded)
        try:
            plain = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
        if len(plain) >= _MIN_PLAIN_VALUE and not _NAME_LIKE.match(plain):
            out.append(plain)
    register_secret_values(out)


__all__ = [
    "SECRET_RULE",
    "SERVER",
    "Caller",
    "DenyPattern",
    "Policy",
    "Request",
    "Scope",
    "acting",
    "as_server",
    "current",
]
