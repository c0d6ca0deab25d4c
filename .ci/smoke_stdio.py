"""CI smoke test of the README's run command: start it over stdio as an MCP client would, and ask the first questions.

Usage: python smoke_stdio.py COMMAND [ARG...]   (e.g. .venv/bin/mcp-k8s serve --sandbox --demo)
Passes when `initialize` answers, and list_pods across all namespaces shows Running and CrashLoopBackOff pods, a
crash-looping pod has previous logs, and the namespace has its Warning events. Runs with the interpreter of the venv
the README creates, so it needs nothing but mcp-k8s's own dependencies.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import anyio
from mcp import Client, StdioServerParameters


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"smoke: {tool} failed: {result.content}")
    return result.structured_content


async def main(command: list[str]) -> None:
    started = time.monotonic()
    async with Client(StdioServerParameters(command=command[0], args=command[1:])) as client:
        print(f"smoke: initialize answered after {time.monotonic() - started:.1f}s", flush=True)
        with anyio.fail_after(300):
            while True:
                rows = (await call(client, "list_pods", all_namespaces=True))["items"]
                running = [r for r in rows if r["phase"] == "Running" and r["ready"].split("/")[0] != "0"]
                crashing = [r for r in rows if "CrashLoopBackOff" in (r.get("reason") or "")]
                if running and crashing:
                    break
                await anyio.sleep(1)
        print(f"smoke: {len(running)} running, {len(crashing)} crash-looping pods", flush=True)
        crash = crashing[0]
        logs = await call(client, "get_pod_logs", name=crash["name"], namespace=crash["namespace"], previous=True)
        if not logs["text"].strip():
            raise SystemExit("smoke: the crash-looping pod has no previous logs")
        events = await call(client, "list_events", namespace=crash["namespace"])
        if not any(e["type"] == "Warning" for e in events["items"]):
            raise SystemExit(f"smoke: no Warning events in {crash['namespace']}")
    print(f"smoke: ok in {time.monotonic() - started:.1f}s", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
