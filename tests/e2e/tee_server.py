"""Run a command with its stdout copied to a file and its stderr written to another.

A real MCP client talks to the wrapped server through this process unchanged, while the test keeps every byte the
server wrote to stdout (which must all be MCP protocol) and everything it logged to stderr.
Usage: python tee_server.py STDOUT_COPY STDERR_FILE -- COMMAND...
"""

from __future__ import annotations

import signal
import subprocess
import sys


def main() -> int:
    stdout_copy, stderr_file, separator, *command = sys.argv[1:]
    assert separator == "--", "usage: tee_server.py STDOUT_COPY STDERR_FILE -- COMMAND..."
    with open(stdout_copy, "wb") as copy, open(stderr_file, "wb") as err:
        child = subprocess.Popen(command, stdin=sys.stdin, stdout=subprocess.PIPE, stderr=err)
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        assert child.stdout is not None
        while chunk := child.stdout.read1(65536):
            copy.write(chunk)
            copy.flush()
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
