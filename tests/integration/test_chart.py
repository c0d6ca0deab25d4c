"""The Helm chart, rendered by a real helm: lint, RBAC identical to `mcp-k8s rbac` for the same configuration, the
plain manifests up to date, and every rendered object accepted by the real API server (server-side dry run)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from mcp_k8s.rbac import manifest
from mcp_k8s.settings import Settings
from tests.cluster import TestCluster
from tests.deploy.generate import CHART, MANIFEST_FILE, MANIFEST_NAMESPACE, REGENERATE, manifest_text
from tests.deploy.helm import RENDER_FOR, helm
from tests.kube import create_namespace, delete_namespace

pytestmark = pytest.mark.anyio

WIDGETS = "widgets.example.com/v1"
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")


def value_sets(namespace: str, other: str) -> dict[str, dict[str, Any]]:
    """Several configurations, covering every value the chart turns into a flag or an object."""
    return {
        "default": {"watch": [WIDGETS]},
        "read-only-namespaced": {
            "watch": [WIDGETS, "gadgets.example.com"],
            "readOnly": True,
            "allowedNamespaces": [namespace, other],
        },
        "token-file-replicated": {
            "watch": [WIDGETS],
            "auth": {"mode": "token-file", "tokenFile": {"secretName": "mcp-tokens", "key": "tokens"}},
            "replicas": 3,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
            "topologySpread": {"enabled": True},
            "service": {"type": "NodePort"},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            "extraArgs": ["--output-budget=48000"],
            "denyResources": ["nodes"],
        },
        "impersonating": {
            "watch": [WIDGETS, "configmaps"],
            "auth": {"mode": "kubernetes", "audiences": ["mcp-k8s"], "impersonate": True},
            "allowSecretValues": True,
            "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
        },
        "no-auth": {"watch": [WIDGETS], "auth": {"mode": "none"}, "probes": {"startup": None}},
    }


def render(values: dict[str, Any], namespace: str, tmp_path: Path, release: str = "mcp") -> list[dict[str, Any]]:
    path = tmp_path / f"values-{release}.yaml"
    path.write_text(yaml.safe_dump(values))
    out = helm("template", release, str(CHART), "--namespace", namespace, "--values", str(path), *RENDER_FOR).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def settings_for(values: dict[str, Any]) -> Settings:
    """The Settings the pod's flags amount to, for `mcp-k8s rbac`'s generator."""
    auth = values.get("auth", {})
    mode = auth.get("mode", "kubernetes")
    return Settings(
        watch=tuple(values.get("watch", ())),
        allowed_namespaces=tuple(values.get("allowedNamespaces", ())),
        read_only=values.get("readOnly", False),
        auth=None if mode == "none" else mode,
        auth_token_file=Path("/etc/mcp-k8s/auth/tokens") if mode == "token-file" else None,
        impersonate=auth.get("impersonate", False),
    )


def rbac_shape(docs: list[dict[str, Any]]) -> Counter[str]:
    """RBAC objects without names or labels: kind, namespace, the set of rules, who is bound to what."""
    shape: Counter[str] = Counter()
    for doc in docs:
        if doc["kind"] not in RBAC_KINDS:
            continue
        body: Any
        if "rules" in doc:
            body = sorted(json.dumps({k: sorted(v) for k, v in rule.items()}, sort_keys=True) for rule in doc["rules"])
        else:
            body = {"roleRef": doc["roleRef"]["kind"], "subjects": doc["subjects"]}
        shape[json.dumps([doc["kind"], doc["metadata"].get("namespace"), body], sort_keys=True)] += 1
    return shape


def container_args(docs: list[dict[str, Any]]) -> list[str]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_plain_manifests_are_up_to_date() -> None:
    assert MANIFEST_FILE.read_text() == manifest_text(), f"deploy/manifests is stale: run `{REGENERATE}`"


def test_helm_lint(tmp_path: Path) -> None:
    for name, values in value_sets("team-a", "team-b").items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(values))
        result = helm("lint", "--strict", str(CHART), "--values", str(path), *RENDER_FOR, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_chart_rbac_is_the_generators(tmp_path: Path) -> None:
    for name, values in value_sets("team-a", "team-b").items():
        docs = render(values, "platform", tmp_path, release="mcp-k8s")
        generated = [
            d
            for d in yaml.safe_load_all(manifest(settings_for(values), service_account="mcp-k8s", namespace="platform"))
            if d
        ]
        assert rbac_shape(docs) == rbac_shape(generated), name
        sa = [d for d in docs if d["kind"] == "ServiceAccount"]
        assert [(d["metadata"]["name"], d["metadata"]["namespace"]) for d in sa] == [("mcp-k8s", "platform")]


def test_flags_follow_the_values(tmp_path: Path) -> None:
    sets = value_sets("team-a", "team-b")
    args = {name: container_args(render(values, "platform", tmp_path)) for name, values in sets.items()}
    # Both listeners on the pod's addresses: the Service reaches MCP, the kubelet's probes reach health.
    assert args["default"][:4] == ["watch", "--http=0.0.0.0:8080", "--health-port=8081", "--health-host=0.0.0.0"]
    assert "--auth=kubernetes" in args["default"]
    assert "--read-only" in args["read-only-namespaced"]
    assert "--allowed-namespaces=team-a,team-b" in args["read-only-namespaced"]
    assert "--watch=gadgets.example.com" in args["read-only-namespaced"]
    assert "--auth-token-file=/etc/mcp-k8s/auth/tokens" in args["token-file-replicated"]
    assert "--deny-resources=nodes" in args["token-file-replicated"]
    assert args["token-file-replicated"][-1] == "--output-budget=48000"
    assert {"--impersonate", "--auth-audience=mcp-k8s", "--allow-secret-values"} <= set(args["impersonating"])
    assert "--insecure-no-auth" in args["no-auth"]

    replicated = render(sets["token-file-replicated"], "platform", tmp_path)
    deployment = next(d for d in replicated if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    assert next(d for d in replicated if d["kind"] == "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    assert next(d for d in replicated if d["kind"] == "Service")["spec"]["type"] == "NodePort"
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {v["name"] for v in pod["volumes"]} == {"tmp", "auth-tokens"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "watch: list at least one custom resource type"),
        (
            {"watch": [WIDGETS], "auth": {"mode": "oidc"}},
            'auth.mode must be kubernetes, token-file or none, not "oidc"',
        ),
        ({"watch": [WIDGETS], "auth": {"mode": "token-file"}}, "auth.tokenFile.secretName is required"),
    ],
)
def test_bad_values_fail_with_one_sentence(values: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = helm("template", "mcp", str(CHART), "--values", str(path), *RENDER_FOR, check=False)
    assert result.returncode != 0
    assert message in result.stderr


async def dry_run_apply(api: client.ApiClient, doc: dict[str, Any]) -> None:
    """`kubectl apply --server-side --dry-run=server` of one object: admission, validation, defaulting, no write."""
    group_version = doc["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    found = await api.call_api(
        base, "GET", response_types_map={200: "object"}, auth_settings=["BearerToken"], _return_http_data_only=True
    )
    resource = next(r for r in found["resources"] if r["kind"] == doc["kind"] and "/" not in r["name"])
    namespace = doc["metadata"].get("namespace")
    path = (
        f"{base}/namespaces/{namespace}/{resource['name']}" if resource["namespaced"] else f"{base}/{resource['name']}"
    )
    try:
        await api.call_api(
            f"{path}/{doc['metadata']['name']}",
            "PATCH",
            query_params=[("dryRun", "All"), ("fieldManager", "mcp-k8s-chart-test"), ("force", "true")],
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=doc,
            auth_settings=["BearerToken"],
            response_types_map={200: "object", 201: "object"},
            _return_http_data_only=True,
        )
    except ApiException as exc:
        raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} rejected: {exc.status} {exc.body}") from None


async def test_every_rendered_object_is_accepted(admin: client.ApiClient, namespace: str, tmp_path: Path) -> None:
    other = await create_namespace(admin, "chart-other")
    try:
        kinds: Counter[str] = Counter()
        for name, values in value_sets(namespace, other).items():
            for doc in render(values, namespace, tmp_path, release=f"r-{name}"):
                await dry_run_apply(admin, doc)
                kinds[doc["kind"]] += 1
        assert set(kinds) == {
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
        }
    finally:
        await delete_namespace(admin, other)


async def test_plain_manifests_are_accepted(admin: client.ApiClient) -> None:
    docs = [d for d in yaml.safe_load_all(MANIFEST_FILE.read_text()) if d]
    assert docs[0]["kind"] == "Namespace"
    assert docs[0]["metadata"]["name"] == MANIFEST_NAMESPACE
    try:
        await client.CoreV1Api(admin).create_namespace({"metadata": {"name": MANIFEST_NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    for doc in docs:
        await dry_run_apply(admin, doc)


async def test_helm_installs_and_uninstalls(
    cluster: TestCluster, admin: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """A real `helm install` against the API server (no kubelet runs the pod here; kind does that), then uninstall."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"watch": [WIDGETS], "allowedNamespaces": [namespace]}))
    target = ("--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace)
    release = f"mcp-{namespace}"[:53]
    helm("install", release, str(CHART), *target, "--values", str(path))
    try:
        name = f"{release}-mcp-k8s"
        deployment = await client.AppsV1Api(admin).read_namespaced_deployment(name, namespace)
        assert deployment.spec.template.spec.service_account_name == name
        role = await client.RbacAuthorizationV1Api(admin).read_namespaced_role(name, namespace)
        assert {r.resources[0] for r in role.rules} >= {"widgets", "widgets/status", "secrets"}
        listed = helm("list", *target, "--output", "json").stdout
        assert [(r["name"], r["status"]) for r in json.loads(listed)] == [(release, "deployed")]
    finally:
        helm("uninstall", release, *target, "--wait")
    with pytest.raises(ApiException) as gone:
        await client.AppsV1Api(admin).read_namespaced_deployment(f"{release}-mcp-k8s", namespace)
    assert gone.value.status == 404
