"""Async helpers the integration tests use to arrange cluster state (as admin, straight through kubernetes_asyncio)."""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.rest import ApiException

FIXTURES = Path(__file__).parent / "fixtures"
MakeUser = Callable[..., Awaitable[Path]]
TEST_CRDS = list(yaml.safe_load_all((FIXTURES / "crds.yaml").read_text()))


@asynccontextmanager
async def api_client(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config(config_file=str(kubeconfig))
    async with api:
        yield api


async def wait_crd_established(api: client.ApiClient, name: str, timeout: float = 30.0) -> dict[str, Any]:
    ext = client.ApiextensionsV1Api(api)
    with anyio.fail_after(timeout):
        while True:
            crd = await ext.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                return api.sanitize_for_serialization(crd)  # type: ignore[no-any-return]
            await anyio.sleep(0.1)


async def apply_crd(api: client.ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """Create the CRD (or leave the existing one) and wait until it is Established and served."""
    ext = client.ApiextensionsV1Api(api)
    try:
        await ext.create_custom_resource_definition(body)
    except ApiException as exc:
        if exc.status != 409:
            raise
    crd = await wait_crd_established(api, body["metadata"]["name"])
    await wait_served(api, body["spec"]["group"], body["spec"]["versions"][0]["name"], body["spec"]["names"]["plural"])
    return crd


async def wait_served(api: client.ApiClient, group: str, version: str, plural: str, timeout: float = 30.0) -> None:
    """Established can precede discovery by a moment; wait until the group/version lists the plural."""
    with anyio.fail_after(timeout):
        while True:
            try:
                found = await api.call_api(
                    f"/apis/{group}/{version}",
                    "GET",
                    response_types_map={200: "object"},
                    auth_settings=["BearerToken"],
                    _return_http_data_only=True,
                )
                if any(r["name"] == plural for r in found.get("resources", [])):
                    return
            except ApiException as exc:
                if exc.status != 404:
                    raise
            await anyio.sleep(0.1)


async def apply_test_crds(api: client.ApiClient) -> None:
    for body in TEST_CRDS:
        await apply_crd(api, body)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def create_namespace(api: client.ApiClient, prefix: str = "t") -> str:
    name = unique(prefix)[:63].rstrip("-")
    await client.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": {"mcp-k8s-test": "1"}}})
    return name


async def wait_root_ca(api: client.ApiClient, namespace: str, timeout: float = 30.0) -> None:
    """Wait for kube-root-ca.crt, which the controller manager's root-CA publisher adds to a new namespace shortly
    after it is created: a test that lists a namespace's ConfigMaps must not race it."""
    core = client.CoreV1Api(api)
    with anyio.fail_after(timeout):
        while "kube-root-ca.crt" not in [
            c.metadata.name for c in (await core.list_namespaced_config_map(namespace)).items
        ]:
            await anyio.sleep(0.1)


async def delete_namespace(api: client.ApiClient, name: str) -> None:
    try:
        await client.CoreV1Api(api).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


async def grant(
    api: client.ApiClient,
    namespace: str,
    name: str,
    rules: Iterable[dict[str, Any]],
    *,
    subject: dict[str, str],
    cluster: bool = False,
) -> None:
    """Bind `rules` to `subject`: a Role in `namespace`, or a ClusterRole cluster-wide."""
    rbac = client.RbacAuthorizationV1Api(api)
    role = {"metadata": {"name": name}, "rules": list(rules)}
    kind = "ClusterRole" if cluster else "Role"
    binding = {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
        "subjects": [subject],
    }
    if cluster:
        await rbac.create_cluster_role(role)
        await rbac.create_cluster_role_binding(binding)
    else:
        await rbac.create_namespaced_role(namespace, role)
        await rbac.create_namespaced_role_binding(namespace, binding)


async def apply_rbac(api: client.ApiClient, docs: Iterable[dict[str, Any]]) -> None:
    """Create the objects `mcp-k8s rbac` prints (ServiceAccount, Roles, ClusterRoles and their bindings)."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    for doc in docs:
        ns = doc["metadata"].get("namespace")
        match doc["kind"]:
            case "ServiceAccount":
                await core.create_namespaced_service_account(ns, doc)
            case "Role":
                await rbac.create_namespaced_role(ns, doc)
            case "RoleBinding":
                await rbac.create_namespaced_role_binding(ns, doc)
            case "ClusterRole":
                await rbac.create_cluster_role(doc)
            case "ClusterRoleBinding":
                await rbac.create_cluster_role_binding(doc)
            case kind:
                raise AssertionError(f"`mcp-k8s rbac` printed an unexpected {kind}")


async def service_account_kubeconfig(
    api: client.ApiClient,
    admin_kubeconfig: Path,
    namespace: str,
    account: str,
    out: Path,
) -> Path:
    """Create a ServiceAccount and write a kubeconfig with a fresh TokenRequest token for it.

    Works the same on our sandbox and on kind, so the same tests see real 403s on both.
    """
    core = client.CoreV1Api(api)
    try:
        await core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    token = await core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    )
    doc = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
    cluster = next(c for c in doc["clusters"] if c["name"] == context["cluster"])
    out.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "limited",
                "clusters": [cluster],
                "users": [{"name": account, "user": {"token": token.status.token}}],
                "contexts": [
                    {
                        "name": "limited",
                        "context": {"cluster": cluster["name"], "user": account, "namespace": namespace},
                    }
                ],
            }
        )
    )
    out.chmod(0o600)
    return out


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def exec_kubeconfig(doc: dict[str, Any], plugin: str, tmp_path: Path, renew_after: float) -> tuple[Path, Path]:
    """The kubeconfig `doc` with its user's token moved behind an exec plugin (the script `plugin`, which hands the
    token out and counts its calls); returns (kubeconfig, the calls file).

    kubernetes_asyncio renews a credential 5 minutes before its expirationTimestamp, so the plugin is told to expire
    it 300 s + `renew_after` from issue: due for renewal `renew_after` seconds later.
    """
    token = doc["users"][0]["user"].pop("token")
    script, calls = tmp_path / "plugin.py", tmp_path / "calls"
    script.write_text(plugin)
    doc["users"][0]["user"]["exec"] = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(script), str(calls), token, str(300 + renew_after)],
        "interactiveMode": "Never",
    }
    kubeconfig = tmp_path / "exec.yaml"
    kubeconfig.write_text(yaml.safe_dump(doc))
    return kubeconfig, calls
