"""In-cluster identity for real: `mcp-k8s watch --http --auth kubernetes` as the chart runs it in a pod —
KUBERNETES_SERVICE_HOST/PORT, a projected service-account directory, the token of a ServiceAccount bound only to the
generated RBAC (its Role, and TokenReview creation for the auth) — against the sandbox's API server, served over HTTP
to an MCP client that presents its own ServiceAccount token. The server's token is rotated mid-test and the old one
revoked at once; the server keeps working, TokenReviews for new callers included. The namespace comes from the
namespace file.

Two variants: the process itself, with the directory moved by MCP_K8S_SERVICE_ACCOUNT_DIR (always runs), and the
built image (`nox -s image`), read-only, non-root, host networking, the directory bind-mounted where a pod has it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import anyio
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s.rbac import manifest
from mcp_k8s.sandbox import free_port
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.e2e.in_cluster import MOUNT, ServiceAccountVolume, bound_token, cluster_ca, token_status
from tests.integration.custom_resources.test_cache_tools import create
from tests.kube import apply_rbac
from tests.plugins.cluster import call, error
from tests.security.test_http import account_token, mcp_as, post_initialize

pytestmark = pytest.mark.anyio

WIDGETS = "widgets.example.com/v1"
ACCOUNT = "mcp-k8s"
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding")


async def apply_generated(admin: client.ApiClient, settings: Settings, namespace: str) -> None:
    """`mcp-k8s rbac` for these settings, applied; cluster-scoped names get the namespace so tests cannot collide."""
    docs = [d for d in yaml.safe_load_all(manifest(settings, service_account=ACCOUNT, namespace=namespace)) if d]
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED:
            doc["metadata"]["name"] += f"-{namespace}"
            if "roleRef" in doc:
                doc["roleRef"]["name"] += f"-{namespace}"
    await apply_rbac(admin, docs)
    assert {d["kind"] for d in docs} == {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


async def delete_generated(admin: client.ApiClient, namespace: str) -> None:
    """Remove the cluster-scoped objects apply_generated made for this namespace (the namespace takes the rest)."""
    rbac = client.RbacAuthorizationV1Api(admin)
    bindings = await rbac.list_cluster_role_binding()
    roles = await rbac.list_cluster_role()
    for item, delete in [(b, rbac.delete_cluster_role_binding) for b in bindings.items] + [
        (r, rbac.delete_cluster_role) for r in roles.items
    ]:
        if item.metadata.name.startswith(f"{ACCOUNT}-") and item.metadata.name.endswith(f"-{namespace}"):
            try:
                await delete(item.metadata.name)
            except ApiException as exc:
                if exc.status != 404:
                    raise


@asynccontextmanager
async def serve_process(argv: list[str], env: dict[str, str], sa_dir: Path, log: Path) -> AsyncIterator[None]:
    environ = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "MCP_K8S_KUBECONFIG")}
    environ |= env | {"MCP_K8S_SERVICE_ACCOUNT_DIR": str(sa_dir)}
    with log.open("wb") as stderr:
        process = await anyio.open_process(
            [sys.executable, "-m", "mcp_k8s", *argv], env=environ, stdout=stderr, stderr=stderr
        )
        async with process:
            try:
                yield
            finally:
                process.terminate()
                with anyio.fail_after(20):
                    assert await process.wait() == 0, log.read_text()


@asynccontextmanager
async def serve_image(argv: list[str], env: dict[str, str], sa_dir: Path, log: Path) -> AsyncIterator[None]:
    image = os.environ.get("MCP_K8S_TEST_IMAGE")
    if not image:
        pytest.fail("the image variant needs MCP_K8S_TEST_IMAGE (run it through `nox -s image`)")
    name = f"mcp-k8s-in-cluster-{os.getpid()}-{sa_dir.parent.name}"
    docker = [
        "docker", "run", "--detach", "--name", name,
        "--read-only", "--tmpfs", "/tmp:rw,noexec,nosuid,size=64m",
        "--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--network", "host",
        "--volume", f"{sa_dir}:{MOUNT}:ro",
    ]  # fmt: skip
    for key, value in env.items():
        docker += ["--env", f"{key}={value}"]
    await anyio.run_process([*docker, image, *argv])
    try:
        yield
    finally:
        await anyio.run_process(["docker", "stop", "--time", "20", name])
        logs = await anyio.run_process(["docker", "logs", name], check=False)
        log.write_bytes(logs.stdout + logs.stderr)
        state = await anyio.run_process(["docker", "inspect", "--format", "{{.State.ExitCode}}", name])
        await anyio.run_process(["docker", "rm", name])
        assert state.stdout.strip() == b"0", log.read_text()


async def wait_ready(health: int, log: Path, timeout: float = 120) -> None:
    """Until /readyz answers 200 (every watched type synced); on timeout, fail with what the server logged."""
    async with aiohttp.ClientSession() as session:
        with anyio.move_on_after(timeout):
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{health}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await anyio.sleep(0.25)
    logged = log.read_text(errors="replace")[-3000:] if log.exists() else "(the container's log is read at stop)"
    pytest.fail(f"the server was not ready within {timeout:.0f}s; its log: {logged}")


@pytest.mark.parametrize("variant", ["process", pytest.param("image", marks=pytest.mark.image)])
async def test_in_cluster_identity_with_token_rotation(
    variant: str, cluster: TestCluster, crds: None, namespace: str, admin: client.ApiClient, tmp_path: Path
) -> None:
    settings = Settings(watch=(WIDGETS,), allowed_namespaces=(namespace,), auth="kubernetes")
    await apply_generated(admin, settings, namespace)
    caller = await account_token(admin, namespace, "mcp-client")
    ca = cluster_ca(cluster.kubeconfig)
    volume = ServiceAccountVolume(tmp_path / "serviceaccount", ca=ca, namespace=namespace)
    first = await bound_token(admin, namespace, ACCOUNT, "token-holder-1")
    volume.write_token(first)

    api = urlsplit(cluster.url)
    env = {"KUBERNETES_SERVICE_HOST": api.hostname or "", "KUBERNETES_SERVICE_PORT": str(api.port)}
    http, health = free_port(), free_port()
    argv = [
        "watch", "--watch", WIDGETS, "--allowed-namespaces", namespace,
        "--http", f"127.0.0.1:{http}", "--health-port", str(health), "--log-format", "json", "--auth", "kubernetes",
    ]  # fmt: skip
    log = tmp_path / "server.log"
    launch = serve_process if variant == "process" else serve_image
    await create(admin, namespace, "before", size=1)
    url = f"http://127.0.0.1:{http}/mcp"
    async with launch(argv, env, volume.root, log):
        await wait_ready(health, log)
        assert (await post_initialize(url, {})).status_code == 401
        async with mcp_as(url, caller) as c:
            # No namespace argument: it comes from the namespace file; the object comes from the cache.
            listed = await call(c, "list_custom_resources", plural="wg")
            assert listed["source"] == "cache"
            assert [(i["namespace"], i["name"]) for i in listed["items"]] == [(namespace, "before")]
            # The server's identity is the ServiceAccount's, with the generated Role and nothing more.
            assert (await call(c, "check_access", verb="create", resource="widgets.example.com"))["allowed"] is True
            assert (await call(c, "check_access", verb="list", resource="configmaps"))["allowed"] is False
            denied = await error(c, "list_custom_resources", plural="configmaps")
            assert f'user "system:serviceaccount:{namespace}:{ACCOUNT}"' in denied

            # Rotate as the kubelet does, then revoke the old token at once.
            second = await bound_token(admin, namespace, ACCOUNT, "token-holder-2")
            volume.write_token(second)
            await client.CoreV1Api(admin).delete_namespaced_secret("token-holder-1", namespace)
            probe = f"/api/v1/namespaces/{namespace}/secrets"
            with anyio.fail_after(30):
                while await token_status(cluster.url, ca, first, probe) != 401:
                    await anyio.sleep(0.2)
            assert await token_status(cluster.url, ca, second, probe) == 200

            # Requests right after the rotation use the new token: API reads, writes, and the cache keeps going.
            assert (await call(c, "check_access", verb="create", resource="widgets.example.com"))["allowed"] is True
            await call(c, "list_secrets")
            await call(
                c, "create_custom_resource", plural="wg", body={"metadata": {"name": "by-mcp"}, "spec": {"size": 2}}
            )
            await create(admin, namespace, "after", size=3)
            with anyio.fail_after(15):
                while True:
                    names = [i["name"] for i in (await call(c, "list_custom_resources", plural="wg"))["items"]]
                    if names == ["after", "before", "by-mcp"]:
                        break
                    await anyio.sleep(0.2)
        # A caller the server has not seen yet: its TokenReview goes out with the rotated token.
        newcomer = await account_token(admin, namespace, "mcp-client-2")
        async with mcp_as(url, newcomer) as c:
            assert [i["name"] for i in (await call(c, "list_custom_resources", plural="wg"))["items"]] == [
                "after",
                "before",
                "by-mcp",
            ]
    await delete_generated(admin, namespace)
    logged = log.read_text()
    assert "service-account token reloaded" in logged
    for token in (first, second, caller, newcomer):
        assert token not in logged
