"""Which namespace a call means, and whether this server may touch it.

Resolution order: the tool's `namespace` argument → --namespace (MCP_K8S_NAMESPACE) → the NAMESPACE variable → the
service-account namespace file (in a pod) → the kubeconfig context's namespace → "default" (or, under
`--allowed-namespaces`, the first allowed namespace when "default" is not one). Whether a namespace may be used is
not decided here: the policy gate refuses every request and cached read outside the allowed set, defaults included.
"""

from __future__ import annotations

import re
from pathlib import Path

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.settings import Settings

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
