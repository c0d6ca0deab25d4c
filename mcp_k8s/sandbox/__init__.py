"""The local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK nodes on loopback.

Modules, bottom up: `binaries` (pinned versions, the version-keyed cache, Go builds), `pki` (CA, certificates,
kubeconfigs), `processes` (children tied to our life, readiness polls), `control_plane` (etcd + API server),
`controllers` (controller manager + scheduler), `kwok` (simulated nodes, pod stages, log files), `demo` (the
`--demo` scene), `cluster` (all of it together, in the foreground or in the background).
"""

from mcp_k8s.sandbox.binaries import BinariesMissing
from mcp_k8s.sandbox.cluster import SANDBOX_NODE, BackgroundSandbox, background_sandbox, start_sandbox
from mcp_k8s.sandbox.control_plane import ADMIN_USER, ControlPlane, start_control_plane
from mcp_k8s.sandbox.kwok import (
    CRASH_LOOP_LABEL,
    KWOK_NODE_ANNOTATION,
    KWOK_NODE_VALUE,
    KWOK_TAINT,
    Kwok,
    kwok_node,
    kwok_pod,
    start_kwok,
)
from mcp_k8s.sandbox.pki import CertificateAuthority, kubeconfig_yaml
from mcp_k8s.sandbox.processes import START_TIMEOUT, Process, SandboxError, free_port

__all__ = [
    "ADMIN_USER",
    "CRASH_LOOP_LABEL",
    "KWOK_NODE_ANNOTATION",
    "KWOK_NODE_VALUE",
    "KWOK_TAINT",
    "SANDBOX_NODE",
    "START_TIMEOUT",
    "BackgroundSandbox",
    "BinariesMissing",
    "CertificateAuthority",
    "ControlPlane",
    "Kwok",
    "Process",
    "SandboxError",
    "background_sandbox",
    "free_port",
    "kubeconfig_yaml",
    "kwok_node",
    "kwok_pod",
    "start_control_plane",
    "start_kwok",
    "start_sandbox",
]
