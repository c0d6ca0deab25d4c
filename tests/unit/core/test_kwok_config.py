"""The KWOK pieces of the sandbox that need no process: its config file, the CRI log format, the manifests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from mcp_k8s import sandbox
from mcp_k8s.sandbox.kwok import kwok_config


def test_config_has_our_stages_and_a_cluster_logs_per_container(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(kwok_config(tmp_path, ("app", "sidecar"))))
    stages = [d["metadata"]["name"] for d in docs if d["kind"] == "Stage"]
    assert stages == ["node-ready", "pod-running", "pod-crash-loop", "pod-crash-loop-restart", "pod-delete"]
    (logs,) = [d for d in docs if d["kind"] == "ClusterLogs"]
    assert logs["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
    assert logs["spec"]["logs"] == [
        {"logsFile": f"{tmp_path}/app.log", "previousLogsFile": f"{tmp_path}/app.previous.log", "containers": ["app"]},
        {
            "logsFile": f"{tmp_path}/sidecar.log",
            "previousLogsFile": f"{tmp_path}/sidecar.previous.log",
            "containers": ["sidecar"],
        },
        {"logsFile": f"{tmp_path}/default.log", "previousLogsFile": f"{tmp_path}/default.previous.log"},
    ]


def test_write_logs_uses_the_cri_format(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    kwok = sandbox.Kwok(
        workdir=tmp_path, port=1, log_containers=("app",), _process=sandbox.Process("kwok", [], tmp_path / "k.log")
    )
    at = dt.datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=dt.UTC)
    path = kwok.write_logs([(at, "first"), "second"], container="app")
    assert path == tmp_path / "logs" / "app.log"
    first, second = path.read_text().splitlines()
    assert first == "2026-01-02T03:04:05.600000Z stdout F first"
    assert second.endswith("Z stdout F second")
    assert kwok.write_logs(["x"], container="other", previous=True) == tmp_path / "logs" / "default.previous.log"


def test_manifests_bind_to_the_fake_node() -> None:
    node = sandbox.kwok_node("n1", labels={"zone": "a"})
    assert node["metadata"]["annotations"][sandbox.KWOK_NODE_ANNOTATION] == sandbox.KWOK_NODE_VALUE
    assert node["metadata"]["labels"]["zone"] == "a"
    assert node["spec"]["taints"] == [sandbox.KWOK_TAINT]
    pod = sandbox.kwok_pod("p", "n1", containers=("app", "sidecar"), labels={"app": "x"}, crash_loop="sidecar")
    assert pod["spec"]["nodeName"] == "n1"
    assert pod["spec"]["tolerations"] == [{**sandbox.KWOK_TAINT, "operator": "Equal"}]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app", "sidecar"]
    assert pod["metadata"]["labels"] == {"app": "x", sandbox.CRASH_LOOP_LABEL: "sidecar"}
