"""Exec-plugin credentials (EKS/GKE/OIDC helpers): refreshed when they expire and after a 401, against the real
API server with a real ServiceAccount token handed out by a plugin script."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
import yaml
from kubernetes_asyncio import client

from mcp_k8s.settings import Settings
from tests.kube import MakeUser, exec_kubeconfig, wait_root_ca
from tests.plugins.cluster import mcp_client

pytestmark = pytest.mark.anyio

PLUGIN = """
import datetime, json, pathlib, sys
state = pathlib.Path(sys.argv[1])
calls = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(calls))
token = "not-a-valid-token" if calls == 1 else sys.argv[2]
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(sys.argv[3]))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


async def test_exec_plugin_refreshes_after_401_and_expiry(
    make_user: MakeUser, namespace: str, tmp_path: Path, admin: client.ApiClient
) -> None:
    limited = await make_user(rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}])
    doc = yaml.safe_load(limited.read_text())
    kubeconfig, calls = exec_kubeconfig(doc, PLUGIN, tmp_path, renew_after=4)  # due 4 s after issue
    core = client.CoreV1Api(admin)
    await core.create_namespaced_config_map(namespace, {"metadata": {"name": "cm"}})
    await wait_root_ca(admin, namespace)
    async with mcp_client(Settings(kubeconfig=kubeconfig, read_only=True)) as c:
        # The plugin's first token is rejected: the 401 triggers one plugin re-run and a retry, invisibly.
        first = await c.call_tool("list_custom_resources", {"plural": "configmaps", "namespace": namespace})
        assert not first.is_error, first.content
        names = [i["name"] for i in first.structured_content["items"]]  # type: ignore[index]
        assert names == ["cm", "kube-root-ca.crt"]  # the latter from the controller manager's root-CA publisher
        assert calls.read_text() == "2"
        # Past its expirationTimestamp the token is fetched again before the next request.
        await anyio.sleep(4.5)
        again = await c.call_tool("get_custom_resource", {"plural": "cm", "name": "cm", "namespace": namespace})
        assert not again.is_error, again.content
        assert calls.read_text() == "3"
