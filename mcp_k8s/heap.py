"""Keeping the long-lived heap out of the garbage collector's way.

A server holds a large, permanent heap (imported modules, the SDK, tool schemas, later the Kubernetes client and its
models). Each full collection walked all of it again and again, and under load that cost more CPU than the tool
calls served. Freezing moves what is alive now into a permanent generation: a constant-time splice, no collection
first, so start-up stays as quick; the little start-up garbage stays.
"""

from __future__ import annotations

import gc

_after_first_call = False


def freeze() -> None:
    """Freeze what is alive now: called before serving."""
    gc.freeze()


def freeze_after_first_call() -> None:
    """Freeze once more after the first tool call, which loads what start-up left for later; then never again."""
    global _after_first_call
    if not _after_first_call:
        _after_first_call = True
        gc.freeze()
