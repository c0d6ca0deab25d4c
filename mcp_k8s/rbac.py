"""`mcp-k8s rbac`: least-privilege RBAC for the server as configured, printed as YAML for `kubectl apply -f -`.

The rules follow the flags: custom-resource types come from --watch (the server cannot know at print time which other
types an agent will be trusted with), --read-only drops every write verb, and --allowed-namespaces turns the grant into
one Role + RoleBinding per namespace instead of a ClusterRole, so the credentials cannot reach further than the
server's own policy does. HTTP authentication adds exactly what it needs, cluster-wide because reviews and
impersonation are not namespaced: TokenReview creation for --auth kubernetes, SubjectAccessReview creation and the
`impersonate` verb on users, groups, service accounts, uids and user extras for --impersonate; nothing without auth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from mcp_k8s.settings import Settings

READ = ("get", "list", "watch")
WRITE = ("create", "patch", "update", "delete")


@dataclass(frozen=True)
class Rule:
    group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...] = ()  # resourceNames: only these objects

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apiGroups": [self.group], "resources": list(self.resources)}
        if self.names:
            out["resourceNames"] = list(self.names)
        out["verbs"] = list(self.verbs)
        return out


def watched_types(settings: Settings) -> list[tuple[str, str]]:
    """(group, plural) for each --watch RESOURCE (`plural.group/version` or `plural.group`)."""
    out = []
    for spec in settings.watch:
        name = spec.split("/", 1)[0]
        plural, _, group = name.partition(".")
        out.append((group, plural))
    return sorted(set(out))


def type_grants(*, writes: bool) -> list[tuple[str, tuple[str, ...]]]:
    """(subresource suffix, verbs) granted on each watched type: the generic tools' CRUD, and status writes."""
    if not writes:
        return [("", READ)]
    return [("", READ + WRITE), ("/status", ("get", "patch", "update"))]


def common_rules(*, writes: bool) -> list[Rule]:
    """The rules every configuration needs, whatever it watches: secrets, and the core read-only tools."""
    # Secret values are read with `get`; listing returns values too in the API, so even names-only tools need both.
    return [
        Rule("", ("secrets",), ("get", "list") + (("create", "patch", "update", "delete") if writes else ())),
        Rule("", ("pods", "pods/log", "events", "services"), READ),
        Rule("events.k8s.io", ("events",), READ),
    ]


# Added to the ClusterRole when the server may see every namespace (list_namespaces).
CLUSTER_WIDE_RULES = (Rule("", ("namespaces",), ("get", "list")),)


def rules(settings: Settings) -> list[Rule]:
    """Exactly what the registered tools need under these settings."""
    writes = not settings.read_only
    out = [
        Rule(group, (plural + suffix,), verbs)
        for group, plural in watched_types(settings)
        for suffix, verbs in type_grants(writes=writes)
    ]
    return out + common_rules(writes=writes)


def definition_rules(settings: Settings) -> list[Rule]:
    """Reading the watched types' CRDs (their printer columns shape list answers): cluster-scoped, named ones only."""
    names = tuple(f"{plural}.{group}" for group, plural in watched_types(settings) if group)
    return [Rule("apiextensions.k8s.io", ("customresourcedefinitions",), ("get",), names)] if names else []


def auth_rules(settings: Settings) -> list[Rule]:
    """What the chosen HTTP authentication needs (cluster-scoped objects, so always a ClusterRole)."""
    if settings.auth != "kubernetes":
        return []
    out = [Rule("authentication.k8s.io", ("tokenreviews",), ("create",))]
    if settings.impersonate:
        out.append(Rule("authorization.k8s.io", ("subjectaccessreviews",), ("create",)))
        out.append(Rule("", ("users", "groups", "serviceaccounts"), ("impersonate",)))
        out.append(Rule("authentication.k8s.io", ("uids", "userextras/*"), ("impersonate",)))
    return out


def chart_catalog() -> dict[str, Any]:
    """The rules as data for the Helm chart (deploy/helm/mcp-k8s/files/rbac-rules.yaml), which composes them per
    values exactly as `manifest` does per flags; a test renders both and fails when they disagree."""
    modes = {"readWrite": True, "readOnly": False}
    return {
        "watchedType": {
            mode: [{"suffix": suffix, "verbs": list(verbs)} for suffix, verbs in type_grants(writes=writes)]
            for mode, writes in modes.items()
        },
        "common": {mode: [r.as_dict() for r in common_rules(writes=writes)] for mode, writes in modes.items()},
        "clusterWide": [r.as_dict() for r in CLUSTER_WIDE_RULES],
        # The chart adds resourceNames (plural.group of each watched type) as definition_rules does.
        "definition": definition_rules(Settings(watch=("name.group",)))[0].as_dict() | {"resourceNames": []},
        "auth": {
            "kubernetes": [r.as_dict() for r in auth_rules(Settings(auth="kubernetes"))],
            "impersonate": [r.as_dict() for r in auth_rules(Settings(auth="kubernetes", impersonate=True))],
        },
    }


def manifest(settings: Settings, *, service_account: str, namespace: str) -> str:
    """ServiceAccount + (Cluster)Roles + bindings as a multi-document YAML string."""
    name = "mcp-k8s" if not settings.read_only else "mcp-k8s-read-only"
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": service_account, "namespace": namespace}}
    ]
    granted = [r.as_dict() for r in rules(settings)]
    if settings.allowed_namespaces:
        for ns in settings.allowed_namespaces:
            docs.append(_role("Role", name, granted, ns))
            docs.append(_binding("RoleBinding", name, "Role", subject, ns))
    else:
        cluster_rules = [*granted, *(r.as_dict() for r in CLUSTER_WIDE_RULES)]
        docs.append(_role("ClusterRole", name, cluster_rules, None))
        docs.append(_binding("ClusterRoleBinding", name, "ClusterRole", subject, None))
    definitions = [r.as_dict() for r in definition_rules(settings)]
    if definitions:
        docs.append(_role("ClusterRole", f"{name}-definitions", definitions, None))
        docs.append(_binding("ClusterRoleBinding", f"{name}-definitions", "ClusterRole", subject, None))
    needed = [r.as_dict() for r in auth_rules(settings)]
    if needed:
        docs.append(_role("ClusterRole", f"{name}-auth", needed, None))
        docs.append(_binding("ClusterRoleBinding", f"{name}-auth", "ClusterRole", subject, None))
    header = "# Least-privilege RBAC for mcp-k8s, generated by `mcp-k8s rbac`.\n"
    if not settings.watch:
        header += (
            "# No --watch types were given: add rules (or --watch flags) for the custom resources the agent may use.\n"
        )
    return header + yaml.safe_dump_all(docs, sort_keys=False)


def _role(kind: str, name: str, granted: list[dict[str, Any]], namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": "mcp-k8s"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, "rules": granted}


def _binding(kind: str, name: str, role_kind: str, subject: dict[str, str], namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": "mcp-k8s"}}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": [subject],
    }
