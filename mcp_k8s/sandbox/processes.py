"""The sandbox's child processes: how they start (tied to our life), how they stop, and how we wait for them.

Every binary is started through a few lines of Python that set PR_SET_PDEATHSIG before exec'ing it: if the process
that started the sandbox dies without cleaning up (SIGKILL, OOM), the kernel kills etcd, the API server, the
controllers and KWOK with it. anyio.open_process has no preexec hook, and a preexec hook would run in a forked copy
of a threaded process anyway; a wrapper exec is the robust form (the death signal survives exec).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
import anyio
import anyio.abc

START_TIMEOUT = 120.0  # two shared cores: a cold kube-apiserver can take 30+ s to install its bootstrap roles

# PR_SET_PDEATHSIG is 1 (linux/prctl.h). The getppid check closes the race where the parent died before prctl.
_LIFELINE = (
    "import ctypes, os, signal, sys\n"
    "if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) != 0: sys.exit('prctl(PR_SET_PDEATHSIG) failed')\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class SandboxError(RuntimeError):
    """The control plane could not start or answer; the message says what and where the logs are."""


def free_port() -> int:
    """A loopback port the kernel just handed out. Racy by nature; start_control_plane retries once on a bind
    failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lifeline_argv(argv: Sequence[str]) -> list[str]:
    """`argv` wrapped so the kernel kills it when this process dies (Linux; elsewhere it runs unwrapped)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _LIFELINE, str(os.getpid()), *argv]


@dataclass
class Process:
    """One child binary with its log file; `start` may be called again after `stop` (API server restarts)."""

    name: str
    argv: list[str]
    log_path: Path
    process: anyio.abc.Process | None = None
    log_file: IO[bytes] | None = None

    async def start(self, env: Mapping[str, str]) -> None:
        self.log_file = self.log_path.open("ab")
        self.process = await anyio.open_process(
            lifeline_argv(self.argv),
            stdin=None,
            stdout=self.log_file,
            stderr=self.log_file,
            env=dict(env),
            start_new_session=True,  # a terminal's Ctrl-C reaches us only; we stop the children in order
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

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


async def poll_ok(
    session: aiohttp.ClientSession, url: str, *, watched: Sequence[Process], owner: Process, deadline: float
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
