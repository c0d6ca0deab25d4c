"""The policy gate without a cluster: what a request is (parsed from method + path) and what the rules decide."""

from __future__ import annotations

import base64

import pytest

from mcp_k8s import errors, policy
from mcp_k8s.logging import scrub
from mcp_k8s.policy import Caller, Policy, Request
from mcp_k8s.settings import Settings

TOOL = policy.Scope(tool="list_custom_resources")
SECRET_TOOL = policy.Scope(tool="get_secret", secrets=True)


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/namespaces/a/pods", (), ("list", "", "pods", "", "a", None)),
        ("GET", "/api/v1/namespaces/a/pods", (("watch", "true"),), ("watch", "", "pods", "", "a", None)),
        ("GET", "/api/v1/namespaces/a/pods/p1/log", (), ("get", "", "pods", "log", "a", "p1")),
        ("GET", "/apis/example.com/v1/widgets", (), ("list", "example.com", "widgets", "", None, None)),
        (
            "PATCH",
            "/apis/example.com/v1/namespaces/b/widgets/w/status",
            (),
            ("patch", "example.com", "widgets", "status", "b", "w"),
        ),
        ("DELETE", "/api/v1/namespaces/a/secrets", (), ("deletecollection", "", "secrets", "", "a", None)),
        ("POST", "/api/v1/namespaces", (), ("create", "", "namespaces", "", None, None)),
        ("GET", "/api/v1/namespaces/a", (), ("get", "", "namespaces", "", "a", "a")),
        ("PUT", "/api/v1/namespaces/a/finalize", (), ("update", "", "namespaces", "finalize", "a", "a")),
        ("GET", "/api/v1/nodes/n1", (), ("get", "", "nodes", "", None, "n1")),
        ("GET", "/api/v1/namespaces/a/secrets/na%2Dme", (), ("get", "", "secrets", "", "a", "na-me")),
    ],
)
def test_parse(method: str, path: str, query: tuple[tuple[str, str], ...], expected: tuple[object, ...]) -> None:
    r = Request.parse(method, path, query)
    assert (r.verb, r.group, r.resource, r.subresource, r.namespace, r.name) == expected


@pytest.mark.parametrize(
    "path", ["/api", "/apis", "/apis/example.com", "/apis/example.com/v1", "/version", "/openapi/v3"]
)
def test_non_resource_paths(path: str) -> None:
    assert not Request.parse("GET", path).is_resource


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/a/pods/../../b/secrets",  # dot segments a client library would normalise away
        "/api/v1/namespaces/a/pods/%2E%2E",
        "/api/v1/namespaces/a/pods/x%2Fy",  # an encoded slash
        "/api/v1/namespaces/a//pods",
        "/api/v1/namespaces/a/pods/p/log/extra",
        "/api/v1/namespaces/Bad_NS/pods",
    ],
)
def test_malformed_paths_refused(path: str) -> None:
    with pytest.raises(errors.NotAllowed):
        Request.parse("GET", path)


def check(settings: Settings, method: str, path: str, scope: policy.Scope = TOOL, body: object = None) -> None:
    gate = Policy(settings)
    gate.learn_scopes([("", "nodes", False), ("", "pods", True), ("example.com", "widgets", True)])
    gate.check(Request.parse(method, path), scope, body)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/secrets", "/api/v1/namespaces/a/secrets", "/api/v1/namespaces/a/secrets/s1"],
)
def test_secrets_only_for_the_secret_toolset(path: str) -> None:
    with pytest.raises(errors.NotAllowed) as err:
        check(Settings(), "GET", path)
    assert "secret tools" in err.value.message
    with pytest.raises(errors.NotAllowed):
        check(Settings(), "GET", path, policy.SERVER)  # the server's own work (reflectors) too
    check(Settings(), "GET", path, SECRET_TOOL)


def test_secrets_by_other_groups_are_other_types() -> None:
    # A CRD named secrets in another group is not core/v1 Secret.
    check(Settings(), "GET", "/apis/example.com/v1/namespaces/a/secrets")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_read_only_refuses_every_write(method: str) -> None:
    with pytest.raises(errors.NotAllowed) as err:
        check(Settings(read_only=True), method, "/apis/example.com/v1/namespaces/a/widgets/w")
    assert "read-only" in err.value.message
    with pytest.raises(errors.NotAllowed):
        check(Settings(read_only=True), method, "/api/v1/namespaces/a/secrets/s", SECRET_TOOL)


