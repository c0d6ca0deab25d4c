"""The control plane: etcd + kube-apiserver (+ controller manager and scheduler) on loopback with their own PKI.

This is envtest's shape (a real API server, no kubelet, no Docker) driven from Python: free loopback ports, an ECDSA
CA that signs the serving cert and client certs (CN = user, O = groups), service-account signing keys, RBAC
authorization, and an admin kubeconfig. Ready means `/readyz` is 200 *and* the `default` namespace exists (it is
created asynchronously after readyz), and, with controllers, their `/healthz`. Stopping terminates the processes in
reverse order and removes the temporary directory.
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from cryptography.hazmat.primitives.asymmetric import ec

from mcp_k8s.sandbox import binaries, controllers
from mcp_k8s.sandbox.pki import (
    LOOPBACK_HOSTS,
    CertificateAuthority,
    kubeconfig_yaml,
    pem_key,
    pem_public_key,
    write_file,
    write_user_kubeconfig,
)
from mcp_k8s.sandbox.processes import START_TIMEOUT, Process, SandboxError, free_port, poll_ok

ADMIN_USER = "mcp-k8s-admin"


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver (and, when asked, controllers). Build with `start_control_plane()`."""

    workdir: Path
    ca: CertificateAuthority
    etcd_url: str
    apiserver_port: int
    admin_kubeconfig: Path
    _etcd: Process
    _apiserver: Process
    _controllers: list[controllers.Controller] = field(default_factory=list)
    _env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def pids(self) -> list[int]:
        processes = [self._etcd, self._apiserver, *(c.process for c in self._controllers)]
        return [p.pid for p in processes if p.pid is not None]

    def user_kubeconfig(
        self, user: str, groups: Sequence[str] = (), *, namespace: str | None = None, path: Path | None = None
    ) -> Path:
        """Mint a client certificate for `user` in `groups` and write a kubeconfig for it.

        RBAC sees exactly that identity, so tests get real 403s for what its bindings do not allow.
        """
        target = path or self.workdir / f"kubeconfig-{user}.yaml"
        return write_user_kubeconfig(target, self.url, self.ca, user, groups, namespace=namespace)

    def token_kubeconfig(self, token: str, *, user: str, namespace: str | None = None, path: Path) -> Path:
        """A kubeconfig that authenticates with a bearer token (e.g. a service-account TokenRequest)."""
        text = kubeconfig_yaml(self.url, self.ca.cert_pem, user=user, token=token, namespace=namespace)
        return write_file(path, text.encode())

    async def version(self) -> dict[str, Any]:
        """The server's /version document (anonymous-readable)."""
        async with self.session() as session, session.get(f"{self.url}/version") as response:
            response.raise_for_status()
            doc: dict[str, Any] = await response.json()
            return doc

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an object as the admin user (used to register simulated nodes)."""
        async with self.session(admin=True) as session, session.post(f"{self.url}{path}", json=body) as response:
            response.raise_for_status()
            created: dict[str, Any] = await response.json()
            return created

    async def compact_etcd(self) -> int:
        """Compact etcd to its current revision through the gRPC gateway; older resourceVersions then give 410."""
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{self.etcd_url}/v3/kv/range", json={"key": base64.b64encode(b"/").decode(), "limit": 1}
            ) as response:
                response.raise_for_status()
                revision = int((await response.json())["header"]["revision"])
            async with session.post(
                f"{self.etcd_url}/v3/kv/compaction", json={"revision": str(revision), "physical": True}
            ) as response:
                response.raise_for_status()
        return revision

    async def stop_apiserver(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds (open watches keep a graceful shutdown waiting that long)."""
        await self._apiserver.stop(grace)

    async def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and wait until it is ready (for restart scenarios)."""
        await self._apiserver.start(self._env)
        await self._wait_apiserver()

    async def restart_apiserver(self) -> None:
        await self.stop_apiserver()
        await self.start_apiserver()

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            for controller in reversed(self._controllers):
                await controller.process.stop(grace=5.0)
            await self._apiserver.stop()
            await self._etcd.stop()

    def session(self, *, admin: bool = False) -> aiohttp.ClientSession:
        """An aiohttp session that trusts the sandbox CA (and, with `admin`, presents the admin certificate)."""
        context = ssl.create_default_context(cadata=self.ca.cert_pem.decode())
        if admin:
            context.load_cert_chain(self.workdir / "admin.crt", self.workdir / "admin.key")
        connector = aiohttp.TCPConnector(ssl=context)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))

    async def _wait_apiserver(self) -> None:
        """Poll /readyz, then the `default` namespace, failing fast if a process dies."""
        deadline = time.monotonic() + START_TIMEOUT
        checks = [(f"{self.url}/readyz", False), (f"{self.url}/api/v1/namespaces/default", True)]
        for url, as_admin in checks:
            async with self.session(admin=as_admin) as session:
                await poll_ok(
                    session, url, watched=(self._etcd, self._apiserver), owner=self._apiserver, deadline=deadline
                )

    async def _start_controllers(self) -> None:
        """Start the controller manager and the scheduler, then wait for both /healthz (they need a ready API)."""
        for controller in self._controllers:
            await controller.process.start(self._env)
        deadline = time.monotonic() + START_TIMEOUT
        async with self.session() as session:
            for controller in self._controllers:
                watched = (self._apiserver, *(c.process for c in self._controllers))
                await poll_ok(
                    session, controller.health_url, watched=watched, owner=controller.process, deadline=deadline
                )


def _etcd_process(workdir: Path, etcd_bin: Path, client_port: int, peer_port: int) -> Process:
    etcd_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    argv = [
        str(etcd_bin),
        "--name=sandbox",
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls={etcd_url}",
        f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=sandbox={peer_url}",
        "--unsafe-no-fsync=true",  # a sandbox trades durability for speed, as envtest does
        "--log-level=warn",
    ]
    return Process("etcd", argv, workdir / "etcd.log")


def _apiserver_process(workdir: Path, apiserver_bin: Path, etcd_url: str, port: int, extra: Sequence[str]) -> Process:
    argv = [
        str(apiserver_bin),
        f"--etcd-servers={etcd_url}",
        f"--secure-port={port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--cert-dir={workdir / 'certs'}",
        f"--tls-cert-file={workdir / 'apiserver.crt'}",
        f"--tls-private-key-file={workdir / 'apiserver.key'}",
        f"--client-ca-file={workdir / 'ca.crt'}",
        f"--service-account-issuer=https://127.0.0.1:{port}",
        f"--service-account-key-file={workdir / 'sa.pub'}",
        f"--service-account-signing-key-file={workdir / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC",
        "--allow-privileged=true",
        # ServiceAccount: pods need no token volume (no kubelet mounts it), and a pod created right after its
        # namespace must not race the service-account controller for the `default` ServiceAccount.
        # TaintNodesByCondition: it taints every new node not-ready until the node-lifecycle controller, which the
        # sandbox does not run (see controllers.py), lifts it; the scheduler would never place a pod.
        "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
        "--endpoint-reconciler-type=none",
        "--kubelet-preferred-address-types=InternalIP",  # simulated (KWOK) nodes serve logs on their InternalIP
        f"--kubelet-client-certificate={workdir / 'admin.crt'}",
        f"--kubelet-client-key={workdir / 'admin.key'}",
        "--profiling=false",
        "--v=1",
        *extra,
    ]
    return Process("kube-apiserver", argv, workdir / "kube-apiserver.log")


def _prepare(
    workdir: Path, binaries_env: Mapping[str, str], apiserver_args: Sequence[str], *, with_controllers: bool
) -> ControlPlane:
    """Write the PKI and build the command lines; nothing runs yet."""
    etcd_bin = binaries.locate("etcd", binaries_env)
    apiserver_bin = binaries.locate("kube-apiserver", binaries_env)
    ca = CertificateAuthority()
    write_file(workdir / "ca.crt", ca.cert_pem, 0o644)
    ca.write_pair(workdir, "apiserver", "kube-apiserver", server=True, hosts=LOOPBACK_HOSTS)
    admin_cert, admin_key = ca.issue(ADMIN_USER, ["system:masters"])
    write_file(workdir / "admin.crt", admin_cert, 0o644)
    write_file(workdir / "admin.key", admin_key)
    sa_key = ec.generate_private_key(ec.SECP256R1())
    write_file(workdir / "sa.key", pem_key(sa_key))
    write_file(workdir / "sa.pub", pem_public_key(sa_key), 0o644)
    etcd = _etcd_process(workdir, etcd_bin, free_port(), free_port())
    etcd_url = etcd.argv[3].split("=", 1)[1]
    api_port = free_port()
    plane = ControlPlane(
        workdir=workdir,
        ca=ca,
        etcd_url=etcd_url,
        apiserver_port=api_port,
        admin_kubeconfig=workdir / "admin.kubeconfig",
        _etcd=etcd,
        _apiserver=_apiserver_process(workdir, apiserver_bin, etcd_url, api_port, apiserver_args),
    )
    text = kubeconfig_yaml(plane.url, ca.cert_pem, user=ADMIN_USER, cert_pem=admin_cert, key_pem=admin_key)
    write_file(plane.admin_kubeconfig, text.encode())
    if with_controllers:
        plane._controllers = controllers.prepare(workdir, binaries_env, ca=ca, server=plane.url)
    return plane


@asynccontextmanager
async def start_control_plane(
    environ: Mapping[str, str],
    *,
    apiserver_args: Sequence[str] = (),
    with_controllers: bool = False,
    keep_workdir_on_error: bool = True,
) -> AsyncIterator[ControlPlane]:
    """Run etcd + kube-apiserver (+ kube-controller-manager and kube-scheduler with `with_controllers`) until the
    block exits; the workdir (PKI, data, logs) is removed afterwards.

    `environ` locates the binaries (KUBEBUILDER_ASSETS, TEST_ASSET_*, MCP_K8S_BIN_CACHE); the processes get a
    minimal environment so nothing from the caller's kube setup leaks into them.
    """
    workdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-sandbox-"))
    process_env = {"PATH": environ.get("PATH", os.defpath), "HOME": str(workdir)}
    failed = False
    plane: ControlPlane | None = None
    try:
        for attempt in (1, 2):
            plane = _prepare(workdir, environ, apiserver_args, with_controllers=with_controllers)
            plane._env = process_env
            try:
                await plane._etcd.start(process_env)
                await plane._apiserver.start(process_env)
                await plane._wait_apiserver()
                await plane._start_controllers()
                break
            except SandboxError:
                await plane.stop()
                logs = "".join(p.log_tail(200) for p in (plane._etcd, plane._apiserver))
                if attempt == 2 or "address already in use" not in logs:
                    raise
                shutil.rmtree(workdir / "etcd", ignore_errors=True)
        assert plane is not None
        yield plane
    except Exception:
        failed = True  # a failed start keeps its logs for the post-mortem; interrupts and cancels clean up
        raise
    finally:
        if plane is not None:
            await plane.stop()
        if not (failed and keep_workdir_on_error):
            shutil.rmtree(workdir, ignore_errors=True)
