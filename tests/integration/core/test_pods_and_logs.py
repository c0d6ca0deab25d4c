"""Pods on a KWOK node and their logs, read through the real API server (which proxies pods/log to KWOK)."""

from __future__ import annotations

import datetime as dt

import pytest
from kubernetes_asyncio import client

from mcp_k8s import errors, sandbox
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.pods import list_pods, pod_logs
from mcp_k8s.tools import hints
from mcp_k8s.tools.core import marked_text
from tests.plugins.kwok import MakePods

pytestmark = pytest.mark.anyio


async def test_pods_on_a_kwok_node_reach_running(
    kube: KubeClient, admin: client.ApiClient, namespace: str, kwok_node: str, make_pods: MakePods
) -> None:
    await make_pods("web-1", "web-2", labels={"app": "web"})
    await make_pods("worker", containers=("app", "sidecar"), crash_loop="sidecar")
    await client.CoreV1Api(admin).create_namespaced_pod(  # no node it tolerates: nothing will ever start it
        namespace, {"metadata": {"name": "unbound"}, "spec": {"containers": [{"name": "app", "image": "x"}]}}
    )

    page = await list_pods(kube, namespace)
    rows = {r.name: r for r in page.items}

    assert set(rows) == {"web-1", "web-2", "worker", "unbound"}
    web = rows["web-1"]
    assert (web.phase, web.ready, web.restarts, web.node, web.reason) == ("Running", "1/1", 0, kwok_node, None)
    assert web.namespace == namespace
    assert web.age is not None
    worker = rows["worker"]
    assert (worker.phase, worker.ready) == ("Running", "1/2")
    assert worker.restarts >= 1  # KWOK's restart stage keeps raising it
    assert worker.reason is not None
    assert worker.reason.startswith("sidecar: CrashLoopBackOff")
    assert "last exit 1 (Error)" in worker.reason
    unbound = rows["unbound"]  # it tolerates no KWOK taint: the scheduler finds no node for it
    assert (unbound.phase, unbound.node) == ("Pending", None)
    assert unbound.reason is not None
    assert unbound.reason == "Not scheduled to a node yet" or unbound.reason.startswith("Unschedulable: ")


async def test_pod_selectors_and_paging(kube: KubeClient, namespace: str, kwok_node: str, make_pods: MakePods) -> None:
    await make_pods("a-1", "a-2", "a-3", labels={"tier": "a"})
    await make_pods("b-1", labels={"tier": "b"})

    by_label = await list_pods(kube, namespace, label_selector="tier=a")
    assert sorted(r.name for r in by_label.items) == ["a-1", "a-2", "a-3"]
    by_field = await list_pods(kube, namespace, field_selector=f"spec.nodeName={kwok_node},metadata.name=b-1")
    assert [r.name for r in by_field.items] == ["b-1"]

    first = await list_pods(kube, namespace, limit=3)
    assert len(first.items) == 3
    assert first.continue_token
    assert first.remaining == 1
    rest = await list_pods(kube, namespace, limit=3, continue_token=first.continue_token)
    assert len(rest.items) == 1
    assert rest.continue_token is None
    assert {r.name for r in first.items + rest.items} == {"a-1", "a-2", "a-3", "b-1"}


async def test_logs_tail_since_previous(
    kube: KubeClient, namespace: str, kwok: sandbox.Kwok, make_pods: MakePods
) -> None:
    await make_pods("logger")
    hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    kwok.write_logs([(hours_ago, "old 1"), (hours_ago, "old 2"), "new 1", "new 2", "new 3"], container="app")
    kwok.write_logs(["panic: the previous run died"], container="app", previous=True)

    everything = await pod_logs(kube, namespace, "logger")
    assert everything.container == "app"
    assert everything.text == "old 1\nold 2\nnew 1\nnew 2\nnew 3\n"
    assert not everything.truncated

    tail = await pod_logs(kube, namespace, "logger", tail_lines=2)
    assert tail.text == "new 2\nnew 3\n"

    recent = await pod_logs(kube, namespace, "logger", since_seconds=600)
    assert recent.text == "new 1\nnew 2\nnew 3\n"

    both = await pod_logs(kube, namespace, "logger", since_seconds=600, tail_lines=1)
    assert both.text == "new 3\n"

    previous = await pod_logs(kube, namespace, "logger", previous=True)
    assert (previous.previous, previous.text) == (True, "panic: the previous run died\n")


async def test_log_byte_cap_keeps_the_newest_lines(
    kube: KubeClient, namespace: str, kwok: sandbox.Kwok, make_pods: MakePods
) -> None:
    await make_pods("chatty")
    lines = [f"line {i:04d} " + "x" * 20 for i in range(100)]  # 31 bytes each with the newline
    kwok.write_logs(lines, container="app")

    capped = await pod_logs(kube, namespace, "chatty", limit_bytes=100)

    assert capped.truncated
    marker, _, body = marked_text(capped).partition("\n")
    assert marker.startswith("[truncated: ")
    assert body == "".join(f"{line}\n" for line in lines[-3:])  # whole lines only: 93 of the 100 bytes
    assert capped.omitted_bytes == 31 * 100 - 93
    assert f"{capped.omitted_bytes} earlier bytes" in marker


async def test_log_window_larger_than_one_fetch_is_reread_from_its_end(
    kube: KubeClient, namespace: str, kwok: sandbox.Kwok, make_pods: MakePods
) -> None:
    await make_pods("flood")
    lines = [f"entry {i:06d} " + "y" * 87 for i in range(3_000)]  # 100 bytes a line, 300 kB: > the 64 kB fetch
    kwok.write_logs(lines, container="app")

    capped = await pod_logs(kube, namespace, "flood", limit_bytes=1_000)

    assert capped.truncated
    assert capped.omitted_bytes is None  # the total is not known without reading it all
    body = capped.text
    assert body.endswith(f"{lines[-1]}\n")
    assert len(body.encode()) <= 1_000
    assert body.splitlines() == lines[-len(body.splitlines()) :]


async def test_multi_container_pod_needs_a_container(
    kube: KubeClient, namespace: str, kwok: sandbox.Kwok, make_pods: MakePods
) -> None:
    await make_pods("two", containers=("app", "sidecar"))
    kwok.write_logs(["from the sidecar"], container="sidecar")

    with pytest.raises(errors.InvalidInput) as err:
        await pod_logs(kube, namespace, "two")
    assert hints.sentence(err.value) == (
        f'Pod "two" in namespace "{namespace}" has 2 containers: app, sidecar; pass container= one of them.'
    )
    sidecar = await pod_logs(kube, namespace, "two", container="sidecar")
    assert sidecar.text == "from the sidecar\n"
    with pytest.raises(errors.InvalidInput) as err:
        await pod_logs(kube, namespace, "two", container="nope")
    assert 'has no container "nope"; its containers are app, sidecar' in str(err.value)


async def test_logs_of_a_missing_pod(kube: KubeClient, namespace: str) -> None:
    with pytest.raises(errors.NotFound) as err:
        await pod_logs(kube, namespace, "ghost")
    assert str(err.value).startswith(f'Pod "ghost" in namespace "{namespace}" was not found;')
