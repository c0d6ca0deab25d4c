"""The world as a pod sees it, on loopback: a projected service-account directory and the in-cluster variables.

`ServiceAccountVolume` lays the directory out the way the kubelet's atomic writer does (`token`, `ca.crt` and
`namespace` are symlinks through `..data` to a timestamped directory, swapped with one rename), so a rotation here is
a rotation as a pod sees it. Tokens come from the TokenRequest API, bound to a Secret: deleting the Secret revokes
the token at once, which is the sharpest form of "the old token stopped working".
"""

from __future__ import annotations

import base64
import os
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
FILES = ("token", "ca.crt", "namespace")


class ServiceAccountVolume:
    def __init__(self, root: Path, *, ca: bytes, namespace: str) -> None:
        self.root = root
        self._ca = ca
        self._namespace = namespace
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        root.chmod(0o755)  # readable by the image's non-root user through a bind mount

    def write_token(self, token: str) -> None:
        """Publish a new token with the kubelet's atomic swap: new directory, `..data` renamed over, old one gone."""
        data = self.root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
        data.mkdir(mode=0o755)
        for name, content in (("token", token.encode()), ("ca.crt", self._ca), ("namespace", self._namespace.encode())):
            (data / name).write_bytes(content)
            (data / name).chmod(0o644)
        link = self.root / "..data"
        previous = link.resolve() if link.is_symlink() else None
        staged = self.root / "..data_tmp"
        staged.unlink(missing_ok=True)
        staged.symlink_to(data.name)
        os.replace(staged, link)
        for name in FILES:
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")
        if previous is not None:
            for child in previous.iterdir():
                child.unlink()
            previous.rmdir()


def cluster_ca(kubeconfig: Path) -> bytes:
    doc = yaml.safe_load(kubeconfig.read_text())
    context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
    if "certificate-authority-data" in cluster:
        return base64.b64decode(cluster["certificate-authority-data"])
    return Path(cluster["certificate-authority"]).read_bytes()


async def bound_token(api: client.ApiClient, namespace: str, account: str, holder: str) -> str:
    """A TokenRequest token for the ServiceAccount, bound to a new Secret `holder`: deleting it revokes the token."""
    core = client.CoreV1Api(api)
    secret = await core.create_namespaced_secret(namespace, {"metadata": {"name": holder}})
    request: dict[str, Any] = {
        "spec": {
            "expirationSeconds": 600,  # the API's minimum; revocation (the Secret's deletion) is what the test uses
            "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": holder, "uid": secret.metadata.uid},
        }
    }
    answer = await core.create_namespaced_service_account_token(account, namespace, request)
    token: str = answer.status.token
    return token


async def token_status(url: str, ca: bytes, token: str, path: str) -> int:
    """HTTP status of one GET with this bearer token (401 once it is revoked)."""
    ctx = ssl.create_default_context(cadata=ca.decode())
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}{path}", headers={"Authorization": f"Bearer {token}"}, ssl=ctx) as response,
    ):
        return response.status
