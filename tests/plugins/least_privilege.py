"""The tool tests as a ServiceAccount bound only to the RBAC `mcp-k8s rbac` generates (`MCP_K8S_TEST_AS`).

With `MCP_K8S_TEST_AS=default | read-only | allowed-namespaces`, the `settings` fixture hands the server a kubeconfig
holding a TokenRequest token of a ServiceAccount whose only rights are `rbac.manifest()` for that configuration
(generated with `--watch` for the test CRDs), instead of the admin's. The tests themselves do not change: their
arrangements (objects created through `admin`) keep admin rights, every call through the server carries the
account's.

- default: one ClusterRole for the session.
- read-only: the RBAC of `mcp-k8s rbac --read-only`; the server itself runs *without* `--read-only`, so every write a
  test attempts reaches the API server and the credentials alone must refuse it with a 403.
- allowed-namespaces: Roles in the test's namespace and a second one (`--allowed-namespaces NS,NS-b`), and the server
  runs with the same `--allowed-namespaces` (it watches per namespace, as a deployment would).

A test that fails is counted as *refused as expected* (xfail, with the sentence as its reason) only when its failure
carries our actionable 403 sentence (`may not VERB RESOURCE in namespace "NS"`) for an operation the generated RBAC
does not grant: a write under read-only, a namespace outside the list or a cluster-wide request under
allowed-namespaces, a type no `--watch` named under any configuration. Any other failure, including a 403 for an
operation the RBAC grants, stays a failure.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from mcp_k8s import rbac
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import api_client, apply_rbac, create_namespace, delete_namespace, service_account_kubeconfig

CONFIGURATIONS = ("default", "read-only", "allowed-namespaces")
RBAC_WATCH = ("widgets.example.com/v1", "clusterwidgets.example.com/v1")  # the test CRDs (tests/fixtures/crds.yaml)
ACCOUNT = "mcp-k8s"

# errors.Forbidden: `Forbidden: user "U" may not VERB RESOURCE ["NAME"] in namespace "NS"|cluster-wide; ...`
FORBIDDEN = re.compile(
    r'Forbidden: user "(?P<user>system:serviceaccount:[^"]+)" may not (?P<verb>\S+) (?P<resource>\S+)'
    r'(?: "[^"]*")?(?: in namespace "(?P<namespace>[^"]+)"| cluster-wide)'
)


def configuration() -> str | None:
    name = os.environ.get("MCP_K8S_TEST_AS") or None
    if name is not None and name not in CONFIGURATIONS:
        raise pytest.UsageError(f"MCP_K8S_TEST_AS must be one of {', '.join(CONFIGURATIONS)}, not {name!r}")
    return name


def rbac_settings(name: str, allowed: tuple[str, ...] = ()) -> Settings:
    """The flags `mcp-k8s rbac` is given for a configuration."""
    return Settings(watch=RBAC_WATCH, read_only=name == "read-only", allowed_namespaces=allowed)


def generated(settings: Settings, namespace: str, suffix: str) -> list[dict[str, Any]]:
    """`mcp-k8s rbac` output as objects; cluster-scoped names get a suffix so runs on a shared cluster never clash
    (rules and bindings are untouched)."""
    docs = [d for d in yaml.safe_load_all(rbac.manifest(settings, service_account=ACCOUNT, namespace=namespace)) if d]
    for doc in docs:
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding") and suffix:
            doc["metadata"]["name"] += f"-{suffix}"
            if "roleRef" in doc:
                doc["roleRef"]["name"] += f"-{suffix}"
    return docs


@dataclass
class LeastPrivilege:
    """The active configuration and, for the cluster-wide ones, the session's account."""

    name: str
    cluster: TestCluster
    session_kubeconfig: Path | None = None

    @asynccontextmanager
    async def settings(self, admin: client.ApiClient, namespace: str, tmp_path: Path) -> AsyncIterator[Settings]:
        """Server settings for one test: the session's account, or (allowed-namespaces) a fresh one whose Roles
        cover the test's namespace and a second one made for it."""
        if self.session_kubeconfig is not None:
            yield Settings(kubeconfig=self.session_kubeconfig)
            return
        other = f"{namespace[:59]}-b"
        await client.CoreV1Api(admin).create_namespace({"metadata": {"name": other, "labels": {"mcp-k8s-test": "1"}}})
        docs = generated(rbac_settings(self.name, (namespace, other)), namespace, secrets.token_hex(3))
        try:
            allowed = (namespace, other)
            await apply_rbac(admin, docs)
            kubeconfig = await service_account_kubeconfig(
                admin, self.cluster.kubeconfig, namespace, ACCOUNT, tmp_path / "least-privilege.kubeconfig"
            )
            yield Settings(kubeconfig=kubeconfig, allowed_namespaces=allowed)
        finally:
            await delete_cluster_scoped(admin, docs)
            await delete_namespace(admin, other)


