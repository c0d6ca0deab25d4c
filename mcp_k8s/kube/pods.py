"""Pods and their logs, read for a person who is debugging: a pod row says *why* it is not ready, a log answer keeps
the newest bytes and says what it cut.

The row shaping lives here, not in output.py: knowing that an init container blocks the app containers, or that a
waiting reason outranks the Ready condition, is knowledge of the Pod API; output.py only fits answers to a budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.kube.resources import RowLister, get_object
from mcp_k8s.objects import age, clip

PODS = ResourceType(group="", version="v1", plural="pods", kind="Pod", singular="pod", namespaced=True)
DEFAULT_LOG_BYTES = 16_000
# One log request never pulls more than this; a bigger window is re-read from its end (see pod_logs).
LOG_FETCH_CEILING = 1_048_576
_LOG_FETCH_FLOOR = 65_536
_MAX_REASON = 240
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
_TEXT = "text/plain, */*"


# --- pod rows --------------------------------------------------------------------------------------------------------


class PodRow(BaseModel):
    """One pod as a person debugging it wants to see it first."""

    name: str
    namespace: str | None = None
    phase: str
    ready: str = Field(description="ready containers / containers, e.g. 1/2")
    restarts: int
    node: str | None = None
    age: str | None = None
    reason: str | None = Field(default=None, description="Why the pod is not ready (absent when it is)")


def pod_row(pod: Mapping[str, Any], now: dt.datetime | None = None) -> PodRow:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    init_statuses = status.get("initContainerStatuses") or []
    total = len(spec.get("containers") or []) or len(statuses)
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount") or 0) for s in (*statuses, *init_statuses))
    return PodRow(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        phase=status.get("phase") or "Unknown",
        ready=f"{ready}/{total}",
        restarts=restarts,
        node=spec.get("nodeName") or None,
        age=age(meta.get("creationTimestamp"), now),
        reason=not_ready_reason(pod),
    )


list_pods = RowLister(PODS, pod_row)


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def _container_problem(cs: Mapping[str, Any], prefix: str = "") -> str | None:
    """`app: CrashLoopBackOff (back-off 1m20s ...), last exit 1 (Error)` for one container that is not ready."""
    if cs.get("ready"):
        return None
    name = f"{prefix}{cs.get('name', '?')}"
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    if "waiting" in state:
        waiting = state["waiting"] or {}
        text = f"{name}: {waiting.get('reason') or 'Waiting'}"
        if waiting.get("message"):
            text += f" ({waiting['message']})"
        if last:
            text += f", last exit {last.get('exitCode', '?')} ({last.get('reason') or 'terminated'})"
        return text
    if "terminated" in state:
        terminated = state["terminated"] or {}
        text = f"{name}: {terminated.get('reason') or 'Terminated'} (exit {terminated.get('exitCode', '?')})"
        return text + (f": {terminated['message']}" if terminated.get("message") else "")
    if "running" in state:
        return f"{name}: running but not ready (readiness probe failing or not yet passed)"
    return f"{name}: no state reported yet"


def _init_problem(cs: Mapping[str, Any]) -> str | None:
    terminated = (cs.get("state") or {}).get("terminated") or {}
    if terminated and terminated.get("exitCode") == 0:
        return None
    if "running" in (cs.get("state") or {}) and cs.get("started"):
        return None  # a sidecar (restartPolicy Always) init container that is up
    return _container_problem({**cs, "ready": False}, prefix="init:")


def _words(status: Mapping[str, Any], prefix: str = "") -> str:
    """`<prefix> <reason> <message>` of a pod status or condition, clipped to one short line."""
    return clip(f"{prefix}{status.get('reason') or ''} {status.get('message') or ''}".strip(), _MAX_REASON)


def not_ready_reason(pod: Mapping[str, Any]) -> str | None:
    """The most specific reason a pod is not ready, or None when it is ready (or finished successfully).

    Order follows what blocks what: deletion, scheduling, init containers, then app containers, then the Ready
    condition's own words; kubectl's STATUS column uses the same precedence.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    phase = status.get("phase")
    if meta.get("deletionTimestamp"):
        return "Terminating"
    if phase == "Succeeded":
        return None
    ready = _condition(status, "Ready")
    if phase == "Running" and ready is not None and ready.get("status") == "True":
        return None
    if phase == "Failed":
        return _words(status, "Failed: ")
    if not spec.get("nodeName"):
        scheduled = _condition(status, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            detail = scheduled.get("message") or ""
            return clip(f"{scheduled.get('reason') or 'Unschedulable'}: {detail}".rstrip(": "), _MAX_REASON)
        return "Not scheduled to a node yet"
    for found in (
        [p for cs in status.get("initContainerStatuses") or [] if (p := _init_problem(cs))],
        [p for cs in status.get("containerStatuses") or [] if (p := _container_problem(cs))],
    ):
        if found:
            return clip("; ".join(found), _MAX_REASON)
    if status.get("reason") or status.get("message"):
        return _words(status)
    if ready is not None and (ready.get("reason") or ready.get("message")):
        return _words(ready)
    if phase == "Pending":
        return "Pending: the node has not started the containers yet"
    return "Not ready (no reason reported)"


# --- logs ------------------------------------------------------------------------------------------------------------


class PodLogs(BaseModel):
    """The newest part of one container's log, at most `limit_bytes` of it."""

    pod: str
    namespace: str
    container: str
    previous: bool = False
    text: str = Field(description="Log text, whole lines from the end of the window")
    truncated: bool = False
    omitted_bytes: int | None = Field(
        default=None, description="Earlier bytes left out (when truncated and known exactly)"
    )
    kept_bytes: int = Field(default=0, description="Bytes of log kept")


def pick_container(pod: Mapping[str, Any], namespace: str) -> str:
    """The container whose logs to read when none was named: the only one, or the pod's default-container
    annotation. Otherwise ask, naming every choice: guessing would show the wrong logs with full confidence."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    if len(names) == 1:
        return str(names[0])
    default = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if default and default in names:
        return str(default)
    init = [c.get("name", "") for c in spec.get("initContainers") or []]
    extra = f" (init containers: {', '.join(init)})" if init else ""
    raise errors.hinted(
        errors.InvalidInput,
        f'Pod "{meta.get("name")}" in namespace "{namespace}" has {len(names)} containers: {", ".join(names)}{extra}',
        errors.Remedy.NAME_CONTAINER,
        "choose one of them",
    )


def keep_tail(data: bytes, limit: int) -> tuple[bytes, int]:
    """The last `limit` bytes of `data`, starting at a line boundary when one exists; returns (kept, dropped)."""
    if len(data) <= limit:
        return data, 0
    kept = data[-limit:] if limit > 0 else b""
    if kept and data[-limit - 1 : -limit] != b"\n":
        newline = kept.find(b"\n")
        if 0 <= newline < len(kept) - 1:
            kept = kept[newline + 1 :]
    return kept, len(data) - len(kept)


def _log_options(
    tail_lines: int | None, since_seconds: int | None, previous: bool, limit_bytes: int
) -> list[tuple[str, str | int | bool]]:
    """The log request's fixed options, refusing out-of-range numbers before any request."""
    if limit_bytes < 1:
        raise errors.InvalidInput("limitBytes must be at least 1.")
    if tail_lines is not None and tail_lines < 0:
        raise errors.InvalidInput("tailLines must be 0 or more.")
    if since_seconds is not None and since_seconds < 1:
        raise errors.InvalidInput("sinceSeconds must be at least 1.")
    query: list[tuple[str, str | int | bool]] = []
    if since_seconds is not None:
        query.append(("sinceSeconds", since_seconds))
    if previous:
        query.append(("previous", "true"))
    return query


async def pod_logs(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    container: str | None = None,
    tail_lines: int | None = None,
    since_seconds: int | None = None,
    previous: bool = False,
    limit_bytes: int = DEFAULT_LOG_BYTES,
) -> PodLogs:
    """Read a container's log and keep its newest `limit_bytes` (`truncated` says when anything was cut).

    The API's own limitBytes keeps the *oldest* bytes of the window, which is rarely what a reader wants, so we ask
    for up to LOG_FETCH_CEILING bytes of the window and cut from the front. When the window is larger than that,
    we only have its head; we then estimate how many lines fit and re-read just the tail (one more request).
    """
    options = _log_options(tail_lines, since_seconds, previous, limit_bytes)
    pod: Mapping[str, Any] | None = None
    if container is None:
        pod = await get_object(kube, PODS, namespace, name)
        container = pick_container(pod, namespace)
    base = [("container", container), *options]
    fetch_cap = min(LOG_FETCH_CEILING, max(_LOG_FETCH_FLOOR, 4 * limit_bytes))
    op = errors.Operation(verb="get", resource="pods/log", kind="Pod", name=name, namespace=namespace)

    async def fetch(tail: int | None) -> bytes:
        query = [*base, ("limitBytes", fetch_cap + 1)]  # +1: tells "exactly the cap" from "more than the cap"
        if tail is not None:
            query.append(("tailLines", tail))
        try:
            data: bytes = await kube.request(
                "GET", PODS.path(namespace, name, "log"), op=op, query=query, accept=_TEXT, raw=True
            )
        except errors.Invalid as exc:
            raise await _log_error(kube, exc, pod, namespace, name, container) from None
        return data

    data = await fetch(tail_lines)
    exact = len(data) <= fetch_cap
    if not exact:
        # We hold only the head of a window bigger than the cap: re-read the tail that should fit.
        wanted = max(1, int(limit_bytes / (len(data) / max(1, data.count(b"\n")))) + 1)
        data = await fetch(min(wanted, tail_lines) if tail_lines is not None else wanted)
    kept, dropped = keep_tail(data, limit_bytes)
    truncated = dropped > 0 or not exact
    text = kept.decode("utf-8", errors="replace")
    return PodLogs(
        pod=name,
        namespace=namespace,
        container=container,
        previous=previous,
        text=text,
        truncated=truncated,
        omitted_bytes=dropped if truncated and exact else None,
        kept_bytes=len(kept),
    )


async def _log_error(
    kube: KubeClient,
    exc: errors.Invalid,
    pod: Mapping[str, Any] | None,
    namespace: str,
    name: str,
    container: str,
) -> errors.K8sError:
    """A 400 from the log endpoint: say which containers exist when the name was wrong, else relay the server."""
    if pod is None:
        try:
            pod = await get_object(kube, PODS, namespace, name)
        except errors.K8sError:
            return exc
    spec = pod.get("spec") or {}
    names = [
        c.get("name") for key in ("containers", "initContainers", "ephemeralContainers") for c in spec.get(key) or []
    ]
    if container not in names:
        return errors.InvalidInput(
            f'Pod "{name}" in namespace "{namespace}" has no container "{container}"; its containers are '
            f"{', '.join(str(n) for n in names)}."
        )
    return errors.Invalid(
        f'Cannot read the logs of container "{container}" in pod "{name}" (namespace "{namespace}"): '
        f"{exc.message.split(' as invalid: ', 1)[-1]}",
        status=exc.status,
        reason=exc.reason,
    )
