"""The local control plane: etcd + kube-apiserver on loopback with their own PKI, for trying mcp-k8s and for tests.

This is envtest's shape (a real API server, no kubelet, no Docker) driven from Python: free loopback ports, an ECDSA
CA that signs the serving cert and client certs (CN = user, O = groups), service-account signing keys, RBAC
authorization, and an admin kubeconfig. Ready means `/readyz` is 200 *and* the `default` namespace exists (it is
created asynchronously after readyz). Stopping terminates both processes and removes the temporary directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import aiohttp
import anyio
import anyio.abc
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mcp_k8s import binaries
from mcp_k8s.logging import get_logger

log = get_logger(__name__)

ADMIN_USER = "mcp-k8s-admin"
START_TIMEOUT = 120.0  # two shared cores: a cold kube-apiserver can take 30+ s to install its bootstrap roles


class SandboxError(RuntimeError):
    """The control plane could not start or answer; the message says what and where the logs are."""


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertificateAuthority:
    """A throw-away CA: one week of validity is plenty for a sandbox, and nothing outside trusts it."""

    def __init__(self, common_name: str = "mcp-k8s-sandbox-ca") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name)
        self.cert = self._builder(subject, subject, self.key.public_key(), ca=True).sign(self.key, hashes.SHA256())
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    @staticmethod
    def _builder(
        subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, *, ca: bool
    ) -> x509.CertificateBuilder:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )

    def issue(
        self,
        common_name: str,
        organizations: Sequence[str] = (),
        *,
        server: bool = False,
        hosts: Sequence[str] = (),
    ) -> tuple[bytes, bytes]:
        """Returns (cert PEM, key PEM). Client certs carry the user in CN and groups in O, as the apiserver reads."""
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = self._builder(_name(common_name, organizations), self.cert.subject, key.public_key(), ca=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if hosts:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def kubeconfig_yaml(
    server: str,
    ca_pem: bytes,
    *,
    user: str,
    cert_pem: bytes | None = None,
    key_pem: bytes | None = None,
    token: str | None = None,
    namespace: str | None = None,
    context: str = "sandbox",
) -> str:
    """A self-contained kubeconfig (certificates inlined) for one user."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    credentials: dict[str, str] = {}
    if token is not None:
        credentials["token"] = token
    if cert_pem is not None and key_pem is not None:
        credentials["client-certificate-data"] = b64(cert_pem)
        credentials["client-key-data"] = b64(key_pem)
    ctx: dict[str, str] = {"cluster": "sandbox", "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": context, "context": ctx}],
        },
        sort_keys=False,
    )