def granted(name: str, verb: str, resource: str, namespace: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether the RBAC generated for configuration `name` grants this operation (`resource` as our errors name it:
    `plural` for the core group, else `plural.group`)."""
    settings = rbac_settings(name, allowed)
    rules = [r.as_dict() for r in rbac.rules(settings)]
    if not allowed:
        rules.append({"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]})
    elif namespace not in allowed:
        return False  # Roles exist only in the allowed namespaces; nothing cluster-wide
    wanted = resource.split("/", 1)[0]
    for rule in rules:
        group = rule["apiGroups"][0]
        names = {r.split("/", 1)[0] if not group else f"{r.split('/', 1)[0]}.{group}" for r in rule["resources"]}
        if wanted in names and verb in rule["verbs"]:
            return True
    return False


@pytest.fixture(scope="session")
async def least_privilege(
    cluster: TestCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LeastPrivilege | None]:
    name = configuration()
    if name is None:
        yield None
        return
    found = LeastPrivilege(name, cluster)
    if name == "allowed-namespaces":
        yield found
        return
    async with api_client(cluster.kubeconfig) as admin:
        home = await create_namespace(admin, "least-privilege")
        docs = generated(rbac_settings(name), home, secrets.token_hex(3))
        await apply_rbac(admin, docs)
        path = tmp_path_factory.mktemp("least-privilege") / "account.kubeconfig"
        found.session_kubeconfig = await service_account_kubeconfig(admin, cluster.kubeconfig, home, ACCOUNT, path)
        try:
            yield found
        finally:
            await delete_cluster_scoped(admin, docs)
            await delete_namespace(admin, home)


async def delete_cluster_scoped(admin: client.ApiClient, docs: list[dict[str, Any]]) -> None:
    rbac_api = client.RbacAuthorizationV1Api(admin)
    for doc in docs:
        if doc["kind"] == "ClusterRoleBinding":
            await rbac_api.delete_cluster_role_binding(doc["metadata"]["name"])
        elif doc["kind"] == "ClusterRole":
            await rbac_api.delete_cluster_role(doc["metadata"]["name"])


def pytest_report_header(config: pytest.Config) -> list[str]:
    name = configuration()
    if name is None:
        return []
    rules = "; ".join(
        f"{r.group or 'core'} {','.join(r.resources)}: {','.join(r.verbs)}" for r in rbac.rules(rbac_settings(name))
    )
    return [f"least privilege: {name} — the server runs as a ServiceAccount bound only to: {rules}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    name = configuration()
    report: pytest.TestReport = outcome.get_result()
    if name is None or report.when != "call" or not report.failed:
        return
    settings = item.funcargs.get("settings") if hasattr(item, "funcargs") else None
    if not isinstance(settings, Settings) or "make_user" in item.fixturenames:  # type: ignore[attr-defined]
        return  # the test never ran as the account: nothing to excuse
    hits = list(FORBIDDEN.finditer(str(report.longrepr).replace('\\"', '"')))  # also inside reprs of JSON text
    allowed = settings.allowed_namespaces
    if hits and not any(granted(name, h["verb"], h["resource"], h["namespace"], allowed) for h in hits):
        report.outcome = "skipped"
        report.wasxfail = f"refused as expected under {name}: {hits[0].group(0)}"  # type: ignore[attr-defined]
