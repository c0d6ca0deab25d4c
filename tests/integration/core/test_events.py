"""Events about one object of any kind (a custom resource here), or a whole namespace: newest first, repeats folded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from kubernetes_asyncio import client

from mcp_k8s import errors
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import Discovery
from mcp_k8s.kube.events import list_events
from mcp_k8s.objects import parse_time

pytestmark = pytest.mark.anyio


def _ago(seconds: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def core_event(
    name: str, involved: dict[str, Any], reason: str, message: str, *, count: int, age: int, kind: str = "Normal"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": kind,
        "count": count,
        "firstTimestamp": _ago(age + 600),
        "lastTimestamp": _ago(age),
        "source": {"component": "widget-controller"},
    }


async def test_events_for_a_custom_resource(
    kube: KubeClient, discovery: Discovery, admin: client.ApiClient, namespace: str, crds: None
) -> None:
    objects = client.CustomObjectsApi(admin)
    widgets = {}
    for name in ("w1", "w2"):
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 3}}
        widgets[name] = await objects.create_namespaced_custom_object("example.com", "v1", namespace, "widgets", body)

    def about(name: str, kind: str = "Widget", api_version: str = "example.com/v1") -> dict[str, Any]:
        uid = widgets[name]["metadata"]["uid"] if kind == "Widget" else "0000"
        return {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace, "uid": uid}

    events = client.CoreV1Api(admin)
    for body in (
        core_event("w1.a", about("w1"), "Reconciling", "reconciling size 3", count=2, age=300),
        core_event("w1.b", about("w1"), "Reconciling", "reconciling size 3", count=3, age=60),
        core_event("w1.c", about("w1"), "Failed", "quota exceeded", count=1, age=10, kind="Warning"),
        core_event("w2.a", about("w2"), "Reconciling", "reconciling size 3", count=1, age=30),
        core_event("pod.a", about("w1", kind="Pod", api_version="v1"), "Pulled", "image pulled", count=1, age=20),
    ):
        await events.create_namespaced_event(namespace, body)
    # The newer API, events.k8s.io/v1, with a series: the same storage, seen through core/v1 with other fields.
    await client.EventsV1Api(admin).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "w1.d"},
            "regarding": about("w1"),
            "reason": "Scaled",
            "note": "scaled to 3 replicas",
            "type": "Normal",
            "action": "Scale",
            "eventTime": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)).isoformat().replace("+00:00", "Z"),
            "series": {"count": 4, "lastObservedTime": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")},
            "reportingController": "example.com/widget-controller",
            "reportingInstance": "widget-controller-0",
        },
    )

    for plural in ("wg", "Widget", "widgets.example.com"):
        found = await list_events(kube, discovery, namespace, plural=plural, name="w1")
        assert found.involved == "Widget/w1"
        summary = [(r.reason, r.count, r.type, r.object) for r in found.items]
        assert summary == [
            ("Scaled", 4, "Normal", "Widget/w1"),
            ("Failed", 1, "Warning", "Widget/w1"),
            ("Reconciling", 5, "Normal", "Widget/w1"),  # w1.a + w1.b folded, newest time kept
        ]
    assert found.scanned == 4
    scaled, failed, reconciling = found.items
    assert scaled.message == "scaled to 3 replicas"
    assert scaled.source == "example.com/widget-controller"
    assert failed.source == "widget-controller"
    last, first = parse_time(reconciling.last_seen), parse_time(reconciling.first_seen)
    assert last is not None
    assert first is not None
    assert 50 <= (dt.datetime.now(dt.UTC) - last).total_seconds() <= 120  # w1.b's time, not w1.a's
    assert (last - first).total_seconds() >= 840  # w1.a's first occurrence: 900 s before w1.a's last

    by_uid = await list_events(
        kube, discovery, namespace, plural="widgets", name="w1", uid=widgets["w1"]["metadata"]["uid"]
    )
    assert len(by_uid.items) == 3

    warnings = await list_events(kube, discovery, namespace, plural="widgets", name="w1", event_type="Warning")
    assert [r.reason for r in warnings.items] == ["Failed"]

    whole = await list_events(kube, discovery, namespace)
    assert whole.involved is None
    assert {(r.object, r.reason) for r in whole.items} == {
        ("Widget/w1", "Scaled"),
        ("Widget/w1", "Failed"),
        ("Widget/w1", "Reconciling"),
        ("Widget/w2", "Reconciling"),
        ("Pod/w1", "Pulled"),
    }
    newest_two = await list_events(kube, discovery, namespace, limit=2)
    assert [r.reason for r in newest_two.items] == ["Scaled", "Failed"]
    assert newest_two.omitted == 3

    every_widget = await list_events(kube, discovery, namespace, plural="widgets")
    assert {r.object for r in every_widget.items} == {"Widget/w1", "Widget/w2"}


async def test_events_for_an_unknown_kind(kube: KubeClient, discovery: Discovery, namespace: str) -> None:
    with pytest.raises(errors.TypeNotFound):
        await list_events(kube, discovery, namespace, plural="gizmos", name="g1")
    with pytest.raises(errors.InvalidInput):
        await list_events(kube, discovery, namespace, name="g1")
