"""Resolving what a user typed to a resource type, the way kubectl does."""

from __future__ import annotations

import pytest

from mcp_k8s import errors
from mcp_k8s.kube.discovery import ResourceType, _from_aggregated, _match

AGGREGATED = {
    "kind": "APIGroupDiscoveryList",
    "items": [
        {
            "metadata": {"name": ""},
            "versions": [
                {
                    "version": "v1",
                    "resources": [
                        {
                            "resource": "pods",
                            "responseKind": {"kind": "Pod"},
                            "scope": "Namespaced",
                            "singularResource": "pod",
                            "shortNames": ["po"],
                            "verbs": ["get", "list"],
                            "subresources": [{"subresource": "log"}],
                        },
                        {
                            "resource": "events",
                            "responseKind": {"kind": "Event"},
                            "scope": "Namespaced",
                            "singularResource": "event",
                            "shortNames": ["ev"],
                            "verbs": ["list"],
                        },
                        {
                            "resource": "namespaces",
                            "responseKind": {"kind": "Namespace"},
                            "scope": "Cluster",
                            "singularResource": "namespace",
                            "shortNames": ["ns"],
                        },
                    ],
                }
            ],
        },
        {
            "metadata": {"name": "events.k8s.io"},
            "versions": [
                {
                    "version": "v1",
                    "resources": [
                        {
                            "resource": "events",
                            "responseKind": {"kind": "Event"},
                            "scope": "Namespaced",
                            "singularResource": "event",
                            "shortNames": ["ev"],
                        },
                    ],
                }
            ],
        },
        {
            "metadata": {"name": "example.com"},
            "versions": [
                {
                    "version": "v1",
                    "resources": [
                        {
                            "resource": "widgets",
                            "responseKind": {"kind": "Widget"},
                            "scope": "Namespaced",
                            "singularResource": "widget",
                            "shortNames": ["wg"],
                            "subresources": [{"subresource": "status"}],
                        }
                    ],
                },
                {
                    "version": "v1beta1",
                    "resources": [
                        {
                            "resource": "widgets",
                            "responseKind": {"kind": "Widget"},
                            "scope": "Namespaced",
                            "singularResource": "widget",
                            "shortNames": ["wg"],
                        }
                    ],
                },
            ],
        },
        {
            "metadata": {"name": "other.io"},
            "versions": [
                {
                    "version": "v2",
                    "resources": [
                        {
                            "resource": "widgets",
                            "responseKind": {"kind": "Widget"},
                            "scope": "Cluster",
                            "singularResource": "widget",
                        },
                        {
                            "resource": "gadgets",
                            "responseKind": {"kind": "Gadget"},
                            "scope": "Cluster",
                            "singularResource": "gadget",
                            "shortNames": ["gd"],
                        },
                    ],
                }
            ],
        },
    ],
}
TYPES = _from_aggregated(AGGREGATED)


def pick(name: str, group: str | None = None, version: str | None = None) -> ResourceType | None:
    return _match(TYPES, name, group, version)


@pytest.mark.parametrize(
    "name",
    ["gadgets", "gadget", "Gadget", "gd", "GADGETS", "gadgets.other.io", "gadgets.v2.other.io", "gadgets.other.io/v2"],
)
def test_every_name_form_resolves(name: str) -> None:
    found = pick(name)
    assert found is not None
    assert (found.group, found.version, found.plural) == ("other.io", "v2", "gadgets")
    assert not found.namespaced


def test_preferred_version_unless_asked() -> None:
    assert pick("wg", "example.com").version == "v1"  # type: ignore[union-attr]
    assert pick("wg", "example.com", "v1beta1").version == "v1beta1"  # type: ignore[union-attr]
    assert pick("wg", "example.com", "v9") is None
    assert pick("widgets.v1beta1.example.com").version == "v1beta1"  # type: ignore[union-attr]


def test_core_group_wins_ties_like_kubectl() -> None:
    assert pick("events").group == ""  # type: ignore[union-attr]
    assert pick("ev").group == ""  # type: ignore[union-attr]
    assert pick("events", "events.k8s.io").group == "events.k8s.io"  # type: ignore[union-attr]


def test_ambiguous_custom_types_need_a_group() -> None:
    with pytest.raises(errors.InvalidInput) as err:
        pick("widget")
    assert "widgets.example.com" in err.value.message
    assert "widgets.other.io" in err.value.message


def test_subresources_recorded_and_paths() -> None:
    widget = pick("widgets", "example.com")
    assert widget is not None
    assert widget.subresources == ("status",)
    assert widget.path("ns", "w1", "status") == "/apis/example.com/v1/namespaces/ns/widgets/w1/status"
    assert pick("pods").path("ns") == "/api/v1/namespaces/ns/pods"  # type: ignore[union-attr]
    assert pick("ns").path("ignored", "x") == "/api/v1/namespaces/x"  # type: ignore[union-attr]
    assert widget.display == "widgets.example.com/v1"


def test_unknown_returns_none() -> None:
    assert pick("nothing") is None
