"""KWOK: simulated nodes that play kubelet for pods (stages in kwok_stages.yaml) and serve their logs from files.

KWOK reads a container's log file on every request, so writing a file takes effect at once; the sandbox seeds
realistic lines (and a crashed container's previous run) and keeps appending, so `tail`, `since` and `previous`
always have something real to act on. Tests write their own lines with `Kwok.write_logs`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import yaml

from mcp_k8s.sandbox import binaries
from mcp_k8s.sandbox.pki import LOOPBACK_HOSTS, CertificateAuthority
from mcp_k8s.sandbox.processes import START_TIMEOUT, Process, free_port, poll_ok

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_VALUE = "fake"
KWOK_TAINT = {"key": KWOK_NODE_ANNOTATION, "value": KWOK_NODE_VALUE, "effect": "NoSchedule"}
CRASH_LOOP_LABEL = "sandbox.mcp-k8s.io/crash-loop"  # value: the container that keeps failing (see kwok_stages.yaml)
KWOK_POD_CIDR = "10.244.0.1/16"  # kwok's default /24 runs out of pod IPs at 254 pods
_KWOK_STAGES = "kwok_stages.yaml"
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
    _process: Process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def log_path(self, container: str | None = None, *, previous: bool = False) -> Path:
        key = container if container in self.log_containers else _DEFAULT_LOG_KEY
        return self.workdir / "logs" / f"{key}{'.previous' if previous else ''}.log"

    def write_logs(
        self, lines: Sequence[LogLine], *, container: str | None = None, previous: bool = False, append: bool = False
    ) -> Path:
        """Replace (or extend) a container's log, or its previous run's, with `lines` in the CRI file format a kubelet
        reads. A plain string is stamped now; a `(datetime, text)` pair carries its own time, which is what
        sinceSeconds filters on."""
        now = dt.datetime.now(dt.UTC)
        out = []
        for line in lines:
            stamp, text = (now, line) if isinstance(line, str) else line
            out.append(f"{stamp.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} stdout F {text}\n")
        path = self.log_path(container, previous=previous)
        with path.open("a" if append else "w") as file:
            file.write("".join(out))
        return path

    async def stop(self) -> None:
        await self._process.stop(grace=10.0)


def kwok_node(name: str, *, labels: Mapping[str, str] | None = None, tainted: bool = True) -> dict[str, Any]:
    """A Node manifest KWOK will manage. The annotation selects it; the taint (on by default) keeps workloads that
    do not tolerate it off, which matters when real nodes share the cluster. The sandbox's own nodes are untainted:
    every node there is simulated, and a Deployment should simply run."""
    spec: dict[str, Any] = {"taints": [KWOK_TAINT]} if tainted else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "type": "kwok", **(labels or {})},
        },
        "spec": spec,
    }


def kwok_pod(
    name: str,
    node: str,
    *,
    containers: Sequence[str] = ("app",),
    labels: Mapping[str, str] | None = None,
    crash_loop: str | None = None,
) -> dict[str, Any]:
    """A Pod bound straight to a KWOK node (bypassing the scheduler) that tolerates the node's taint.

    `crash_loop` names a container that KWOK reports as CrashLoopBackOff with rising restarts, instead of running.
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


def kwok_config(logs_dir: Path, log_containers: Sequence[str]) -> str:
    """Our stages plus a ClusterLogs that points each container at its files (named ones first, then the default)."""
    stages = (resources.files(__package__) / _KWOK_STAGES).read_text()
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
        await poll_ok(session, url, watched=(kwok._process,), owner=kwok._process, deadline=deadline)


def _kwok_process(kwok_bin: Path, workdir: Path, kubeconfig: Path, port: int) -> Process:
    argv = [
        str(kwok_bin),
        f"--kubeconfig={kubeconfig}",
        f"--config={workdir / 'kwok.yaml'}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}={KWOK_NODE_VALUE}",
        "--node-ip=127.0.0.1",
        f"--node-port={port}",
        f"--server-address=127.0.0.1:{port}",
        f"--tls-cert-file={workdir / 'kwok.crt'}",
        f"--tls-private-key-file={workdir / 'kwok.key'}",
        f"--cidr={KWOK_POD_CIDR}",
    ]
    return Process("kwok", argv, workdir / "kwok.log")


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
        authority.write_pair(workdir, "kwok", "kwok", server=True, hosts=LOOPBACK_HOSTS)
        (workdir / "logs").mkdir()
        (workdir / "kwok.yaml").write_text(kwok_config(workdir / "logs", log_containers))
        port = free_port()
        process = _kwok_process(kwok_bin, workdir, kubeconfig, port)
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


# --- What the sandbox's simulated containers "write" -----------------------------------------------------------------

CRASHING_CONTAINER = "worker"  # the demo's crash-looping container; its logs end in the error that kills it
_PATHS = ("/healthz", "/api/orders", "/api/orders/1042", "/api/cart", "/static/app.js")


def _access_line(n: int) -> str:
    path = _PATHS[n % len(_PATHS)]
    status = 404 if n % 17 == 0 else 200
    return f'10.244.0.{n % 250 + 2} - - "GET {path} HTTP/1.1" {status} {512 + (n * 37) % 4096} {3 + n % 40}ms'


def seed_sample_logs(kwok: Kwok, *, minutes: int = 15) -> None:
    """Fill the log files with the last `minutes` of plausible output: an access log for every container, and for
    the crash-looping one a start-up that ends in the error that kills it (now and in its previous run)."""
    now = dt.datetime.now(dt.UTC)
    history = [(now - dt.timedelta(seconds=10 * i), _access_line(i)) for i in range(minutes * 6, 0, -1)]
    kwok.write_logs([(history[0][0], "listening on :8080 (version 1.4.2)"), *history])
    for previous in (True, False):
        started = now - dt.timedelta(seconds=40 if previous else 5)
        kwok.write_logs(
            [
                (started, "starting worker (queue=orders, concurrency=4)"),
                (started + dt.timedelta(seconds=1), "connecting to postgres://orders-db:5432/orders"),
                (started + dt.timedelta(seconds=3), "error: dial tcp 10.0.0.42:5432: connect: connection refused"),
                (started + dt.timedelta(seconds=3), "fatal: cannot reach the orders database, exiting with code 1"),
            ],
            container=CRASHING_CONTAINER,
            previous=previous,
        )


async def keep_logging(kwok: Kwok, *, every: float = 5.0) -> None:
    """Append an access-log line every `every` seconds, so a followed or `since` read sees new lines arrive."""
    for n in itertools.count(1000):
        await anyio.sleep(every)
        kwok.write_logs([_access_line(n)], append=True)
