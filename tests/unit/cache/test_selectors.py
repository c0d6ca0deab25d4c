"""Label and field selectors: the apiserver's syntax and semantics, and one clear sentence for bad input."""

from __future__ import annotations

import pytest

from mcp_k8s import errors
from mcp_k8s.cache.selectors import UnsupportedFieldSelector, parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "front", "example.com/team": "a", "n": "5", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app = web", True),
        ("app=db", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (db,web)", True),
        ("app in (db)", False),
        ("missing in (x)", False),
        ("app notin (db, api)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("example.com/team=a", True),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app=web, !missing, tier in (front)", True),
        ("n>4", True),
        ("n<5", False),
        ("app>1", False),
        ("empty=", True),
        ("empty in (a,)", True),
        ("empty in ()", True),
    ],
)
def test_label_selector_matches_like_the_apiserver(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize(
    "selector",
    [
        "app=web=x",
        "app in web",
        "app in (a b)",
        "=web",
        "app=web,",
        "app web",
        "!",
        "-bad=x",
        "Example.COM/x=y",
        "app=" + "v" * 64,
        "a in (x",
        "n>x",
    ],
)
def test_bad_label_selectors_raise_one_sentence(selector: str) -> None:
    with pytest.raises(errors.InvalidInput) as err:
        parse_label_selector(selector)
    message = str(err.value)
    assert message.startswith("label_selector ")
    assert message.count(". ") == 0
    assert message.endswith(".")


def test_field_selectors() -> None:
    obj = {"metadata": {"name": "w1", "namespace": "ns"}}
    assert parse_field_selector("metadata.name=w1").matches_object(obj)
    assert parse_field_selector("metadata.name==w1,metadata.namespace=ns").matches_object(obj)
    assert not parse_field_selector("metadata.name!=w1").matches_object(obj)
    assert parse_field_selector("metadata.namespace=ns").value_of("metadata.namespace") == "ns"
    assert parse_field_selector("metadata.namespace!=ns").value_of("metadata.namespace") is None
    with pytest.raises(UnsupportedFieldSelector, match=r"metadata\.name and metadata\.namespace"):
        parse_field_selector("status.phase=Running")
    with pytest.raises(errors.InvalidInput, match="field=value"):
        parse_field_selector("metadata.name")
