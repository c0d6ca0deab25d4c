"""kube-controller-manager and kube-scheduler for the sandbox, set up the way kubeadm does it.

Each runs as its own user (a client certificate with CN `system:kube-controller-manager` / `system:kube-scheduler`,
whose RBAC roles the API server bootstraps), with leader election off, on loopback, serving /healthz on a free port
with a certificate from the sandbox CA. The controller manager signs service-account tokens with the sandbox's key
and gives each controller its own service account (`--use-service-account-credentials`), so every controller is
limited to its bootstrap role exactly as in a real cluster. Without a cloud provider no cloud controller runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcp_k8s.sandbox import binaries
from mcp_k8s.sandbox.pki import LOOPBACK_HOSTS, CertificateAuthority, write_user_kubeconfig
from mcp_k8s.sandbox.processes import Process, free_port

CONTROLLER_BINARIES = ("kube-controller-manager", "kube-scheduler")

# The node-lifecycle controller would mark KWOK nodes NotReady (and evict their pods) whenever a heartbeat is late on
# two busy cores; a sandbox node should simply stay Ready.
_DISABLED_CONTROLLERS = ("node-lifecycle-controller",)


@dataclass(frozen=True)
class Controller:
    """A controller process and the URL that says it is healthy."""

    process: Process
    health_url: str


def _common_args(workdir: Path, name: str, kubeconfig: Path, port: int) -> list[str]:
    """Identity, delegated authn/authz for its own endpoints (as kubeadm passes them), and secure serving."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        # The sandbox API server has no front-proxy CA to publish; looking it up would only log errors forever.
        "--authentication-skip-lookup=true",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={workdir / f'{name}.crt'}",
        f"--tls-private-key-file={workdir / f'{name}.key'}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def _one(workdir: Path, name: str, *, ca: CertificateAuthority, server: str) -> tuple[Path, int]:
    """Certificates and kubeconfig for one component; returns (kubeconfig, port)."""
    kubeconfig = write_user_kubeconfig(workdir / f"{name}.kubeconfig", server, ca, f"system:{name}")
    ca.write_pair(workdir, name, name, server=True, hosts=LOOPBACK_HOSTS)
    return kubeconfig, free_port()


def prepare(workdir: Path, environ: Mapping[str, str], *, ca: CertificateAuthority, server: str) -> list[Controller]:
    """Write both components' certificates and kubeconfigs and build their command lines; nothing runs yet.

    Expects the control plane's `ca.crt` and `sa.key` in `workdir`.
    """
    made = []
    for name in CONTROLLER_BINARIES:
        binary = binaries.locate(name, environ)
        kubeconfig, port = _one(workdir, name, ca=ca, server=server)
        argv = [str(binary), *_common_args(workdir, name, kubeconfig, port)]
        if name == "kube-controller-manager":
            argv += [
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={workdir / 'sa.key'}",
                f"--root-ca-file={workdir / 'ca.crt'}",
                "--controllers=*," + ",".join(f"-{c}" for c in _DISABLED_CONTROLLERS),
            ]
        process = Process(name, argv, workdir / f"{name}.log")
        made.append(Controller(process=process, health_url=f"https://127.0.0.1:{port}/healthz"))
    return made
