"""Discovery: which resource types the server serves, and resolving what a user typed (like kubectl) to one of them.

`plural` may be a plural, singular, kind or short name, optionally qualified as `name.group` or `name.version.group`;
`version` is optional (the group's preferred version wins). Results come from aggregated discovery (one request for
all groups, GA since 1.30) with a fallback to per-group-version documents for older servers, and are cached. A name
that matches nothing triggers one refresh (a CRD may have just been installed) before we give up with close matches.
`api_resources` shapes the served types into rows for listing; `resolve_when_served` waits, with backoff, for names
that are not served yet (the --watch types of the server and of the watcher daemon).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio
from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.logging import get_logger

log = get_logger(__name__)

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
_TTL = 300.0
_MIN_REFRESH_INTERVAL = 2.0
_MAX_RETRY_DELAY = 60.0


@dataclass(frozen=True, kw_only=True)
class ResourceType:
    """One served resource type at one version (a GVR plus what discovery says about it)."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    singular: str = ""
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    preferred: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`widgets.example.com` (or `pods` for the core group): the name kubectl and RBAC messages use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def display(self) -> str:
        """`widgets.example.com/v1`: unambiguous, also the form `--watch` accepts."""
        return f"{self.qualified}/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path; `namespace` is ignored for cluster-scoped types (and None lists across namespaces)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def names(self) -> set[str]:
        """Every lower-case name that refers to this type."""
        return {
            self.plural.lower(),
            self.singular.lower(),
            self.kind.lower(),
            *(s.lower() for s in self.short_names),
        } - {""}


@dataclass(frozen=True)
class PrinterColumn:
    """One additionalPrinterColumn of a CRD version: a header and the JSONPath that fills it."""

    name: str
    json_path: str
    type: str = ""

    @property
    def key(self) -> str:
        """The column as a row field: `Desired Replicas` → `desired_replicas`."""
        return "_".join(self.name.lower().split()).replace("-", "_")


@dataclass
class _Snapshot:
    types: list[ResourceType] = field(default_factory=list)
    fetched_at: float = 0.0
    # (name, group, version) → what it resolved to, for this snapshot only: every tool call resolves its type, and
    # scanning every served type's names each time was a visible share of a cached read. Only hits are kept, so the
    # memo is bounded by the names the server serves.
    resolved: dict[tuple[str, str | None, str | None], ResourceType] = field(default_factory=dict)


