"""mcp-k8s under pyinstrument, for `bench_peers.py --profile`: SIGUSR1 starts sampling, SIGUSR2 stops and saves.

The benchmark brackets exactly the calls it wants profiled, so start-up and idle time stay out of the profile (and
nothing depends on the process exiting cleanly, which the stdio client only waits two seconds for).

Usage: python profiled_server.py OUT.pyisession serve ARGS...
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from pyinstrument import Profiler

from mcp_k8s.cli import main

OUT = sys.argv[1]
profiler = Profiler(interval=0.0002, async_mode="disabled")


def start(signum: int, frame: FrameType | None) -> None:
    profiler.start()


def stop(signum: int, frame: FrameType | None) -> None:
    session = profiler.stop()
    session.save(OUT + ".partial")
    os.replace(OUT + ".partial", OUT)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    main(sys.argv[2:])