def free_port() -> int:
    """A loopback port the kernel just handed out. Racy by nature; start() retries once on a bind failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Process:
    name: str
    argv: list[str]
    log_path: Path
    process: anyio.abc.Process | None = None
    log_file: IO[bytes] | None = None

    async def start(self, env: Mapping[str, str]) -> None:
        self.log_file = self.log_path.open("ab")
        self.process = await anyio.open_process(
            self.argv, stdin=None, stdout=self.log_file, stderr=self.log_file, env=dict(env), start_new_session=True
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, wait, SIGKILL: the apiserver drains for a moment; etcd flushes its WAL."""
        process = self.process
        if process is not None and process.returncode is None:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(grace, shield=True):
                await process.wait()
            if process.returncode is None:
                with suppress(ProcessLookupError):
                    process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()
        if process is not None:
            with anyio.CancelScope(shield=True):
                await process.aclose()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        self.process = None


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver. Build with `start_control_plane()`; everything here is loopback-only."""

    workdir: Path
    ca: CertificateAuthority
    etcd_url: str
    apiserver_port: int
    admin_kubeconfig: Path
    _etcd: _Process
    _apiserver: _Process
    _env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in (self._etcd, self._apiserver) if p.process is not None]

    def user_kubeconfig(
        self, user: str, groups: Sequence[str] = (), *, namespace: str | None = None, path: Path | None = None
    ) -> Path:
        """Mint a client certificate for `user` in `groups` and write a kubeconfig for it.

        RBAC sees exactly that identity, so tests get real 403s for what its bindings do not allow.
        """
        cert, key = self.ca.issue(user, groups)
        target = path or self.workdir / f"kubeconfig-{user}.yaml"
        target.write_text(
            kubeconfig_yaml(self.url, self.ca.cert_pem, user=user, cert_pem=cert, key_pem=key, namespace=namespace)
        )
        target.chmod(0o600)
        return target

    def token_kubeconfig(self, token: str, *, user: str, namespace: str | None = None, path: Path) -> Path:
        """A kubeconfig that authenticates with a bearer token (e.g. a service-account TokenRequest)."""
        path.write_text(kubeconfig_yaml(self.url, self.ca.cert_pem, user=user, token=token, namespace=namespace))
        path.chmod(0o600)
        return path

    async def version(self) -> dict[str, Any]:
        """The server's /version document (anonymous-readable)."""
        async with self._session() as session, session.get(f"{self.url}/version") as response:
            response.raise_for_status()
            doc: dict[str, Any] = await response.json()
            return doc

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST an object as the admin user (used to register simulated nodes)."""
        async with self._session(client=True) as session, session.post(f"{self.url}{path}", json=body) as response:
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
        await self._wait_ready()

    async def restart_apiserver(self) -> None:
        await self.stop_apiserver()
        await self.start_apiserver()

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._apiserver.stop()
            await self._etcd.stop()

    def _ssl(self, *, client: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.ca.cert_pem.decode())
        if client:
            context.load_cert_chain(self.workdir / "admin.crt", self.workdir / "admin.key")
        return context

    def _session(self, *, client: bool = False) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=self._ssl(client=client))
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))

    async def _wait_ready(self) -> None:
        """Poll /readyz, then the `default` namespace, failing fast if a process dies."""
        deadline = time.monotonic() + START_TIMEOUT
        checks = [(f"{self.url}/readyz", False), (f"{self.url}/api/v1/namespaces/default", True)]
        for url, as_admin in checks:
            async with self._session(client=as_admin) as session:
                await _poll_ok(
                    session, url, watched=(self._etcd, self._apiserver), owner=self._apiserver, deadline=deadline
                )


async def _poll_ok(
    session: aiohttp.ClientSession, url: str, *, watched: Sequence[_Process], owner: _Process, deadline: float
) -> None:
    """GET `url` until it answers 200; fail fast (with the log's tail) if a watched process dies, or at `deadline`."""
    while True:
        for proc in watched:
            if not proc.running:
                raise SandboxError(
                    f"{proc.name} exited during start-up; its log ({proc.log_path}) ends with:\n{proc.log_tail()}"
                )
        with suppress(aiohttp.ClientError, TimeoutError, OSError):
            async with session.get(url) as response:
                if response.status == 200:
                    return
        if time.monotonic() > deadline:
            raise SandboxError(
                f"{owner.name} did not answer {url} with 200 within {START_TIMEOUT:.0f}s; its log is "
                f"{owner.log_path}:\n{owner.log_tail()}"
            )
        await anyio.sleep(0.2)


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _prepare(workdir: Path, binaries_env: Mapping[str, str], apiserver_args: Sequence[str]) -> ControlPlane:
    """Write the PKI and build both command lines; nothing runs yet."""
    etcd_bin = binaries.locate("etcd", binaries_env)
    apiserver_bin = binaries.locate("kube-apiserver", binaries_env)
    ca = CertificateAuthority()
    _write(workdir / "ca.crt", ca.cert_pem, 0o644)
    serving_cert, serving_key = ca.issue("kube-apiserver", server=True, hosts=("localhost", "127.0.0.1"))
    _write(workdir / "apiserver.crt", serving_cert, 0o644)
    _write(workdir / "apiserver.key", serving_key)
    admin_cert, admin_key = ca.issue(ADMIN_USER, ["system:masters"])
    _write(workdir / "admin.crt", admin_cert, 0o644)
    _write(workdir / "admin.key", admin_key)
    sa_key = ec.generate_private_key(ec.SECP256R1())
    _write(workdir / "sa.key", _pem_key(sa_key))
    _write(
        workdir / "sa.pub",
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    etcd = _Process(
        "etcd",
        [
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
        ],
        workdir / "etcd.log",
    )
    apiserver = _Process(
        "kube-apiserver",
        [
            str(apiserver_bin),
            f"--etcd-servers={etcd_url}",
            f"--secure-port={api_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={workdir / 'certs'}",
            f"--tls-cert-file={workdir / 'apiserver.crt'}",
            f"--tls-private-key-file={workdir / 'apiserver.key'}",
            f"--client-ca-file={workdir / 'ca.crt'}",
            f"--service-account-issuer=https://127.0.0.1:{api_port}",
            f"--service-account-key-file={workdir / 'sa.pub'}",
            f"--service-account-signing-key-file={workdir / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",  # no token controller here, so no default ServiceAccount
            "--endpoint-reconciler-type=none",
            "--kubelet-preferred-address-types=InternalIP",  # simulated (KWOK) nodes serve logs on their InternalIP
            f"--kubelet-client-certificate={workdir / 'admin.crt'}",
            f"--kubelet-client-key={workdir / 'admin.key'}",
            "--profiling=false",
            "--v=1",
            *apiserver_args,
        ],
        workdir / "kube-apiserver.log",
    )
    admin_kubeconfig = workdir / "admin.kubeconfig"
    plane = ControlPlane(
        workdir=workdir,
        ca=ca,
        etcd_url=etcd_url,
        apiserver_port=api_port,
        admin_kubeconfig=admin_kubeconfig,
        _etcd=etcd,
        _apiserver=apiserver,
    )
    _write(
        admin_kubeconfig,
        kubeconfig_yaml(plane.url, ca.cert_pem, user=ADMIN_USER, cert_pem=admin_cert, key_pem=admin_key).encode(),
    )
    return plane


@asynccontextmanager
async def start_control_plane(
    environ: Mapping[str, str],
    *,
    apiserver_args: Sequence[str] = (),
    keep_workdir_on_error: bool = True,
) -> AsyncIterator[ControlPlane]:
    """Run etcd + kube-apiserver until the block exits; the workdir (PKI, data, logs) is removed afterwards.

    `environ` locates the binaries (KUBEBUILDER_ASSETS, TEST_ASSET_*, MCP_K8S_BIN_CACHE); the processes get a
    minimal environment so nothing from the caller's kube setup leaks into them.
    """
    workdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-sandbox-"))
    process_env = {"PATH": environ.get("PATH", os.defpath), "HOME": str(workdir)}
    failed = False
    plane: ControlPlane | None = None
    try:
        for attempt in (1, 2):
            plane = _prepare(workdir, environ, apiserver_args)
            plane._env = process_env
            try:
                await plane._etcd.start(process_env)
                await plane._apiserver.start(process_env)
                await plane._wait_ready()
                break
            except SandboxError:
                await plane.stop()
                if attempt == 2 or "address already in use" not in plane._apiserver.log_tail(
                    200
                ) + plane._etcd.log_tail(200):
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


# --- KWOK: simulated nodes, pods and kubelet log endpoints -----------------------------------------------------------

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_VALUE = "fake"
KWOK_TAINT = {"key": KWOK_NODE_ANNOTATION, "value": KWOK_NODE_VALUE, "effect": "NoSchedule"}
CRASH_LOOP_LABEL = "sandbox.mcp-k8s.io/crash-loop"  # value: the container that keeps failing (see sandbox_kwok.yaml)
KWOK_POD_CIDR = "10.244.0.1/16"  # kwok's default /24 runs out of pod IPs at 254 pods
_KWOK_STAGES = "sandbox_kwok.yaml"
_DEFAULT_LOG_KEY = "default"

LogLine = str | tuple[dt.datetime, str]


@dataclass
class Kwok:
    """A running KWOK controller: it plays kubelet for nodes annotated `kwok.x-k8s.io/node=fake` and serves their
    pods' logs from files in `workdir/logs`, which it reads on every request (so `write_logs` takes effect at once).

    Containers named in `log_containers` get files of their own; every other container shares the default files.
    """

    workdir: Path
    port: int
    log_containers: tuple[str, ...]
    _process: _Process

    @property
    def pid(self) -> int | None:
        return self._process.process.pid if self._process.process is not None else None

    def log_path(self, container: str | None = None, *, previous: bool = False) -> Path:
        key = container if container in self.log_containers else _DEFAULT_LOG_KEY
        return self.workdir / "logs" / f"{key}{'.previous' if previous else ''}.log"

    def write_logs(self, lines: Sequence[LogLine], *, container: str | None = None, previous: bool = False) -> Path:
        """Replace a container's log (or its previous run's) with `lines`, in the CRI file format a kubelet reads.

        A plain string is stamped now; a `(datetime, text)` pair carries its own time, which is what sinceSeconds
        filters on.
        """
        now = dt.datetime.now(dt.UTC)
        out = []
        for line in lines:
            stamp, text = (now, line) if isinstance(line, str) else line
            out.append(f"{stamp.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout F {text}\n")
        path = self.log_path(container, previous=previous)
        path.write_text("".join(out))
        return path

    async def stop(self) -> None:
        await self._process.stop(grace=10.0)


def kwok_node(name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Node manifest KWOK will manage: the annotation selects it, the taint keeps real workloads off it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "type": "kwok", **(labels or {})},
        },
        "spec": {"taints": [KWOK_TAINT]},
    }


