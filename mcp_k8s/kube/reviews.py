"""The cluster as the authority: TokenReview (who holds this bearer token?), SubjectAccessReview (may this caller do
that?) and SelfSubjectAccessReview (may these credentials do that?), each answered by the API server.

One module for the three because they are one concept, the API server's authorizer asked a question, and share the
resource attributes they send. TokenReview and SubjectAccessReview serve HTTP auth: they are made with the server's
own identity (`policy.as_server()`), never impersonating, since asking on behalf of a caller whether that caller may
act is the server's question; their verdicts are cached for a few seconds (TokenReview no longer than the token
lives), the same trade the API server's own webhook authenticator and authorizer make: a revoked permission takes
effect within the TTL. SelfSubjectAccessReview is the check_access tool's question, asked as the caller, uncached:
it predicts the answer to the caller's next real request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from mcp_k8s import errors, policy
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery

TOKEN_TTL = 10.0
ACCESS_TTL = 5.0
_MAX_ENTRIES = 10_000

K = TypeVar("K")
V = TypeVar("V")


class _TTLCache(Generic[K, V]):
    """A small LRU with a per-entry deadline; bounded so a stream of distinct tokens cannot grow it."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._clock = clock

    def get(self, key: K) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        deadline, value = found
        if deadline <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V, ttl: float) -> None:
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > _MAX_ENTRIES:
            self._items.popitem(last=False)


@dataclass(frozen=True)
class TokenVerdict:
    caller: policy.Caller | None
    reason: str  # why a token was refused (for the server's log, never the token)


