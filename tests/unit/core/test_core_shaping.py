"""Pure shaping in kube/ (pods, events, services, reviews, discovery, namespaces): pod rows and reasons, container
choice, log tails, event folding, service rows, and the request logic of logs, access reviews and namespaces against
a scripted client (no network)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery, ResourceType, api_resources
from mcp_k8s.kube.events import EVENT_PAGE, EVENT_SCAN_LIMIT, fold_events, involved_selector, list_events
from mcp_k8s.kube.namespaces import list_namespaces
from mcp_k8s.kube.pods import (
    _LOG_FETCH_FLOOR,
    DEFAULT_CONTAINER_ANNOTATION,
    keep_tail,
    not_ready_reason,
    pick_container,
    pod_logs,
    pod_row,
)
from mcp_k8s.kube.reviews import check_access
from mcp_k8s.kube.services import service_row
from mcp_k8s.objects import age
from mcp_k8s.settings import Settings
from mcp_k8s.tools import hints
from mcp_k8s.tools.core import marked_text

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2026, 1, 2, 12, 0, 0, tzinfo=dt.UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    name: str = "p",
    *,
    phase: str = "Running",
    node: str | None = "n1",
    containers: tuple[str, ...] = ("app",),
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    ready: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    status.update(extra.pop("status", {}))
    spec: dict[str, Any] = {"containers": [{"name": c} for c in containers]}
    if node:
        spec["nodeName"] = node
    meta = {"name": name, "namespace": "ns", "creationTimestamp": stamp(3 * 3600), **extra.pop("meta", {})}
    return {"metadata": meta, "spec": spec, "status": status}


def running(name: str, restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "ready": True, "restartCount": restarts, "state": {"running": {}}}


# --- pods ---


def test_ready_pod_row() -> None:
    row = pod_row(pod(statuses=[running("app", 1)], ready="True"), NOW)
    assert row.model_dump() == {
        "name": "p",
        "namespace": "ns",
        "phase": "Running",
        "ready": "1/1",
        "restarts": 1,
        "node": "n1",
        "age": "3h",
        "reason": None,
    }


def test_crash_looping_container_is_the_reason() -> None:
    failing = {
        "name": "sidecar",
        "ready": False,
        "restartCount": 7,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    }
    row = pod_row(pod(containers=("app", "sidecar"), statuses=[running("app"), failing], ready="False"), NOW)
    assert (row.ready, row.restarts) == ("1/2", 7)
    assert row.reason == "sidecar: CrashLoopBackOff (back-off 5m0s), last exit 137 (OOMKilled)"


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        (pod(node=None, phase="Pending"), "Not scheduled to a node yet"),
        (
            pod(
                node=None,
                phase="Pending",
                status={
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}
                    ]
                },
            ),
            "Unschedulable: 0/3 nodes",
        ),
        (pod(meta={"deletionTimestamp": stamp(1)}, statuses=[running("app")], ready="True"), "Terminating"),
        (pod(phase="Succeeded", ready="False"), None),
        (
            pod(phase="Failed", status={"reason": "Evicted", "message": "low on memory"}),
            "Failed: Evicted low on memory",
        ),
        (
            pod(
                phase="Pending",
                statuses=[{"name": "app", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}],
                init_statuses=[
                    {"name": "migrate", "ready": False, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
                ],
            ),
            "init:migrate: Error (exit 2)",
        ),
        (
            pod(
                statuses=[{"name": "app", "ready": False, "state": {"running": {}}}],
                init_statuses=[{"name": "setup", "ready": True, "state": {"terminated": {"exitCode": 0}}}],
                ready="False",
            ),
            "app: running but not ready (readiness probe failing or not yet passed)",
        ),
        (
            pod(statuses=[{"name": "app", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]),
            "app: ImagePullBackOff",
        ),
        (pod(phase="Pending"), "Pending: the node has not started the containers yet"),
    ],
)
def test_not_ready_reasons(shape: dict[str, Any], reason: str | None) -> None:
    assert not_ready_reason(shape) == reason


def test_long_reasons_are_clipped() -> None:
    waiting = {"reason": "CreateContainerConfigError", "message": "secret " + "x" * 1000 + " not found"}
    reason = not_ready_reason(pod(statuses=[{"name": "app", "ready": False, "state": {"waiting": waiting}}]))
    assert reason is not None
    assert len(reason) == 240
    assert reason.endswith("…")


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (59, "59s"), (60, "1m"), (7199, "119m"), (7200, "2h"), (2 * 86400, "2d")]
)
def test_age(seconds: int, text: str) -> None:
    assert age(stamp(seconds), NOW) == text


def test_age_of_garbage() -> None:
    assert age(None) is None
    assert age("yesterday") is None
    assert age(stamp(-30), NOW) == "0s"


# --- containers and log tails ---


def test_pick_container() -> None:
    assert pick_container(pod(), "ns") == "app"
    annotated = pod(containers=("app", "istio-proxy"), meta={"annotations": {DEFAULT_CONTAINER_ANNOTATION: "app"}})
    assert pick_container(annotated, "ns") == "app"
    two = pod(containers=("app", "sidecar"))
    two["spec"]["initContainers"] = [{"name": "migrate"}]
    with pytest.raises(errors.InvalidInput) as err:
        pick_container(two, "ns")
    assert hints.sentence(err.value) == (
        'Pod "p" in namespace "ns" has 2 containers: app, sidecar (init containers: migrate); '
        "pass container= one of them."
    )


@pytest.mark.parametrize(
    ("data", "limit", "kept"),
    [
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),  # fits
        (b"aaaa\nbbbb\ncccc\n", 10, b"bbbb\ncccc\n"),  # the cut lands exactly on a line start
        (b"aaaa\nbbbb\ncccc\n", 12, b"bbbb\ncccc\n"),  # mid-line: the partial line goes
        (b"aaaa\nbbbb\ncccc\n", 3, b"cc\n"),  # no whole line fits: keep the bytes we may
        (b"one long line without a newline", 7, b"newline"),
    ],
)
def test_keep_tail(data: bytes, limit: int, kept: bytes) -> None:
    result, dropped = keep_tail(data, limit)
    assert result == kept
    assert dropped == len(data) - len(result)


# --- events ---


def event(
    name: str,
    reason: str,
    message: str,
    *,
    kind: str = "Widget",
    obj: str = "w1",
    count: int | None = 1,
    last: float = 0,
    first: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    out = {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": stamp(last)},
        "involvedObject": {"kind": kind, "name": obj, "namespace": "ns", "apiVersion": "example.com/v1"},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "lastTimestamp": stamp(last),
        "firstTimestamp": stamp(first if first is not None else last),
        **extra,
    }
    if count is not None:
        out["count"] = count
    return out


def test_fold_events_sums_repeats_and_sorts_newest_first() -> None:
    rows, omitted = fold_events(
        [
            event("a", "Reconciling", "size 3", count=2, last=300, first=900),
            event("b", "Failed", "quota", last=10, type="Warning", source={"component": "ctrl"}),
            event("c", "Reconciling", "size 3", count=3, last=60, first=100),
            event("d", "Reconciling", "size 3", obj="w2", last=5),
            {  # events.k8s.io/v1 written, read through core/v1: eventTime + series, no count/timestamps
                "metadata": {"name": "e", "namespace": "ns", "creationTimestamp": stamp(1200)},
                "involvedObject": {"kind": "Widget", "name": "w1", "namespace": "ns"},
                "reason": "Scaled",
                "message": "to 3",
                "eventTime": stamp(1200) + ".000000",
                "series": {"count": 4, "lastObservedTime": stamp(1) + ".000000"},
                "reportingComponent": "example.com/widget-controller",
            },
        ],
        limit=3,
        now=NOW,
    )
    assert [(r.object, r.reason, r.count, r.age) for r in rows] == [
        ("Widget/w1", "Scaled", 4, "1s"),
        ("Widget/w2", "Reconciling", 1, "5s"),
        ("Widget/w1", "Failed", 1, "10s"),
    ]
    assert omitted == 1
    assert rows[0].source == "example.com/widget-controller"
    assert rows[0].first_seen == stamp(1200)
    assert rows[2].source == "ctrl"
    everything, _ = fold_events(
        [event("a", "R", "m", count=2, last=300, first=900), event("c", "R", "m", count=3, last=60, first=100)],
        limit=10,
        now=NOW,
    )
    assert len(everything) == 1
    assert (everything[0].count, everything[0].last_seen, everything[0].first_seen) == (5, stamp(60), stamp(900))


def test_fold_events_without_counts_or_times() -> None:
    bare = {"metadata": {"name": "x"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Killing"}
    rows, omitted = fold_events([bare, dict(bare)], limit=5, now=NOW)
    assert [(r.object, r.count, r.last_seen, r.message) for r in rows] == [("Pod/p", 2, None, None)]
    assert omitted == 0


def test_involved_selector() -> None:
    widgets = ResourceType(group="example.com", version="v1", plural="widgets", kind="Widget")
    nodes = ResourceType(group="", version="v1", plural="nodes", kind="Node", namespaced=False)
    assert involved_selector(widgets, "w1", "ns", "u-1") == (
        "involvedObject.kind=Widget,involvedObject.name=w1,involvedObject.namespace=ns,involvedObject.uid=u-1"
    )
    assert involved_selector(nodes, "n1", "ns", None) == "involvedObject.kind=Node,involvedObject.name=n1"
    assert involved_selector(widgets, None, None, None) == "involvedObject.kind=Widget"


# --- services ---


def test_service_rows() -> None:
    lb = service_row(
        {
            "metadata": {"name": "front", "namespace": "ns", "creationTimestamp": stamp(90)},
            "spec": {
                "type": "LoadBalancer",
                "clusterIP": "10.0.0.7",
                "externalIPs": ["192.0.2.1"],
                "selector": {"app": "front"},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 31000, "protocol": "TCP"},
                    {"port": 53, "targetPort": 53, "protocol": "UDP"},
                ],
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.org"}]}},
        },
        NOW,
    )
    assert lb.model_dump() == {
        "name": "front",
        "namespace": "ns",
        "type": "LoadBalancer",
        "cluster_ip": "10.0.0.7",
        "external": ["192.0.2.1", "203.0.113.9", "lb.example.org"],
        "ports": ["http:80:31000→8080/TCP", "53/UDP"],
        "selector": {"app": "front"},
        "age": "1m",
    }
    headless = service_row({"metadata": {"name": "h", "namespace": "ns"}, "spec": {"clusterIP": "None"}}, NOW)
    assert (headless.type, headless.cluster_ip, headless.selector, headless.ports) == (
        "ClusterIP",
        "None (headless)",
        None,
        [],
    )


# --- request logic against a scripted client ---


@dataclass
class FakeKube:
    """Answers `request()` from a handler; records every call (method, path, query, body)."""

    handler: Callable[[str, str, dict[str, Any], Any], Any]
    calls: list[tuple[str, str, dict[str, Any], Any]] = field(default_factory=list)

    async def request(
        self, method: str, path: str, *, op: errors.Operation, query: Any = (), body: Any = None, **_: Any
    ) -> Any:
        params = dict(query)
        self.calls.append((method, path, params, body))
        result = self.handler(method, path, params, body)
        if isinstance(result, errors.K8sError):
            raise result
        return result

    async def api(self) -> None:
        return None

    @property
    def info(self) -> None:
        return None

    def describe_target(self) -> str:
        return "the fake cluster"


def as_kube(fake: FakeKube) -> KubeClient:
    return cast(KubeClient, fake)


def log_server(log: bytes, the_pod: dict[str, Any] | None = None) -> Callable[[str, str, dict[str, Any], Any], Any]:
    """Serves `log` the way the API server does: tailLines first, then limitBytes keeps the head."""

    def handle(method: str, path: str, query: dict[str, Any], body: Any) -> Any:
        if not path.endswith("/log"):
            return the_pod or pod()
        lines = log.splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[-int(query["tailLines"]) :] if int(query["tailLines"]) else []
        data = b"".join(lines)
        return data[: int(query["limitBytes"])]

    return handle


async def test_pod_logs_small_log_is_returned_whole() -> None:
    fake = FakeKube(log_server(b"hello\nworld\n"))
    logs = await pod_logs(as_kube(fake), "ns", "p", tail_lines=10, since_seconds=60, previous=True)
    assert (logs.container, logs.text, logs.truncated, logs.omitted_bytes) == ("app", "hello\nworld\n", False, None)
    get_pod, get_log = fake.calls
    assert get_pod[1] == "/api/v1/namespaces/ns/pods/p"
    assert get_log[1] == "/api/v1/namespaces/ns/pods/p/log"
    assert get_log[2] == {
        "container": "app",
        "sinceSeconds": 60,
        "previous": "true",
        "limitBytes": _LOG_FETCH_FLOOR + 1,
        "tailLines": 10,
    }


async def test_pod_logs_with_a_container_skips_the_pod_read() -> None:
    fake = FakeKube(log_server(b"x\n"))
    await pod_logs(as_kube(fake), "ns", "p", container="app")
    assert [c[1] for c in fake.calls] == ["/api/v1/namespaces/ns/pods/p/log"]


async def test_pod_logs_cut_keeps_the_newest_whole_lines() -> None:
    log = b"".join(b"line %03d\n" % i for i in range(100))  # 9 bytes a line
    logs = await pod_logs(as_kube(FakeKube(log_server(log))), "ns", "p", container="app", limit_bytes=40)
    marker, _, body = marked_text(logs).partition("\n")
    assert body == "line 096\nline 097\nline 098\nline 099\n"
    assert (logs.truncated, logs.omitted_bytes) == (True, 900 - 36)
    assert marker == (
        "[truncated: 864 earlier bytes not shown, these are the last 36 bytes; narrow with tail_lines or "
        "since_seconds, or raise limit_bytes]"
    )


async def test_pod_logs_window_bigger_than_the_fetch_is_reread_from_the_end() -> None:
    log = b"".join(b"entry %06d %s\n" % (i, b"z" * 50) for i in range(5_000))  # 64 bytes a line, 320 kB
    fake = FakeKube(log_server(log))
    logs = await pod_logs(as_kube(fake), "ns", "p", container="app", limit_bytes=1_000)
    first, second = (c[2] for c in fake.calls)
    assert "tailLines" not in first
    assert second["tailLines"] == 1_000 // 64 + 1
    body = logs.text
    assert body.endswith("entry 004999 " + "z" * 50 + "\n")
    assert len(body) <= 1_000
    assert (logs.truncated, logs.omitted_bytes) == (True, None)
    assert marked_text(logs).startswith("[truncated: earlier output not shown")


async def test_pod_logs_reread_never_asks_for_more_than_tail_lines() -> None:
    log = b"".join(b"%0127d\n" % i for i in range(4_000))  # 128 bytes a line
    fake = FakeKube(log_server(log))
    await pod_logs(as_kube(fake), "ns", "p", container="app", tail_lines=3_000, limit_bytes=20_000)
    assert [c[2]["tailLines"] for c in fake.calls] == [3_000, 20_000 // 128 + 1]


async def test_pod_logs_unknown_container_lists_the_real_ones() -> None:
    def handle(method: str, path: str, query: dict[str, Any], body: Any) -> Any:
        if path.endswith("/log"):
            return errors.Invalid("The API server rejected get pods/log as invalid: container nope is not valid")
        return pod(containers=("app", "sidecar"))

    with pytest.raises(errors.InvalidInput) as err:
        await pod_logs(as_kube(FakeKube(handle)), "ns", "p", container="nope")
    assert str(err.value) == 'Pod "p" in namespace "ns" has no container "nope"; its containers are app, sidecar.'


async def test_pod_logs_other_400s_are_relayed_with_context() -> None:
    def handle(method: str, path: str, query: dict[str, Any], body: Any) -> Any:
        if path.endswith("/log"):
            return errors.Invalid(
                'The API server rejected get pods/log as invalid: container "app" in pod "p" is waiting to start'
            )
        return pod()

    with pytest.raises(errors.Invalid) as err:
        await pod_logs(as_kube(FakeKube(handle)), "ns", "p", container="app")
    assert str(err.value) == (
        'Cannot read the logs of container "app" in pod "p" (namespace "ns"): '
        'container "app" in pod "p" is waiting to start'
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit_bytes": 0}, "limitBytes must be at least 1."),
        ({"tail_lines": -1}, "tailLines must be 0 or more."),
        ({"since_seconds": 0}, "sinceSeconds must be at least 1."),
    ],
)
async def test_pod_logs_argument_checks(kwargs: dict[str, Any], message: str) -> None:
    fake = FakeKube(log_server(b""))
    with pytest.raises(errors.InvalidInput, match=message):
        await pod_logs(as_kube(fake), "ns", "p", **kwargs)
    assert fake.calls == []


class FakeDiscovery:
    def __init__(self, *types: ResourceType) -> None:
        self.types = list(types)

    async def resolve(self, name: str, *, group: str | None = None, version: str | None = None) -> ResourceType:
        for t in self.types:
            if name.lower() in t.names() and group in (None, t.group):
                return t
        raise errors.TypeNotFound(f"no {name}")

    async def all_types(self, *, refresh: bool = False) -> list[ResourceType]:
        return self.types

    def hidden(self, rt: ResourceType) -> bool:
        return False


WIDGETS = ResourceType(
    group="example.com", version="v1", plural="widgets", kind="Widget", singular="widget", short_names=("wg",)
)
WIDGETS_BETA = ResourceType(group="example.com", version="v1beta1", plural="widgets", kind="Widget", preferred=False)
NODES = ResourceType(group="", version="v1", plural="nodes", kind="Node", namespaced=False, short_names=("no",))


def ssar(allowed: bool, **status: Any) -> Callable[[str, str, dict[str, Any], Any], Any]:
    def handle(method: str, path: str, query: dict[str, Any], body: Any) -> Any:
        return {**body, "status": {"allowed": allowed, **status}}

    return handle


async def test_check_access_translates_names_for_rbac() -> None:
    fake = FakeKube(ssar(True))
    answer = await check_access(
        as_kube(fake),
        cast(Discovery, FakeDiscovery(WIDGETS)),
        verb=" GET ",
        resource="wg/status",
        namespace="ns",
        name="w1",
    )
    method, path, _, body = fake.calls[0]
    assert (method, path) == ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert body["spec"]["resourceAttributes"] == {
        "verb": "get",
        "resource": "widgets",
        "group": "example.com",
        "namespace": "ns",
        "name": "w1",
        "subresource": "status",
    }
    assert answer.model_dump(exclude_none=True) == {
        "allowed": True,
        "verb": "get",
        "resource": "widgets.example.com",
        "subresource": "status",
        "namespace": "ns",
        "name": "w1",
    }


async def test_check_access_cluster_scoped_and_unknown_types() -> None:
    fake = FakeKube(ssar(False, reason="no RBAC rule", denied=False))
    discovery = cast(Discovery, FakeDiscovery(NODES))
    nodes = await check_access(as_kube(fake), discovery, verb="list", resource="no", namespace="ns")
    assert fake.calls[0][3]["spec"]["resourceAttributes"] == {"verb": "list", "resource": "nodes", "group": ""}
    assert (nodes.allowed, nodes.namespace, nodes.reason, nodes.denied) == (False, None, "no RBAC rule", None)
    ghost = await check_access(as_kube(fake), discovery, verb="get", resource="gizmos", group="ghost.io")
    assert fake.calls[1][3]["spec"]["resourceAttributes"] == {"verb": "get", "resource": "gizmos", "group": "ghost.io"}
    assert (ghost.resource, ghost.note) == (
        "gizmos.ghost.io",
        "'gizmos' is not a type this server serves; checked the name as typed.",
    )
    with pytest.raises(errors.InvalidInput):
        await check_access(as_kube(fake), discovery, verb=" ", resource="pods")


async def test_api_resources_filter() -> None:
    discovery = cast(Discovery, FakeDiscovery(WIDGETS, WIDGETS_BETA, NODES))
    assert [(r.group, r.plural, r.version) for r in await api_resources(discovery)] == [
        ("", "nodes", "v1"),
        ("example.com", "widgets", "v1"),
    ]
    assert [r.version for r in await api_resources(discovery, group="example.com", all_versions=True)] == [
        "v1",
        "v1beta1",
    ]
    assert [r.plural for r in await api_resources(discovery, group="core")] == ["nodes"]
    assert await api_resources(discovery, group="nope.io") == []


async def test_namespaces_fallback_when_forbidden() -> None:
    forbidden = FakeKube(lambda *_: errors.Forbidden("no"))
    settings = Settings(namespace="team-a")
    answer = await list_namespaces(as_kube(forbidden), settings)
    assert (answer.source, [r.name for r in answer.items]) == ("configured", ["team-a"])
    assert answer.note is not None
    assert "default namespace" in answer.note
    allowed = await list_namespaces(as_kube(forbidden), Settings(allowed_namespaces=("b", "a")))
    assert [r.name for r in allowed.items] == ["b", "a"]


async def test_namespaces_listing_is_narrowed_to_the_allowed_set() -> None:
    listing = {"items": [{"metadata": {"name": n}, "status": {"phase": "Active"}} for n in ("a", "b", "c")]}
    fake = FakeKube(lambda *_: listing)
    everything = await list_namespaces(as_kube(fake), Settings(), label_selector="team=x")
    assert ([r.name for r in everything.items], everything.note) == (["a", "b", "c"], None)
    assert fake.calls[0][2] == {"labelSelector": "team=x"}
    narrowed = await list_namespaces(as_kube(fake), Settings(allowed_namespaces=("c", "a")))
    assert [r.name for r in narrowed.items] == ["a", "c"]


async def test_list_events_pages_and_stops_at_the_scan_limit() -> None:
    def handle(method: str, path: str, query: dict[str, Any], body: Any) -> Any:
        page = int(query.get("continue") or 0)
        items = [event(f"e{page}-{i}", "R", f"m{page}-{i}", last=page * 1000 + i) for i in range(EVENT_PAGE)]
        return {"metadata": {"continue": str(page + 1)}, "items": items}

    fake = FakeKube(handle)
    found = await list_events(
        as_kube(fake), cast(Discovery, FakeDiscovery(WIDGETS)), "ns", plural="wg", name="w1", limit=2
    )
    assert len(fake.calls) == EVENT_SCAN_LIMIT // EVENT_PAGE
    assert fake.calls[0][1] == "/api/v1/namespaces/ns/events"
    assert fake.calls[0][2]["fieldSelector"] == (
        "involvedObject.kind=Widget,involvedObject.name=w1,involvedObject.namespace=ns"
    )
    assert (found.scanned, found.complete, found.omitted, [r.message for r in found.items]) == (
        EVENT_SCAN_LIMIT,
        False,
        EVENT_SCAN_LIMIT - 2,
        ["m0-0", "m0-1"],
    )


async def test_list_events_for_a_cluster_scoped_object_reads_every_namespace() -> None:
    fake = FakeKube(lambda *_: {"metadata": {}, "items": [event("e", "NodeReady", "ready", kind="Node", obj="n1")]})
    found = await list_events(as_kube(fake), cast(Discovery, FakeDiscovery(NODES)), "ns", plural="nodes", name="n1")
    assert fake.calls[0][1] == "/api/v1/events"
    assert json.loads(found.model_dump_json())["involved"] == "Node/n1"


async def test_list_events_drops_same_kind_from_another_group() -> None:
    same_kind = event("x", "R", "other group", obj="w1")
    same_kind["involvedObject"]["apiVersion"] = "other.io/v1"
    ours = event("y", "R", "our group", obj="w1")
    fake = FakeKube(lambda *_: {"metadata": {}, "items": [same_kind, ours]})
    found = await list_events(as_kube(fake), cast(Discovery, FakeDiscovery(WIDGETS)), "ns", plural="wg", name="w1")
    assert [r.message for r in found.items] == ["our group"]