def test_read_only_lets_reviews_through() -> None:
    check(Settings(read_only=True), "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    check(Settings(read_only=True), "POST", "/apis/authentication.k8s.io/v1/tokenreviews")


def test_allowed_namespaces() -> None:
    settings = Settings(allowed_namespaces=("a", "b"))
    check(settings, "GET", "/api/v1/namespaces/a/pods")
    for path in ("/api/v1/namespaces/c/pods", "/api/v1/pods", "/apis/example.com/v1/widgets", "/api/v1/namespaces/c"):
        with pytest.raises(errors.NotAllowed) as err:
            check(settings, "GET", path)
        assert "a, b" in err.value.message
    check(settings, "GET", "/api/v1/nodes")  # cluster-scoped types are not in a namespace
    check(settings, "GET", "/api/v1/namespaces")  # listing namespaces: the tool filters to the allowed set


def test_body_cannot_name_another_namespace() -> None:
    body = {"metadata": {"name": "w", "namespace": "b"}}
    with pytest.raises(errors.NotAllowed) as err:
        check(Settings(), "PATCH", "/apis/example.com/v1/namespaces/a/widgets/w", body=body)
    assert "cannot move" in err.value.message
    check(Settings(), "PATCH", "/apis/example.com/v1/namespaces/a/widgets/w", body={"metadata": {"namespace": "a"}})


@pytest.mark.parametrize(
    ("deny", "path", "refused"),
    [
        ("nodes", "/api/v1/nodes", True),
        ("nodes", "/api/v1/namespaces/a/pods", False),
        ("rbac.authorization.k8s.io/*", "/apis/rbac.authorization.k8s.io/v1/clusterroles", True),
        ("widgets.example.com", "/apis/example.com/v1/namespaces/a/widgets/w", True),
        ("widgets.example.com", "/apis/other.io/v1/namespaces/a/widgets/w", False),
        ("*/widgets", "/apis/other.io/v1/namespaces/a/widgets/w", True),
        ("core/configmaps", "/api/v1/namespaces/a/configmaps", True),
    ],
)
def test_deny_resources(deny: str, path: str, refused: bool) -> None:
    settings = Settings(deny_resources=(deny,))
    if refused:
        with pytest.raises(errors.NotAllowed) as err:
            check(settings, "GET", path)
        assert "--deny-resources" in err.value.message
    else:
        check(settings, "GET", path)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/a/pods/p/exec",
        "/api/v1/namespaces/a/pods/p/attach",
        "/api/v1/namespaces/a/pods/p/portforward",
        "/api/v1/nodes/n/proxy",
        "/api/v1/namespaces/a/serviceaccounts/default/token",
    ],
)
def test_dangerous_subresources_never(path: str) -> None:
    with pytest.raises(errors.NotAllowed):
        check(Settings(), "POST", path, SECRET_TOOL)


def test_secret_answers_blanked_and_registered() -> None:
    value = "Zq9-blank-me-7f3c1e"
    encoded = base64.b64encode(value.encode()).decode()
    answer = {
        "kind": "Secret",
        "data": {"password": encoded},
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": encoded}},
    }
    treated = Policy(Settings()).treat_secret_answer(answer)
    blanked = treated["data"]["password"]
    assert len(blanked) == len(encoded)
    assert set(blanked.rstrip("=")) == {"A"}
    assert treated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == ""
    assert value not in scrub(f"copy: {value} / {encoded}")
    assert encoded not in scrub(f"copy: {value} / {encoded}")
    # Allowed values stay (get_secret with --allow-secret-values decodes them), still registered for the scrubber.
    kept = Policy(Settings(allow_secret_values=True)).treat_secret_answer(
        {"kind": "SecretList", "items": [{"kind": "Secret", "data": {"k": encoded}}]}
    )
    assert kept["items"][0]["data"]["k"] == encoded


def test_name_like_values_are_not_registered() -> None:
    plain = "team-namespace-x"
    Policy(Settings()).treat_secret_answer(
        {"kind": "Secret", "data": {"namespace": base64.b64encode(plain.encode()).decode()}}
    )
    assert scrub(f"namespace {plain}") == f"namespace {plain}"


def test_acting_scopes_nest_and_server_drops_the_caller() -> None:
    caller = Caller(user="alice", groups=("devs",))
    with policy.acting(caller=caller), policy.acting(tool="t", secrets=True):
        assert policy.current() == policy.Scope(tool="t", secrets=True, caller=caller)
        with policy.as_server():
            assert policy.current() == policy.SERVER
    assert policy.current() == policy.SERVER


def test_impersonation_headers_repeat_groups() -> None:
    caller = Caller(user="system:serviceaccount:a:b", groups=("g1", "g2"), uid="u", extra={"scopes.x/y": ("v",)})
    assert caller.impersonation_headers() == [
        ("Impersonate-User", "system:serviceaccount:a:b"),
        ("Impersonate-Group", "g1"),
        ("Impersonate-Group", "g2"),
        ("Impersonate-Uid", "u"),
        ("Impersonate-Extra-scopes.x%2Fy", "v"),
    ]


def test_settings_refuse_exposed_http_without_auth() -> None:
    with pytest.raises(ValueError, match="without authentication"):
        Settings(transport="http", host="0.0.0.0")  # noqa: S104
    with pytest.raises(ValueError, match="without authentication"):
        Settings(http_address="0.0.0.0:8080")
    Settings(transport="http", host="127.0.0.1")
    Settings(transport="http", host="0.0.0.0", insecure_no_auth=True)  # noqa: S104
    with pytest.raises(ValueError, match="impersonate"):
        Settings(impersonate=True)