def kwok_pod(
    name: str,
    node: str,
    *,
    containers: Sequence[str] = ("app",),
    labels: Mapping[str, str] | None = None,
    crash_loop: str | None = None,
) -> dict[str, Any]:
    """A Pod bound straight to a KWOK node (there is no scheduler) that tolerates the node's taint.

    `crash_loop` names a container that KWOK reports as CrashLoopBackOff with restarts, instead of running.
    """
    all_labels = dict(labels or {})
    if crash_loop is not None:
        all_labels[CRASH_LOOP_LABEL] = crash_loop
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": all_labels},
        "spec": {
            "nodeName": node,
            "tolerations": [{**KWOK_TAINT, "operator": "Equal"}],
            "containers": [{"name": c, "image": f"registry.invalid/{c}:sandbox"} for c in containers],
        },
    }


def _kwok_config(logs_dir: Path, log_containers: Sequence[str]) -> str:
    """Our stages plus a ClusterLogs that points each container at its files (named ones first, then the default)."""
    stages = (resources.files("mcp_k8s") / _KWOK_STAGES).read_text()
    entries: list[dict[str, Any]] = []
    for key in (*log_containers, _DEFAULT_LOG_KEY):
        entry: dict[str, Any] = {
            "logsFile": str(logs_dir / f"{key}.log"),
            "previousLogsFile": str(logs_dir / f"{key}.previous.log"),
        }
        if key != _DEFAULT_LOG_KEY:
            entry["containers"] = [key]
        entries.append(entry)
    cluster_logs = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": "sandbox-logs"},
        "spec": {"logs": entries},
    }
    return f"{stages.rstrip()}\n---\n{yaml.safe_dump(cluster_logs, sort_keys=False)}"


