"""HTTP authentication with the cluster as the authority, tried against the real API server.

Tokens are minted through the TokenRequest API (and, for the expired case, signed with the sandbox's own
service-account key, so the API server itself judges the expiry). The server runs in-process on loopback behind the
same guard `mcp-k8s serve --transport http` uses; the CLI's refusal to bind a public address without auth is tried
with the real command.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from kubernetes_asyncio import client
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_k8s import auth
from mcp_k8s.server import KubernetesServer
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.kube import grant

pytestmark = pytest.mark.anyio
AUDIENCE = "mcp-k8s-test"
WIDGETS = "widgets.example.com/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The guarded MCP app on a loopback port for the block; yields its /mcp URL."""
    port = free_port()
    app = KubernetesServer(settings).http_app("127.0.0.1")
    async with anyio.create_task_group() as tg:
        tg.start_soon(auth.serve, app, "127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/mcp"
        with anyio.fail_after(15):
            while True:
                try:
                    async with httpx2.AsyncClient() as h:
                        await h.get(url.replace("/mcp", "/"))
                    break
                except httpx2.TransportError:
                    await anyio.sleep(0.05)
        yield url
        tg.cancel_scope.cancel()


@asynccontextmanager
async def mcp_as(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as c,
    ):
        yield c


async def post_initialize(url: str, headers: dict[str, str]) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
    async with httpx2.AsyncClient() as h:
        return await h.post(url, json=body, headers={"Accept": "application/json, text/event-stream", **headers})


async def account_token(
    admin: client.ApiClient, namespace: str, name: str, *, audiences: list[str] | None = None
) -> str:
    core = client.CoreV1Api(admin)
    try:
        await core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    spec: dict[str, Any] = {"expirationSeconds": 3600}
    if audiences:
        spec["audiences"] = audiences
    answer = await core.create_namespaced_service_account_token(name, namespace, {"spec": spec})
    token: str = answer.status.token
    return token


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"transport": "http", "auth": "kubernetes", "auth_audiences": (AUDIENCE,), "impersonate": True}
    )