class Discovery:
    """Cached view of the server's resource types. One per KubeClient."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._snapshot = _Snapshot()
        self._lock = anyio.Lock()
        self._columns: dict[tuple[str, str, str], tuple[float, list[PrinterColumn]]] = {}

    async def printer_columns(self, rt: ResourceType) -> list[PrinterColumn]:
        """The CRD's additionalPrinterColumns for this version (what `kubectl get` shows), priority 0 only.

        Read from the CustomResourceDefinition and cached like discovery; a built-in type, or credentials that may
        not read CRDs, simply have none (the summary columns still apply).
        """
        key = (rt.group, rt.version, rt.plural)
        cached = self._columns.get(key)
        if cached is not None and time.monotonic() - cached[0] < _TTL:
            return cached[1]
        columns: list[PrinterColumn] = []
        if rt.group and "." in rt.group and not rt.group.endswith(".k8s.io"):
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{rt.plural}.{rt.group}"
            op = errors.Operation(verb="get", resource="customresourcedefinitions.apiextensions.k8s.io")
            try:
                crd = await self._kube.request("GET", path, op=op)
            except errors.K8sError:
                crd = None
            versions = ((crd or {}).get("spec") or {}).get("versions") or []
            for version in versions:
                if version.get("name") == rt.version:
                    columns = [
                        PrinterColumn(name=str(c["name"]), json_path=str(c["jsonPath"]), type=str(c.get("type", "")))
                        for c in version.get("additionalPrinterColumns") or []
                        if c.get("name") and c.get("jsonPath") and not c.get("priority")
                    ]
        self._columns[key] = (time.monotonic(), columns)
        return columns

    async def all_types(self, *, refresh: bool = False) -> list[ResourceType]:
        """Every served (group, version, plural), preferred versions first within each group."""
        async with self._lock:
            now = time.monotonic()
            age = now - self._snapshot.fetched_at
            stale = not self._snapshot.types or age > _TTL
            if stale or (refresh and age > _MIN_REFRESH_INTERVAL):
                self._snapshot = _Snapshot(types=await self._fetch(), fetched_at=now)
                self._kube.policy.learn_scopes((t.group, t.plural, t.namespaced) for t in self._snapshot.types)
            return self._snapshot.types

    def hidden(self, rt: ResourceType) -> bool:
        """True for a type --deny-resources hides: listings leave it out, and the gate refuses its requests."""
        return self._kube.policy.hides(rt.group, rt.plural)

    async def resolve(self, name: str, *, group: str | None = None, version: str | None = None) -> ResourceType:
        """What kubectl would pick for `name` (+ group/version); raises InvalidInput/TypeNotFound with guidance."""
        wanted = name.strip()
        if not wanted:
            raise errors.hinted(
                errors.InvalidInput, "The resource type is empty", errors.Remedy.NO_TYPE, "give one such as 'widgets'"
            )
        key = (wanted, group, version)
        for refresh in (False, True):
            types = await self.all_types(refresh=refresh)
            snapshot = self._snapshot
            found = snapshot.resolved.get(key) if snapshot.types is types else None
            if found is None:
                found = _match(types, wanted, group, version)
            if found is not None:
                if snapshot.types is types:
                    snapshot.resolved[key] = found
                return found
        raise self._not_found(await self.all_types(), wanted, group, version)

    async def resolve_when_served(
        self, names: Sequence[str], start: Callable[[str, ResourceType], Awaitable[None]]
    ) -> None:
        """`await start(name, type)` for each name once it resolves, retrying the others with backoff (1s to 60s)
        until all have: the cluster may be down, or a CRD may be installed after we start."""
        pending = list(names)
        delay = 1.0
        while pending:
            for name in list(pending):
                try:
                    rt = await self.resolve(name)
                except errors.K8sError as exc:
                    log.warning("cannot watch yet", resource=name, reason=exc.message, retry_in=delay)
                    continue
                await start(name, rt)
                pending.remove(name)
            if pending:
                await anyio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_DELAY)

    def _not_found(
        self, types: list[ResourceType], name: str, group: str | None, version: str | None
    ) -> errors.TypeNotFound:
        pool = [t for t in types if group is None or t.group == group]
        vocabulary: dict[str, ResourceType] = {}
        for t in pool:
            for n in t.names():
                vocabulary.setdefault(n, t)
        import difflib  # only a miss needs suggestions

        close = difflib.get_close_matches(name.lower().split(".", 1)[0], list(vocabulary), n=4, cutoff=0.6)
        suggestions = list(dict.fromkeys(vocabulary[c].qualified for c in close))  # closest first
        qualifier = f" in group {group!r}" if group is not None else ""
        if version:
            qualifier += f" at version {version!r}"
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        fact = f"No resource type {name!r}{qualifier} is served by {self._kube.describe_target()}.{hint}"
        return errors.TypeNotFound(
            f"{fact} Its CRD may not be installed.", hint=errors.Hint(errors.Remedy.LIST_TYPES, fact)
        )

    async def _fetch(self) -> list[ResourceType]:
        op = errors.Operation(verb="discover", resource="API resources")
        core = await self._kube.request("GET", "/api", op=op, accept=AGGREGATED)
        groups = await self._kube.request("GET", "/apis", op=op, accept=AGGREGATED)
        if core.get("kind") == "APIGroupDiscoveryList" and groups.get("kind") == "APIGroupDiscoveryList":
            return [*_from_aggregated(core), *_from_aggregated(groups)]
        return await self._fetch_legacy(core, groups, op)

    async def _fetch_legacy(
        self, core: dict[str, Any], groups: dict[str, Any], op: errors.Operation
    ) -> list[ResourceType]:
        """Servers before aggregated discovery: one request per group-version."""
        out: list[ResourceType] = []
        targets: list[tuple[str, str, bool]] = [("", v, i == 0) for i, v in enumerate(core.get("versions", []))]
        for g in groups.get("groups", []):
            preferred = (g.get("preferredVersion") or {}).get("version")
            for v in g.get("versions", []):
                targets.append((g["name"], v["version"], v["version"] == preferred))
        for group, version, preferred in targets:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                doc = await self._kube.request("GET", path, op=op)
            except errors.K8sError:
                continue  # an unavailable aggregated API must not hide every other type
            out += _from_resource_list(group, version, preferred, doc.get("resources", []))
        return out


class ApiResourceRow(BaseModel):
    group: str = Field(description='API group; "" is the core group')
    version: str
    kind: str
    plural: str
    short_names: list[str] = Field(default_factory=list)
    namespaced: bool
    verbs: list[str] = Field(default_factory=list)


async def api_resources(
    discovery: Discovery, *, group: str | None = None, all_versions: bool = False
) -> list[ApiResourceRow]:
    """Served resource types (preferred version of each group unless `all_versions`), sorted by group and plural;
    types --deny-resources hides are left out. `group` filters exactly; "core" or "" means the core group."""
    wanted = "" if group in ("core", "") else group
    rows = [
        ApiResourceRow(
            group=t.group,
            version=t.version,
            kind=t.kind,
            plural=t.plural,
            short_names=list(t.short_names),
            namespaced=t.namespaced,
            verbs=list(t.verbs),
        )
        for t in await discovery.all_types()
        if (wanted is None or t.group == wanted) and (all_versions or t.preferred) and not discovery.hidden(t)
    ]
    return sorted(rows, key=lambda r: (r.group, r.plural, r.version))


def _from_aggregated(doc: dict[str, Any]) -> list[ResourceType]:
    out: list[ResourceType] = []
    for group_doc in doc.get("items", []):
        group = (group_doc.get("metadata") or {}).get("name", "")
        for index, version_doc in enumerate(group_doc.get("versions", [])):
            version = version_doc["version"]
            for r in version_doc.get("resources", []):
                kind = (r.get("responseKind") or {}).get("kind", "")
                out.append(
                    ResourceType(
                        group=group,
                        version=version,
                        plural=r["resource"],
                        kind=kind,
                        singular=r.get("singularResource", ""),
                        namespaced=r.get("scope") == "Namespaced",
                        short_names=tuple(r.get("shortNames") or ()),
                        verbs=tuple(r.get("verbs") or ()),
                        categories=tuple(r.get("categories") or ()),
                        subresources=tuple(s["subresource"] for s in r.get("subresources") or ()),
                        preferred=index == 0,
                    )
                )
    return out


def _from_resource_list(
    group: str, version: str, preferred: bool, resources: Iterable[dict[str, Any]]
) -> list[ResourceType]:
    subresources: dict[str, list[str]] = {}
    mains = []
    for r in resources:
        if "/" in r["name"]:
            parent, sub = r["name"].split("/", 1)
            subresources.setdefault(parent, []).append(sub)
        else:
            mains.append(r)
    return [
        ResourceType(
            group=group,
            version=version,
            plural=r["name"],
            kind=r.get("kind", ""),
            singular=r.get("singularName") or "",
            namespaced=bool(r.get("namespaced")),
            short_names=tuple(r.get("shortNames") or ()),
            verbs=tuple(r.get("verbs") or ()),
            categories=tuple(r.get("categories") or ()),
            subresources=tuple(subresources.get(r["name"], ())),
            preferred=preferred,
        )
        for r in mains
    ]


def _split_qualified(name: str, group: str | None, version: str | None) -> tuple[str, str | None, str | None]:
    """`widgets.example.com` → (widgets, example.com, None); `widgets.v1.example.com` → (widgets, example.com, v1);
    `widgets.example.com/v1` → (widgets, example.com, v1). Explicit group/version arguments win."""
    if "/" in name:
        name, _, slash_version = name.partition("/")
        version = version or slash_version
    if "." in name:
        head, _, rest = name.partition(".")
        first, _, remainder = rest.partition(".")
        if remainder and first.startswith("v") and first[1:2].isdigit():
            return head, group or remainder, version or first
        return head, group or rest, version
    return name, group, version


def _match(types: list[ResourceType], name: str, group: str | None, version: str | None) -> ResourceType | None:
    base, group, version = _split_qualified(name, group, version)
    key = base.lower()
    candidates = [t for t in types if (group is None or t.group == group) and key in t.names()]
    if not candidates and group is None and "." in name:
        # Not a qualified name after all? Try the whole string as a plain name.
        candidates = [t for t in types if name.lower() in t.names()]
    if not candidates:
        return None
    if version is not None:
        candidates = [t for t in candidates if t.version == version]
        if not candidates:
            return None
    else:
        candidates = [t for t in candidates if t.preferred] or candidates
    # Exact plural beats kind/short-name hits; the core group wins ties, as in kubectl's priority order.
    candidates.sort(key=lambda t: (t.plural.lower() != key, t.group != "", t.group))
    groups = {t.group for t in candidates}
    if len(groups) > 1 and not any(t.group == "" for t in candidates):
        best = candidates[0]
        if best.plural.lower() != key or sum(1 for t in candidates if t.plural.lower() == key) > 1:
            options = ", ".join(sorted({t.qualified for t in candidates}))
            raise errors.InvalidInput(
                f"{name!r} is ambiguous: it matches {options}; pass the group (or a qualified name like "
                f"{candidates[0].qualified})."
            )
    return candidates[0]