async def _wait_kwok_ready(kwok: Kwok, ca_pem: bytes) -> None:
    """Poll KWOK's /healthz over TLS with the CA that signed its certificate; fail fast if the process died."""
    deadline = time.monotonic() + START_TIMEOUT
    context = ssl.create_default_context(cadata=ca_pem.decode())
    url = f"https://127.0.0.1:{kwok.port}/healthz"
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=5)) as session:
        await _poll_ok(session, url, watched=(kwok._process,), owner=kwok._process, deadline=deadline)


@asynccontextmanager
async def start_kwok(
    environ: Mapping[str, str],
    *,
    kubeconfig: Path,
    ca: CertificateAuthority | None = None,
    log_containers: Sequence[str] = ("app", "sidecar"),
    keep_workdir_on_error: bool = True,
) -> AsyncIterator[Kwok]:
    """Run KWOK against the cluster in `kubeconfig` (which needs rights over nodes and pods) until the block exits.

    KWOK listens on a free loopback port that its nodes advertise as InternalIP:kubeletEndpoint, so the API server
    proxies `pods/log` to it exactly as it would to a kubelet. Its serving certificate comes from `ca` (pass the
    control plane's own, `plane.ca`) or from a fresh CA: the API server verifies kubelet certificates only with
    --kubelet-certificate-authority, which the sandbox does not set. Nest this inside `start_control_plane` so KWOK
    stops before the API server does.
    """
    kwok_bin = binaries.locate("kwok", environ)
    workdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-kwok-"))
    started = False
    failed = False
    kwok: Kwok | None = None
    try:
        authority = ca or CertificateAuthority("mcp-k8s-kwok-ca")
        cert, key = authority.issue("kwok", server=True, hosts=("localhost", "127.0.0.1"))
        _write(workdir / "kwok.crt", cert, 0o644)
        _write(workdir / "kwok.key", key)
        logs_dir = workdir / "logs"
        logs_dir.mkdir()
        config = workdir / "kwok.yaml"
        config.write_text(_kwok_config(logs_dir, log_containers))
        port = free_port()
        process = _Process(
            "kwok",
            [
                str(kwok_bin),
                f"--kubeconfig={kubeconfig}",
                f"--config={config}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
                "--node-ip=127.0.0.1",
                f"--node-port={port}",
                f"--server-address=127.0.0.1:{port}",
                f"--tls-cert-file={workdir / 'kwok.crt'}",
                f"--tls-private-key-file={workdir / 'kwok.key'}",
                f"--cidr={KWOK_POD_CIDR}",
            ],
            workdir / "kwok.log",
        )
        kwok = Kwok(workdir=workdir, port=port, log_containers=tuple(log_containers), _process=process)
        for container in (*log_containers, None):
            kwok.write_logs([], container=container)
            kwok.write_logs([], container=container, previous=True)
        # HOME keeps kwok away from ~/.kwok/kwok.yaml; nothing else of the caller's environment is needed.
        await process.start({"PATH": environ.get("PATH", os.defpath), "HOME": str(workdir)})
        await _wait_kwok_ready(kwok, authority.cert_pem)
        started = True
        yield kwok
    except Exception:
        failed = not started  # keep the log of a failed start; a failure in the caller's block is not KWOK's
        raise
    finally:
        if kwok is not None:
            await kwok.stop()
        if not (failed and keep_workdir_on_error):
            shutil.rmtree(workdir, ignore_errors=True)


SANDBOX_NODE = "sandbox-node"


@asynccontextmanager
async def start_sandbox(environ: Mapping[str, str], *, nodes: int = 1) -> AsyncIterator[ControlPlane]:
    """What `mcp-k8s sandbox` and `serve --sandbox` run: the control plane, plus (when the kwok binary is built)
    `nodes` simulated nodes, so pods created there reach Running and serve logs like on a real cluster."""
    async with start_control_plane(environ) as plane:
        if nodes <= 0:
            yield plane
            return
        try:
            binaries.locate("kwok", environ)
        except binaries.BinariesMissing as exc:
            log.warning("no simulated nodes: kwok is not built", detail=str(exc))
            yield plane
            return
        async with start_kwok(environ, kubeconfig=plane.admin_kubeconfig, ca=plane.ca):
            for index in range(nodes):
                name = SANDBOX_NODE if nodes == 1 else f"{SANDBOX_NODE}-{index}"
                await plane.create("/api/v1/nodes", kwok_node(name))
            yield plane