async def test_tokens_are_checked_by_the_cluster(
    auth_settings: Settings, admin: client.ApiClient, namespace: str, cluster: TestCluster
) -> None:
    good = await account_token(admin, namespace, "caller", audiences=[AUDIENCE])
    other_audience = await account_token(admin, namespace, "caller", audiences=["someone-else"])
    async with serving(auth_settings) as url:
        missing = await post_initialize(url, {})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        for token in ("not-a-token", good[:-4] + "AAAA", other_audience):
            refused = await post_initialize(url, {"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, token[:10]
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
            assert token not in refused.text
        signed = sandbox_signer(cluster)
        assert signed is not None or cluster.external, "the sandbox's service-account key was not found"
        if signed is not None:
            sub = f"system:serviceaccount:{namespace}:caller"
            uid = (await client.CoreV1Api(admin).read_namespaced_service_account("caller", namespace)).metadata.uid
            fresh = signed(sub, namespace, uid, AUDIENCE, expires_in=600)
            expired = signed(sub, namespace, uid, AUDIENCE, expires_in=-600)
            assert (await post_initialize(url, {"Authorization": f"Bearer {fresh}"})).status_code == 200
            assert (await post_initialize(url, {"Authorization": f"Bearer {expired}"})).status_code == 401
        async with mcp_as(url, good) as c:
            assert any(t.name == "list_custom_resources" for t in (await c.list_tools()).tools)


async def test_two_callers_see_what_their_own_rbac_allows_through_one_warm_cache(
    auth_settings: Settings, admin: client.ApiClient, namespace: str, crds: None
) -> None:
    objects = client.CustomObjectsApi(admin)
    await objects.create_namespaced_custom_object(
        "example.com",
        "v1",
        namespace,
        "widgets",
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {}},
    )
    reader = {"kind": "ServiceAccount", "name": "reader", "namespace": namespace}
    await grant(
        admin,
        namespace,
        "widget-reader",
        [
            {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list", "watch"]},
        ],
        subject=reader,
    )
    reader_token = await account_token(admin, namespace, "reader", audiences=[AUDIENCE])
    nobody_token = await account_token(admin, namespace, "nobody", audiences=[AUDIENCE])
    watched = auth_settings.model_copy(update={"watch": (WIDGETS,)})
    async with serving(watched) as url:
        async with mcp_as(url, reader_token) as c:
            got = await c.call_tool("get_custom_resource", {"plural": "widgets", "namespace": namespace, "name": "w1"})
            assert not got.is_error, got.content
            assert got.structured_content is not None
            assert got.structured_content["source"] == "cache"  # the warm cache answered, for this caller
        async with mcp_as(url, nobody_token) as c:
            for args in ({"plural": "widgets", "namespace": namespace, "name": "w1"},):
                denied = await c.call_tool("get_custom_resource", args)
                assert denied.is_error
                text = denied.content[0].text  # type: ignore[union-attr]
                assert "Forbidden" in text
                assert f"system:serviceaccount:{namespace}:nobody" in text
            listed = await c.call_tool("list_custom_resources", {"plural": "widgets", "namespace": namespace})
            assert listed.is_error
            assert "Forbidden" in listed.content[0].text  # type: ignore[union-attr]
            # The API path runs as the caller too (Impersonate-*): the cluster's own 403.
            pods = await c.call_tool("list_pods", {"namespace": namespace})
            assert pods.is_error
            assert "nobody" in pods.content[0].text  # type: ignore[union-attr]


async def test_foreign_host_and_origin_are_refused(settings: Settings) -> None:
    async with serving(settings.model_copy(update={"transport": "http"})) as url:
        ok = await post_initialize(url, {})
        assert ok.status_code == 200
        assert (await post_initialize(url, {"Origin": "http://evil.example"})).status_code == 403
        assert (await post_initialize(url, {"Host": "evil.example"})).status_code == 403
        assert (await post_initialize(url, {"Origin": "http://localhost:3000"})).status_code == 200


async def test_token_file_authority_reloads(settings: Settings, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('first-token-abcdef,alice,uid-1,"devs,ops"\n')
    configured = settings.model_copy(update={"transport": "http", "auth": "token-file", "auth_token_file": tokens})
    async with serving(configured) as url:
        assert (await post_initialize(url, {"Authorization": "Bearer first-token-abcdef"})).status_code == 200
        assert (await post_initialize(url, {"Authorization": "Bearer first-token-abcdeX"})).status_code == 401
        replacement = tmp_path / "tokens.new"
        replacement.write_text("# rotated\nsecond-token-123456,bob\n")
        os.replace(replacement, tokens)
        assert (await post_initialize(url, {"Authorization": "Bearer second-token-123456"})).status_code == 200
        assert (await post_initialize(url, {"Authorization": "Bearer first-token-abcdef"})).status_code == 401


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--transport", "http", "--host", "0.0.0.0"],  # noqa: S104
        ["watch", "--watch", WIDGETS, "--http", "0.0.0.0:18080"],
    ],
)
def test_a_public_bind_without_auth_does_not_start(args: list[str], cluster: TestCluster) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcp_k8s", *args, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "without authentication" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# --- a token the API server will judge expired -------------------------------------------------------------------


def sandbox_signer(cluster: TestCluster) -> Any:
    """Sign service-account JWTs with the sandbox's own key (found through its kube-apiserver's flags), or None for
    a cluster whose key we do not hold (kind)."""
    key_path: Path | None = None
    issuer = ""
    for pid in cluster.sandbox_pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        for arg in argv:
            if arg.startswith("--service-account-signing-key-file="):
                key_path = Path(arg.split("=", 1)[1])
            elif arg.startswith("--service-account-issuer="):
                issuer = arg.split("=", 1)[1]
    if key_path is None or not key_path.exists():
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def sign(sub: str, namespace: str, uid: str, audience: str, *, expires_in: int) -> str:
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT"}
        claims = {
            "iss": issuer,
            "sub": sub,
            "aud": [audience],
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + expires_in,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": sub.rsplit(":", 1)[1], "uid": uid}},
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    return sign


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