class Reviews:
    """TokenReview and SubjectAccessReview against the API server, cached. One per KubeClient."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        audiences: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._audiences = list(audiences)
        self._clock = clock
        self._tokens: _TTLCache[str, TokenVerdict] = _TTLCache(clock)
        self._access: _TTLCache[tuple[Any, ...], bool] = _TTLCache(clock)
        self.reviews_sent = 0  # for tests and the benchmark: how often the cache did not answer

    async def authenticate(self, token: str) -> TokenVerdict:
        """Who the cluster says holds `token` (None with a reason when it is not valid for our audiences)."""
        key = hashlib.sha256(token.encode()).hexdigest()  # never keep the token itself
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {"token": token}
        if self._audiences:
            spec["audiences"] = self._audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        op = errors.Operation(verb="create", resource="tokenreviews.authentication.k8s.io")
        with policy.as_server():
            self.reviews_sent += 1
            answer = await self._kube.request(
                "POST", "/apis/authentication.k8s.io/v1/tokenreviews", op=op, body=body, timeout=10.0
            )
        status = (answer or {}).get("status") or {}
        verdict = _token_verdict(status, self._audiences)
        self._tokens.put(key, verdict, TOKEN_TTL if verdict.caller is not None else TOKEN_TTL / 2)
        return verdict

    async def permits(self, caller: policy.Caller, request: policy.Request) -> bool:
        """Whether RBAC lets `caller` do `request` (a cache read made with the server's identity)."""
        key = (
            caller.user,
            caller.groups,
            request.verb,
            request.group,
            request.resource,
            request.subresource,
            request.namespace,
            request.name,
        )
        cached = self._access.get(key)
        if cached is not None:
            return cached
        attributes = resource_attributes(
            request.verb,
            request.group,
            request.resource,
            subresource=request.subresource,
            namespace=request.namespace,
            name=request.name,
        )
        spec: dict[str, Any] = {"user": caller.user, "groups": list(caller.groups), "resourceAttributes": attributes}
        if caller.uid:
            spec["uid"] = caller.uid
        if caller.extra:
            spec["extra"] = {k: list(v) for k, v in caller.extra.items()}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        op = errors.Operation(verb="create", resource="subjectaccessreviews.authorization.k8s.io")
        with policy.as_server():
            self.reviews_sent += 1
            answer = await self._kube.request(
                "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", op=op, body=body, timeout=10.0
            )
        allowed = bool(((answer or {}).get("status") or {}).get("allowed"))
        self._access.put(key, allowed, ACCESS_TTL)
        return allowed


def resource_attributes(
    verb: str,
    group: str,
    resource: str,
    *,
    subresource: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
) -> dict[str, str]:
    """An access review's resourceAttributes; empty ones are left out (the authorizer reads "" as a value)."""
    attributes = {"verb": verb, "group": group, "resource": resource}
    for key, value in (("subresource", subresource), ("namespace", namespace), ("name", name)):
        if value:
            attributes[key] = value
    return attributes


def _token_verdict(status: dict[str, Any], audiences: Sequence[str]) -> TokenVerdict:
    if not status.get("authenticated"):
        return TokenVerdict(None, status.get("error") or "the cluster did not authenticate the token")
    if audiences and not set(status.get("audiences") or []) & set(audiences):
        return TokenVerdict(None, "the token is not for this server's audience")
    user = status.get("user") or {}
    extra = {k: tuple(v) for k, v in (user.get("extra") or {}).items() if isinstance(v, list)}
    caller = policy.Caller(
        user=str(user.get("username") or ""),
        groups=tuple(user.get("groups") or ()),
        uid=user.get("uid") or None,
        extra=extra,
    )
    if not caller.user:
        return TokenVerdict(None, "the cluster named no user for the token")
    return TokenVerdict(caller, "")


class AccessAnswer(BaseModel):
    """What the API server's authorizer says the current credentials may do."""

    allowed: bool
    verb: str
    resource: str = Field(description="plural.group as RBAC sees it, e.g. widgets.example.com or pods")
    subresource: str | None = None
    namespace: str | None = Field(default=None, description="Absent: cluster-wide (or a cluster-scoped resource)")
    name: str | None = None
    reason: str | None = Field(default=None, description="The authorizer's explanation, when it gives one")
    denied: bool | None = Field(default=None, description="True when explicitly denied (not merely not allowed)")
    evaluation_error: str | None = None
    note: str | None = None


async def _rbac_name(
    discovery: Discovery, name: str, group: str | None, namespace: str | None
) -> tuple[str, str, str | None, str | None]:
    """(plural, group, namespace, note) as RBAC names the type; a name discovery does not know is kept as typed."""
    if name in ("", "*"):
        return name, group or "", namespace, None
    try:
        rt = await discovery.resolve(name, group=group)
    except errors.TypeNotFound:
        return name, group or "", namespace, f"{name!r} is not a type this server serves; checked the name as typed."
    return rt.plural, rt.group, namespace if rt.namespaced else None, None


async def check_access(
    kube: KubeClient,
    discovery: Discovery,
    *,
    verb: str,
    resource: str,
    group: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> AccessAnswer:
    """Ask the API server (SelfSubjectAccessReview) whether these credentials may `verb` `resource`.

    `resource` may be any name discovery knows (Widget, wg, widgets.example.com) and may carry a subresource
    (`pods/log`); RBAC only understands plurals, so we translate, and say so when the type is not served (RBAC
    rules can name types that do not exist, so the question is still asked as typed).
    """
    verb = verb.strip().lower()
    if not verb:
        raise errors.hinted(
            errors.InvalidInput,
            "The verb is empty",
            errors.Remedy.NO_VERB,
            "use get, list, watch, create, update, patch, delete or '*'",
        )
    base, _, sub_from_name = resource.strip().partition("/")
    subresource = subresource or sub_from_name or None
    plural, api_group, namespace, note = await _rbac_name(discovery, base, group, namespace)
    attributes = resource_attributes(verb, api_group, plural, subresource=subresource, namespace=namespace, name=name)
    review = await kube.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        op=errors.Operation(verb="create", resource="selfsubjectaccessreviews.authorization.k8s.io"),
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    status = review.get("status") or {}
    return AccessAnswer(
        allowed=bool(status.get("allowed")),
        verb=verb,
        resource=f"{plural}.{api_group}" if api_group else plural,
        subresource=subresource,
        namespace=namespace or None,
        name=name or None,
        reason=status.get("reason") or None,
        denied=status.get("denied") or None,
        evaluation_error=status.get("evaluationError") or None,
        note=note,
    )
