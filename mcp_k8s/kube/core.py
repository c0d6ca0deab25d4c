"""Read-only core API: pods, pod logs, events, services, access reviews, API resources and namespaces.

Every call is raw JSON through `KubeClient.request` and comes back as a small pydantic row per object, shaped for a
reader who is debugging: a pod row says *why* it is not ready, a log answer keeps the newest bytes and says what it
cut, events are newest first with repeats folded together. Nothing here writes, except the SelfSubjectAccessReview,
which is a question the API server answers without storing anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType
from mcp_k8s.kube.namespaces import resolve_namespace
from mcp_k8s.kube.resources import list_query
from mcp_k8s.settings import Settings

DEFAULT_LOG_BYTES = 16_000
# One log request never pulls more than this; a bigger window is re-read from its end (see pod_logs).
LOG_FETCH_CEILING = 1_048_576
_LOG_FETCH_FLOOR = 65_536
EVENT_PAGE = 500
EVENT_SCAN_LIMIT = 2_000  # events read per call: enough to sort a busy namespace newest-first, bounded in memory
_MAX_REASON = 240
_MAX_EVENT_MESSAGE = 500
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
_TEXT = "text/plain, */*"


# --- small helpers ---------------------------------------------------------------------------------------------------


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp from the API (second or microsecond precision), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def age(timestamp: Any, now: dt.datetime | None = None) -> str | None:
    """kubectl-style age (45s, 12m, 5h, 3d) of an API timestamp."""
    then = parse_time(timestamp)
    if then is None:
        return None
    seconds = int(((now or dt.datetime.now(dt.UTC)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _core_path(plural: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/{plural}" if namespace else f"/api/v1/{plural}"
    if name:
        path += f"/{name}" + (f"/{sub}" if sub else "")
    return path


async def _list(
    kube: KubeClient,
    plural: str,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
    limit: int | None,
    continue_token: str | None,
) -> dict[str, Any]:
    """One page of a core/v1 list as raw JSON."""
    doc: dict[str, Any] = await kube.request(
        "GET",
        _core_path(plural, namespace),
        op=errors.Operation(verb="list", resource=plural, namespace=namespace),
        query=list_query(label_selector, field_selector, limit, continue_token),
    )
    return doc


class PageInfo(BaseModel):
    """Where a listing stands: pass `continue_token` back for the next page."""

    continue_token: str | None = None
    remaining: int | None = Field(default=None, description="Server's estimate of items after this page")
    resource_version: str | None = None


def _page_info(doc: Mapping[str, Any]) -> PageInfo:
    meta = doc.get("metadata") or {}
    return PageInfo(
        continue_token=meta.get("continue") or None,
        remaining=meta.get("remainingItemCount"),
        resource_version=meta.get("resourceVersion"),
    )


# --- pods ------------------------------------------------------------------------------------------------------------


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


class PodPage(BaseModel):
    items: list[PodRow]
    page: PageInfo


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
        return _clip(f"Failed: {status.get('reason') or ''} {status.get('message') or ''}".strip(), _MAX_REASON)
    if not spec.get("nodeName"):
        scheduled = _condition(status, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            detail = scheduled.get("message") or ""
            return _clip(f"{scheduled.get('reason') or 'Unschedulable'}: {detail}".rstrip(": "), _MAX_REASON)
        return "Not scheduled to a node yet"
    problems = [p for cs in status.get("initContainerStatuses") or [] if (p := _init_problem(cs))]
    if problems:
        return _clip("; ".join(problems), _MAX_REASON)
    problems = [p for cs in status.get("containerStatuses") or [] if (p := _container_problem(cs))]
    if problems:
        return _clip("; ".join(problems), _MAX_REASON)
    if status.get("reason") or status.get("message"):
        return _clip(f"{status.get('reason') or ''} {status.get('message') or ''}".strip(), _MAX_REASON)
    if ready is not None and (ready.get("reason") or ready.get("message")):
        return _clip(f"{ready.get('reason') or ''} {ready.get('message') or ''}".strip(), _MAX_REASON)
    if phase == "Pending":
        return "Pending: the node has not started the containers yet"
    return "Not ready (no reason reported)"


def _init_problem(cs: Mapping[str, Any]) -> str | None:
    terminated = (cs.get("state") or {}).get("terminated") or {}
    if terminated and terminated.get("exitCode") == 0:
        return None
    if "running" in (cs.get("state") or {}) and cs.get("started"):
        return None  # a sidecar (restartPolicy Always) init container that is up
    return _container_problem({**cs, "ready": False}, prefix="init:")


async def list_pods(
    kube: KubeClient,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> PodPage:
    """One page of pods as rows; `namespace=None` lists across all namespaces."""
    doc = await _list(kube, "pods", namespace, label_selector, field_selector, limit, continue_token)
    now = dt.datetime.now(dt.UTC)
    return PodPage(items=[pod_row(p, now) for p in doc.get("items") or []], page=_page_info(doc))


# --- pod logs --------------------------------------------------------------------------------------------------------


class PodLogs(BaseModel):
    """The newest part of one container's log, at most `limit_bytes` of it."""

    pod: str
    namespace: str
    container: str
    previous: bool = False
    text: str = Field(description="Log text; when truncated it starts with a [truncated: ...] marker line")
    truncated: bool = False
    omitted_bytes: int | None = Field(
        default=None, description="Earlier bytes left out (when truncated and known exactly)"
    )


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
    raise errors.InvalidInput(
        f'Pod "{meta.get("name")}" in namespace "{namespace}" has {len(names)} containers: {", ".join(names)}{extra}; '
        "pass container= one of them."
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


def truncation_marker(omitted: int | None, shown: int) -> str:
    amount = f"{omitted} earlier bytes" if omitted is not None else "earlier output"
    return (
        f"[truncated: {amount} not shown, these are the last {shown} bytes; narrow with tail_lines or "
        "since_seconds, or raise limit_bytes]\n"
    )


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
    """Read a container's log and keep its newest `limit_bytes` (plus a marker line when anything was cut).

    The API's own limitBytes keeps the *oldest* bytes of the window, which is rarely what a reader wants, so we ask
    for up to LOG_FETCH_CEILING bytes of the window and cut from the front. When the window is larger than that,
    we only have its head; we then estimate how many lines fit and re-read just the tail (one more request).
    """
    if limit_bytes < 1:
        raise errors.InvalidInput("limit_bytes must be at least 1.")
    if tail_lines is not None and tail_lines < 0:
        raise errors.InvalidInput("tail_lines must be 0 or more.")
    if since_seconds is not None and since_seconds < 1:
        raise errors.InvalidInput("since_seconds must be at least 1.")
    op = errors.Operation(verb="get", resource="pods/log", kind="Pod", name=name, namespace=namespace)
    pod: Mapping[str, Any] | None = None
    if container is None:
        pod = await _get_pod(kube, namespace, name)
        container = pick_container(pod, namespace)
    fetch_cap = min(LOG_FETCH_CEILING, max(_LOG_FETCH_FLOOR, 4 * limit_bytes))
    base: list[tuple[str, str | int | bool]] = [("container", container)]
    if since_seconds is not None:
        base.append(("sinceSeconds", since_seconds))
    if previous:
        base.append(("previous", "true"))

    async def fetch(tail: int | None) -> bytes:
        query = [*base, ("limitBytes", fetch_cap + 1)]  # +1: tells "exactly the cap" from "more than the cap"
        if tail is not None:
            query.append(("tailLines", tail))
        try:
            data: bytes = await kube.request(
                "GET", _core_path("pods", namespace, name, "log"), op=op, query=query, accept=_TEXT, raw=True
            )
        except errors.Invalid as exc:
            raise await _log_error(kube, exc, pod, namespace, name, container) from None
        return data

    data = await fetch(tail_lines)
    exact = True
    if len(data) > fetch_cap:
        # We hold only the head of a window bigger than the cap: re-read the tail that should fit.
        lines = max(1, data.count(b"\n"))
        wanted = max(1, int(limit_bytes / (len(data) / lines)) + 1)
        data = await fetch(min(wanted, tail_lines) if tail_lines is not None else wanted)
        exact = False
    kept, dropped = keep_tail(data, limit_bytes)
    truncated = dropped > 0 or not exact
    text = kept.decode("utf-8", errors="replace")
    if truncated:
        text = truncation_marker(dropped if exact else None, len(kept)) + text
    return PodLogs(
        pod=name,
        namespace=namespace,
        container=container,
        previous=previous,
        text=text,
        truncated=truncated,
        omitted_bytes=dropped if truncated and exact else None,
    )


async def _get_pod(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = await kube.request(
        "GET",
        _core_path("pods", namespace, name),
        op=errors.Operation(verb="get", resource="pods", kind="Pod", name=name, namespace=namespace),
    )
    return pod


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
            pod = await _get_pod(kube, namespace, name)
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


# --- events ----------------------------------------------------------------------------------------------------------


class EventRow(BaseModel):
    """One distinct event (same reason, message and object), its occurrences folded into `count`."""

    type: str | None = None
    reason: str | None = None
    object: str = Field(description="Kind/name of the object the event is about")
    message: str | None = None
    count: int
    last_seen: str | None = Field(default=None, description="RFC 3339 time of the latest occurrence")
    age: str | None = Field(default=None, description="Time since the latest occurrence")
    first_seen: str | None = None
    source: str | None = Field(default=None, description="Component that reported it")
    namespace: str | None = None


class EventList(BaseModel):
    namespace: str | None = Field(default=None, description="Namespace read; absent = all namespaces")
    items: list[EventRow]
    involved: str | None = Field(default=None, description="The object (or kind) the events were filtered for")
    scanned: int = Field(description="Raw events read before folding repeats")
    omitted: int = Field(default=0, description="Distinct events left out by the limit (oldest first)")
    complete: bool = Field(default=True, description="False when more events existed than one call reads")


def _event_times(event: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(first, last) occurrence across both event shapes: core/v1 (first/lastTimestamp, count) and
    events.k8s.io/v1 as core/v1 shows it (eventTime, series.lastObservedTime)."""
    meta = event.get("metadata") or {}
    series = event.get("series") or {}
    first = parse_time(event.get("firstTimestamp")) or parse_time(event.get("eventTime"))
    last = (
        parse_time(series.get("lastObservedTime"))
        or parse_time(event.get("lastTimestamp"))
        or parse_time(event.get("eventTime"))
        or first
    )
    created = parse_time(meta.get("creationTimestamp"))
    return first or created, last or created


def _event_count(event: Mapping[str, Any]) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def _api_group(api_version: str | None) -> str | None:
    if not api_version:
        return None
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def fold_events(
    events: Sequence[Mapping[str, Any]], *, limit: int, now: dt.datetime | None = None
) -> tuple[list[EventRow], int]:
    """Fold repeats of (reason, message, object) into one row with summed counts; newest first; at most `limit`.

    Returns (rows, how many distinct rows were left out)."""
    now = now or dt.datetime.now(dt.UTC)
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        key = (
            str(event.get("reason") or ""),
            str(event.get("message") or ""),
            str(involved.get("kind") or ""),
            str(involved.get("namespace") or ""),
            str(involved.get("name") or ""),
        )
        first, last = _event_times(event)
        source = event.get("reportingComponent") or (event.get("source") or {}).get("component")
        group = groups.get(key)
        if group is None:
            groups[key] = {
                "event": event,
                "count": _event_count(event),
                "first": first,
                "last": last,
                "source": source,
            }
            continue
        group["count"] += _event_count(event)
        if first is not None and (group["first"] is None or first < group["first"]):
            group["first"] = first
        if last is not None and (group["last"] is None or last > group["last"]):
            group["last"], group["event"] = last, event  # the newest occurrence speaks for the group
        group["source"] = group["source"] or source
    ordered = sorted(groups.values(), key=lambda g: g["last"] or epoch, reverse=True)
    rows = []
    for group in ordered[:limit]:
        event = group["event"]
        involved = event.get("involvedObject") or {}
        first, last = group["first"], group["last"]
        rows.append(
            EventRow(
                type=event.get("type") or None,
                reason=event.get("reason") or None,
                object=f"{involved.get('kind') or '?'}/{involved.get('name') or '?'}",
                message=_clip(str(event["message"]), _MAX_EVENT_MESSAGE) if event.get("message") else None,
                count=group["count"],
                last_seen=last.isoformat().replace("+00:00", "Z") if last else None,
                age=age(last.isoformat(), now) if last else None,
                first_seen=first.isoformat().replace("+00:00", "Z") if first else None,
                source=group["source"] or None,
                namespace=involved.get("namespace") or (event.get("metadata") or {}).get("namespace"),
            )
        )
    return rows, max(0, len(ordered) - limit)


def involved_selector(rt: ResourceType, name: str | None, namespace: str | None, uid: str | None) -> str:
    """Field selector for events about one object (or every object of a kind, without a name)."""
    parts = [f"involvedObject.kind={rt.kind}"]
    if name:
        parts.append(f"involvedObject.name={name}")
    if namespace and rt.namespaced:
        parts.append(f"involvedObject.namespace={namespace}")
    if uid:
        parts.append(f"involvedObject.uid={uid}")
    return ",".join(parts)


async def list_events(
    kube: KubeClient,
    discovery: Discovery,
    namespace: str | None,
    *,
    plural: str | None = None,
    name: str | None = None,
    group: str | None = None,
    version: str | None = None,
    uid: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    widen_cluster_scoped: bool = True,
) -> EventList:
    """Events for one involved object (any kind, custom resources included: `plural` may be a kind, plural, singular
    or short name) or for a whole namespace (`plural=None`); `namespace=None` reads all namespaces.

    core/v1 is the one read path: it serves events written through events.k8s.io/v1 too (same storage), and its
    field selectors cover involvedObject.*. Events about a cluster-scoped object are read across namespaces, since
    their writers put them in `default` or their own namespace (`widen_cluster_scoped=False` keeps to `namespace`,
    for a server limited to some namespaces). The kind can be shared by two groups, so rows are
    also checked against the resolved type's group.
    """
    if name and not plural:
        raise errors.InvalidInput("name needs plural (the kind of the object, e.g. plural='widgets' or 'Widget').")
    rt: ResourceType | None = None
    selectors: list[str] = []
    if plural:
        rt = await discovery.resolve(plural, group=group, version=version)
        if not rt.namespaced and widen_cluster_scoped:
            namespace = None
        selectors.append(involved_selector(rt, name, namespace, uid))
    if event_type:
        selectors.append(f"type={event_type}")
    op = errors.Operation(verb="list", resource="events", namespace=namespace)
    events: list[dict[str, Any]] = []
    token: str | None = None
    complete = True
    while True:
        doc = await kube.request(
            "GET",
            _core_path("events", namespace),
            op=op,
            query=list_query(None, ",".join(selectors) or None, EVENT_PAGE, token),
        )
        events += doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue") or None
        if token is None:
            break
        if len(events) >= EVENT_SCAN_LIMIT:
            complete = False
            break
    if rt is not None:
        events = [
            e for e in events if _api_group((e.get("involvedObject") or {}).get("apiVersion")) in (None, rt.group)
        ]
    rows, omitted = fold_events(events, limit=limit)
    involved = None
    if rt is not None:
        involved = f"{rt.kind}/{name}" if name else f"{rt.kind} ({rt.qualified})"
    return EventList(
        namespace=namespace, items=rows, involved=involved, scanned=len(events), omitted=omitted, complete=complete
    )


# --- services --------------------------------------------------------------------------------------------------------


class ServiceRow(BaseModel):
    name: str
    namespace: str | None = None
    type: str
    cluster_ip: str | None = None
    external: list[str] = Field(default_factory=list, description="External IPs, load-balancer ingress, or name")
    ports: list[str] = Field(
        default_factory=list, description="[name:]port[:nodePort]→targetPort/protocol, e.g. http:80→8080/TCP"
    )
    selector: dict[str, str] | None = Field(
        default=None, description="Pod selector (absent: endpoints managed by hand)"
    )
    age: str | None = None


class ServicePage(BaseModel):
    items: list[ServiceRow]
    page: PageInfo


def _port(p: Mapping[str, Any]) -> str:
    text = f"{p['name']}:" if p.get("name") else ""
    text += str(p.get("port", "?"))
    if p.get("nodePort"):
        text += f":{p['nodePort']}"
    target = p.get("targetPort")
    if target is not None and str(target) != str(p.get("port")):
        text += f"→{target}"
    return f"{text}/{p.get('protocol') or 'TCP'}"


def service_row(svc: Mapping[str, Any], now: dt.datetime | None = None) -> ServiceRow:
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = [*(spec.get("externalIPs") or []), *(i.get("ip") or i.get("hostname") for i in ingress)]
    if spec.get("externalName"):
        external.append(spec["externalName"])
    cluster_ip = spec.get("clusterIP")
    return ServiceRow(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        type=spec.get("type") or "ClusterIP",
        cluster_ip=cluster_ip if cluster_ip and cluster_ip != "None" else ("None (headless)" if cluster_ip else None),
        external=[str(e) for e in external if e],
        ports=[_port(p) for p in spec.get("ports") or []],
        selector=spec.get("selector") or None,
        age=age(meta.get("creationTimestamp"), now),
    )


async def list_services(
    kube: KubeClient,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> ServicePage:
    doc = await _list(kube, "services", namespace, label_selector, field_selector, limit, continue_token)
    now = dt.datetime.now(dt.UTC)
    return ServicePage(items=[service_row(s, now) for s in doc.get("items") or []], page=_page_info(doc))


# --- access review ---------------------------------------------------------------------------------------------------


class AccessAnswer(BaseModel):
    """What the API server's authorizer says the current credentials may do."""

    allowed: bool
    verb: str
    resource: str = Field(description="plural.group as RBAC sees it, e.g. widgets.example.com or pods")
    subresource: str | None = None
    namespace: str | None = Field(default=None, description="Absent: cluster-wide (or a cluster-scoped resource)")
    name: str | None = None
    reason: str | None = Field(default=None, description="The authorizer's explanation, when it gives one")
    denied: bool | None = Field(default=None, description="True when explicitly denied (not merely not allowed)")
    evaluation_error: str | None = None
    note: str | None = None


async def check_access(
    kube: KubeClient,
    discovery: Discovery | None,
    *,
    verb: str,
    resource: str,
    group: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> AccessAnswer:
    """Ask the API server (SelfSubjectAccessReview) whether these credentials may `verb` `resource`.

    `resource` may be any name discovery knows (Widget, wg, widgets.example.com) and may carry a subresource
    (`pods/log`); RBAC only understands plurals, so we translate, and say so when the type is not served (RBAC
    rules can name types that do not exist, so the question is still asked as typed).
    """
    verb = verb.strip().lower()
    if not verb:
        raise errors.InvalidInput("verb is empty; use get, list, watch, create, update, patch, delete or '*'.")
    base, _, sub_from_name = resource.strip().partition("/")
    subresource = subresource or sub_from_name or None
    plural, api_group, note = base, group or "", None
    if discovery is not None and base not in ("", "*"):
        try:
            rt = await discovery.resolve(base, group=group)
        except errors.TypeNotFound:
            note = f"{base!r} is not a type this server serves; checked the name as typed."
        else:
            plural, api_group = rt.plural, rt.group
            if not rt.namespaced:
                namespace = None
    attributes = {"verb": verb, "resource": plural, "group": api_group}
    for key, value in (("namespace", namespace), ("name", name), ("subresource", subresource)):
        if value:
            attributes[key] = value
    review = await kube.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        op=errors.Operation(verb="create", resource="selfsubjectaccessreviews.authorization.k8s.io"),
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    status = review.get("status") or {}
    return AccessAnswer(
        allowed=bool(status.get("allowed")),
        verb=verb,
        resource=f"{plural}.{api_group}" if api_group else plural,
        subresource=subresource,
        namespace=namespace or None,
        name=name or None,
        reason=status.get("reason") or None,
        denied=status.get("denied") or None,
        evaluation_error=status.get("evaluationError") or None,
        note=note,
    )


# --- API resources ---------------------------------------------------------------------------------------------------


class ApiResourceRow(BaseModel):
    group: str = Field(description='API group; "" is the core group')
    version: str
    kind: str
    plural: str
    short_names: list[str] = Field(default_factory=list)
    namespaced: bool
    verbs: list[str] = Field(default_factory=list)


async def api_resources(
    discovery: Discovery, *, group: str | None = None, all_versions: bool = False
) -> list[ApiResourceRow]:
    """Served resource types (preferred version of each group unless `all_versions`), sorted by group and plural.

    `group` filters exactly; "core" or "" means the core group."""
    wanted = "" if group in ("core", "") else group
    rows = [
        ApiResourceRow(
            group=t.group,
            version=t.version,
            kind=t.kind,
            plural=t.plural,
            short_names=list(t.short_names),
            namespaced=t.namespaced,
            verbs=list(t.verbs),
        )
        for t in await discovery.all_types()
        if (wanted is None or t.group == wanted) and (all_versions or t.preferred) and not discovery.hidden(t)
    ]
    return sorted(rows, key=lambda r: (r.group, r.plural, r.version))


# --- namespaces ------------------------------------------------------------------------------------------------------


class NamespaceRow(BaseModel):
    name: str
    phase: str | None = None
    age: str | None = None


class NamespaceList(BaseModel):
    items: list[NamespaceRow]
    source: Literal["api", "configured"] = Field(
        description="api: listed from the cluster; configured: listing was forbidden, these are the namespaces this "
        "server is configured to use"
    )
    note: str | None = None


async def list_namespaces(kube: KubeClient, settings: Settings, *, label_selector: str | None = None) -> NamespaceList:
    """Namespaces from the cluster, narrowed to --allowed-namespaces when set.

    Namespace-scoped credentials (a service account with only a Role) cannot list namespaces at all; rather than
    fail, answer with what this server is configured to use and say plainly that it is not a cluster listing.
    """
    try:
        doc = await kube.request(
            "GET",
            "/api/v1/namespaces",
            op=errors.Operation(verb="list", resource="namespaces"),
            query=list_query(label_selector, None, None, None),
        )
    except errors.Forbidden:
        names = list(settings.allowed_namespaces) or [await resolve_namespace(kube, settings, None)]
        return NamespaceList(
            items=[NamespaceRow(name=n) for n in names],
            source="configured",
            note="These credentials may not list namespaces, so this is not a cluster listing: it shows the "
            + ("allowed namespaces (--allowed-namespaces)" if settings.allowed_namespaces else "default namespace")
            + " this server uses; other namespaces may exist.",
        )
    now = dt.datetime.now(dt.UTC)
    rows = [
        NamespaceRow(
            name=(ns.get("metadata") or {}).get("name", ""),
            phase=(ns.get("status") or {}).get("phase"),
            age=age((ns.get("metadata") or {}).get("creationTimestamp"), now),
        )
        for ns in doc.get("items") or []
    ]
    note = None
    if settings.allowed_namespaces:
        allowed = set(settings.allowed_namespaces)
        rows = [r for r in rows if r.name in allowed]
        note = "Narrowed to the namespaces this server may use (--allowed-namespaces)."
    return NamespaceList(items=rows, source="api", note=note)
