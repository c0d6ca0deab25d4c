"""The whole local cluster that `mcp-k8s sandbox`, `serve --sandbox` and the test suite run: the control plane with
its controller manager and scheduler, KWOK nodes whose pods live and log, and optionally the demo scene.

`BackgroundSandbox` starts it while the MCP server already answers: tools wait on its readiness instead of the
server waiting to start.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from mcp_k8s import errors
from mcp_k8s.logging import get_logger
from mcp_k8s.sandbox import binaries
from mcp_k8s.sandbox.control_plane import ControlPlane, start_control_plane
from mcp_k8s.sandbox.controllers import CONTROLLER_BINARIES
from mcp_k8s.sandbox.demo import apply_demo, wait_demo_running
from mcp_k8s.sandbox.kwok import CRASHING_CONTAINER, keep_logging, kwok_node, seed_sample_logs, start_kwok
from mcp_k8s.sandbox.processes import SandboxError

log = get_logger(__name__)

SANDBOX_NODE = "sandbox-node"


def _missing(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    """Why one of `names` cannot be used (the first missing binary's message), or None when all are there."""
    for name in names:
        try:
            binaries.locate(name, environ)
        except binaries.BinariesMissing as exc:
            return str(exc)
    return None


def _export_kubeconfig(plane: ControlPlane, target: Path | None) -> Path:
    if target is None:
        return plane.admin_kubeconfig
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(plane.admin_kubeconfig.read_bytes())
    target.chmod(0o600)
    return target


@asynccontextmanager
async def start_sandbox(
    environ: Mapping[str, str], *, nodes: int = 1, demo: bool = False, kubeconfig_out: Path | None = None
) -> AsyncIterator[ControlPlane]:
    """Run the local cluster until the block exits; when it is entered, everything answers (and with `demo`, the
    scene is applied and its pods have started). The admin kubeconfig is also copied to `kubeconfig_out`.

    A missing controller or KWOK binary degrades with a warning (no controllers / no nodes) rather than failing, so
    a half-built cache still gives a working API server; the warning says how to build the rest.
    """
    controllers_missing = _missing(CONTROLLER_BINARIES, environ)
    if controllers_missing:
        log.warning("no controller manager or scheduler: not built", detail=controllers_missing)
    async with start_control_plane(environ, with_controllers=controllers_missing is None) as plane:
        _export_kubeconfig(plane, kubeconfig_out)
        kwok_missing = _missing(("kwok",), environ) if nodes > 0 else "no nodes asked for"
        if kwok_missing:
            if nodes > 0:
                log.warning("no simulated nodes: kwok is not built", detail=kwok_missing)
            if demo:
                await apply_demo(plane)
            yield plane
            return
        async with (
            start_kwok(
                environ, kubeconfig=plane.admin_kubeconfig, ca=plane.ca, log_containers=(CRASHING_CONTAINER,)
            ) as kwok,
            anyio.create_task_group() as tg,
        ):
            seed_sample_logs(kwok)
            tg.start_soon(keep_logging, kwok)
            for index in range(nodes):
                name = SANDBOX_NODE if nodes == 1 else f"{SANDBOX_NODE}-{index}"
                await plane.create("/api/v1/nodes", kwok_node(name, tainted=False))
            if demo:
                await apply_demo(plane)
                if not await wait_demo_running(plane):
                    log.warning("the demo's pods have not all started yet; they will", timeout_seconds=90)
            yield plane
            tg.cancel_scope.cancel()


class BackgroundSandbox:
    """A sandbox started in the background: `kubeconfig()` waits until it is ready (or says why it never will)."""

    def __init__(self, environ: Mapping[str, str], *, demo: bool, kubeconfig: Path) -> None:
        self._environ = environ
        self._demo = demo
        self.kubeconfig = kubeconfig
        self._ready = anyio.Event()
        self._stopped = anyio.Event()
        self._scope = anyio.CancelScope()
        self._error: str | None = None

    async def wait_ready(self) -> Path:
        """The admin kubeconfig once the cluster answers; errors.Unavailable (what a tool reports) if it failed to
        start, in one sentence (the log has the processes' output)."""
        await self._ready.wait()
        if self._error is not None:
            first_line = self._error.splitlines()[0].rstrip(":")
            raise errors.Unavailable(f"{first_line[0].upper()}{first_line[1:]}; the server's log has details.")
        return self.kubeconfig

    async def run(self) -> None:
        """Start the cluster and keep it until cancelled or stopped; a failed start is remembered, logged and not
        raised."""
        log.info("starting the local control plane", demo=self._demo)
        try:
            with self._scope:
                async with start_sandbox(self._environ, demo=self._demo, kubeconfig_out=self.kubeconfig) as plane:
                    log.info("local control plane ready", url=plane.url, kubeconfig=str(self.kubeconfig))
                    self._ready.set()
                    await anyio.sleep_forever()
        except (SandboxError, binaries.BinariesMissing, OSError) as exc:
            self._error = f"the local control plane did not start: {exc}"
            log.error("local control plane failed", error=str(exc))
        finally:
            if not self._ready.is_set():
                self._error = self._error or "the local control plane stopped before it was ready"
                self._ready.set()
            self._stopped.set()

    async def stop(self) -> None:
        """Stop the cluster (its processes, its files) and wait until it is down."""
        self._scope.cancel()
        await self._stopped.wait()


@asynccontextmanager
async def background_sandbox(environ: Mapping[str, str], *, demo: bool) -> AsyncIterator[BackgroundSandbox]:
    """Start the local cluster in the background for the duration of the block (`serve --sandbox`).

    SIGTERM stops the cluster cleanly and then ends the process with the same signal: a stdio server cannot be
    cancelled while a thread waits on stdin. (SIGINT cancels the block; if the process dies, so do its children.)
    """
    workdir = Path(tempfile.mkdtemp(prefix="mcp-k8s-serve-"))
    local = BackgroundSandbox(environ, demo=demo, kubeconfig=workdir / "admin.kubeconfig")

    async def stop_on_sigterm() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                log.info("SIGTERM: stopping the local control plane")
                await local.stop()
                shutil.rmtree(workdir, ignore_errors=True)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(local.run)
            tg.start_soon(stop_on_sigterm)
            yield local
            tg.cancel_scope.cancel()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
