"""Which namespace a call means, and whether this server may touch it.

Resolution order: the tool's `namespace` argument → --namespace (MCP_K8S_NAMESPACE) → the NAMESPACE variable → the
service-account namespace file (in a pod) → the kubeconfig context's namespace → "default" (or, under
`--allowed-namespaces`, the first allowed namespace when "default" is not one). Whether a namespace may be used is
not decided here: the policy gate refuses every request and cached read outside the allowed set, defaults included.
`list_namespaces` lists them, or, for credentials that may not, says which ones this server is configured to use.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.resources import list_objects
from mcp_k8s.objects import age
from mcp_k8s.settings import Settings

NAMESPACES = ResourceType(
    group="", version="v1", plural="namespaces", kind="Namespace", singular="namespace", namespaced=False
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def validate_namespace_name(namespace: str) -> str:
    if len(namespace) > 63 or not _DNS_LABEL.match(namespace):
        raise errors.InvalidInput(
            f"{namespace[:80]!r} is not a valid namespace name; use lowercase letters, digits and '-' (max 63)."
        )
    return namespace


def service_account_namespace(directory: Path) -> str | None:
    """The pod's own namespace, from the projected service-account volume (None outside a pod)."""
    try:
        value = (directory / "namespace").read_text().strip()
    except OSError:
        return None
    return value or None


async def resolve_namespace(kube: KubeClient, settings: Settings, requested: str | None) -> str:
    """The namespace a namespaced call should use (the gate decides later whether it may)."""
    if requested:
        return validate_namespace_name(requested.strip())
    for candidate in (
        settings.namespace,
        settings.env_namespace,
        service_account_namespace(settings.service_account_dir),
    ):
        if candidate:
            return candidate
    if not settings.in_cluster_host or settings.kubeconfig is not None:
        await kube.api()  # loads the kubeconfig (no network) so the context's namespace is known
        info = kube.info
        if info is not None and info.context_namespace:
            return info.context_namespace
    if settings.allowed_namespaces and "default" not in settings.allowed_namespaces:
        # The last-resort default would be refused; the first allowed namespace is the useful default here.
        return settings.allowed_namespaces[0]
    return "default"


class NamespaceRow(BaseModel):
    name: str
    phase: str | None = None
    age: str | None = None


class NamespaceList(BaseModel):
    items: list[NamespaceRow]
    source: Literal["api", "configured"] = Field(
        description="api: listed from the cluster; configured: listing was forbidden, these are the namespaces this "
        "server is configured to use"
    )
    note: str | None = None


async def list_namespaces(kube: KubeClient, settings: Settings, *, label_selector: str | None = None) -> NamespaceList:
    """Namespaces from the cluster, narrowed to --allowed-namespaces when set.

    Namespace-scoped credentials (a service account with only a Role) cannot list namespaces at all; rather than
    fail, answer with what this server is configured to use and say plainly that it is not a cluster listing.
    """
    try:
        doc = await list_objects(kube, NAMESPACES, None, label_selector=label_selector)
    except errors.Forbidden:
        names = list(settings.allowed_namespaces) or [await resolve_namespace(kube, settings, None)]
        return NamespaceList(
            items=[NamespaceRow(name=n) for n in names],
            source="configured",
            note="These credentials may not list namespaces, so this is not a cluster listing: it shows the "
            + ("allowed namespaces (--allowed-namespaces)" if settings.allowed_namespaces else "default namespace")
            + " this server uses; other namespaces may exist.",
        )
    now = dt.datetime.now(dt.UTC)
    rows = [
        NamespaceRow(
            name=(ns.get("metadata") or {}).get("name", ""),
            phase=(ns.get("status") or {}).get("phase"),
            age=age((ns.get("metadata") or {}).get("creationTimestamp"), now),
        )
        for ns in doc.get("items") or []
    ]
    note = None
    if settings.allowed_namespaces:
        allowed = set(settings.allowed_namespaces)
        rows = [r for r in rows if r.name in allowed]
        note = "Narrowed to the namespaces this server may use (--allowed-namespaces)."
    return NamespaceList(items=rows, source="api", note=note)
