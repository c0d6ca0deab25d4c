"""What `mcp-k8s rbac` adds for HTTP authentication: exactly the reviews and impersonation the flags need."""

from __future__ import annotations

import yaml

from mcp_k8s.rbac import manifest
from mcp_k8s.settings import Settings


def auth_role(settings: Settings) -> list[dict[str, object]] | None:
    docs = [d for d in yaml.safe_load_all(manifest(settings, service_account="sa", namespace="ns")) if d]
    found = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-auth")]
    return found[0]["rules"] if found else None


def test_no_auth_adds_nothing() -> None:
    assert auth_role(Settings()) is None
    assert auth_role(Settings(auth="token-file", auth_token_file="/tmp/tokens")) is None


def test_cluster_auth_adds_token_reviews_only() -> None:
    assert auth_role(Settings(auth="kubernetes")) == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}
    ]


def test_impersonation_adds_access_reviews_and_impersonate() -> None:
    rules = auth_role(Settings(auth="kubernetes", impersonate=True, allowed_namespaces=("a",)))
    assert rules is not None
    verbs = {(r["apiGroups"][0], res, v) for r in rules for res in r["resources"] for v in r["verbs"]}  # type: ignore[index, union-attr]
    assert ("authorization.k8s.io", "subjectaccessreviews", "create") in verbs
    assert {
        ("", "users", "impersonate"),
        ("", "groups", "impersonate"),
        ("", "serviceaccounts", "impersonate"),
    } <= verbs
