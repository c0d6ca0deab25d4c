"""Answer shaping: stripping, summaries, budgets, projections, continue tokens."""

from __future__ import annotations

import datetime as dt

import pytest

from mcp_k8s import errors, output
from mcp_k8s.objects import LAST_APPLIED, age, age_of_seconds

OBJ = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w1",
        "namespace": "ns",
        "resourceVersion": "42",
        "creationTimestamp": "2020-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}] * 20,
        "annotations": {LAST_APPLIED: '{"big": "copy"}', "keep": "me"},
    },
    "spec": {"size": 3},
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Broken", "message": "disk full"},
            {"type": "Synced", "status": "True", "reason": "Ok", "message": "all fine"},
        ],
    },
}


def test_strip_removes_noise_keeps_the_rest() -> None:
    stripped = output.strip_object(OBJ)
    assert "managedFields" not in stripped["metadata"]
    assert stripped["metadata"]["annotations"] == {"keep": "me"}
    assert "managedFields" in OBJ["metadata"]  # the input is not mutated


def test_summary_keeps_messages_only_when_unhealthy() -> None:
    s = output.summarize(OBJ)
    assert s.name == "w1"
    assert s.phase == "Running"
    assert s.age is not None
    assert s.age.endswith("d")
    ready, synced = s.conditions
    assert ready.message == "disk full"
    assert synced.message is None


def test_fit_items_respects_budget_and_always_progresses() -> None:
    items = [{"n": "x" * 100}] * 50
    fit = output.fit_items(items, 1_000, 100, measure=output.size_of)
    assert 0 < fit < 50
    assert output.size_of(items[:fit]) + 100 <= 1_000
    assert output.fit_items([{"n": "x" * 5000}], 1_000, 100, measure=output.size_of) == 1


def test_shrink_object_reports_cut_paths() -> None:
    big = {"spec": {"blob": "z" * 50_000, "list": list(range(5000))}, "metadata": {"name": "a"}}
    shrunk, cut = output.shrink_object(big, 5_000)
    assert output.size_of(shrunk) <= 5_000
    assert "spec.blob" in cut
    assert shrunk["metadata"]["name"] == "a"


def test_project_selects_paths() -> None:
    projected = output.project(OBJ, ["spec", "status.phase", "missing.path"])
    assert projected["spec"] == {"size": 3}
    assert projected["status"] == {"phase": "Running"}
    assert projected["metadata"] == {"name": "w1", "namespace": "ns"}


def test_tokens_round_trip_and_reject_garbage() -> None:
    token = output.encode_token({"c": "abc", "s": 3})
    assert output.decode_token(token) == {"c": "abc", "s": 3}
    for bad in ("not-a-token", "W10=", "%%%"):
        with pytest.raises(errors.InvalidInput):
            output.decode_token(bad)


@pytest.mark.parametrize(
    "obj",
    [
        OBJ,
        {"metadata": {"name": "bare"}},
        {"metadata": {"name": "c", "namespace": ""}, "status": {"state": "Up", "conditions": "not a list"}},
        {
            "metadata": {"name": "many", "namespace": "n", "resourceVersion": "7"},
            "status": {
                "conditions": [
                    {"type": t, "status": s, "reason": "", "message": "m " * 200}
                    for t, s in [("Ready", "True"), ("Degraded", "True"), ("Custom", "False"), ("Failed", "False")]
                ]
                + [{"no": "type"}, "junk"]
            },
        },
    ],
)
def test_summary_rows_are_the_summary_model_without_age(obj: dict[str, object]) -> None:
    """Rows are built without the model (they are the hot part of a first read); they must say the same."""
    expected = output.summarize(obj).model_dump(exclude_none=True, exclude_defaults=True, exclude={"age"})
    row = output.summary_row(obj)
    assert {k: v for k, v in row.items() if k != "age"} == expected
    assert ("age" in row) == ("creationTimestamp" in obj["metadata"])  # type: ignore[operator]


def test_size_of_counts_utf8_bytes_as_sent() -> None:
    value = {"name": "größe", "n": 1, 3: [1.5, None, True]}
    assert output.size_of(value) == len('{"name":"größe","n":1,"3":[1.5,null,true]}'.encode())
    assert output.size_of({"big": 2**70}) == len('{"big":1180591620717411303424}')


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(-5, "0s"), (0, "0s"), (59.9, "59s"), (60, "1m"), (7199, "119m"), (7200, "2h"), (172799, "47h"), (172800, "2d")],
)
def test_age_from_epoch_seconds_is_age(seconds: float, expected: str) -> None:
    """Rows compute age from epoch seconds; it must read as `age` does from timestamps."""
    now = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    assert age_of_seconds(seconds) == expected
    assert age(now - dt.timedelta(seconds=seconds), now) == expected


def test_summary_row_says_what_kubectl_would() -> None:
    row = output.summary_row(OBJ)
    assert row.pop("age").endswith("d")
    assert row == {
        "name": "w1",
        "namespace": "ns",
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "Broken", "message": "disk full"},
            {"type": "Synced", "status": "True", "reason": "Ok"},
        ],
        "resource_version": "42",
    }


@pytest.mark.parametrize("columns", [(), (("size", ".spec.size"), ("ports", ".spec.ports[*].port"), ("gone", ".x"))])
def test_packed_rows_unpack_to_the_row_built_from_the_object(columns: tuple[tuple[str, str], ...]) -> None:
    """The watch cache answers pages from packed rows; they must read exactly as rows built from the object."""
    form = output.SummaryRows(columns)
    objects = [
        OBJ,
        {"metadata": {"name": "bare"}},
        {
            "metadata": {"name": "p", "namespace": "n", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"size": 3, "ports": [{"port": 80}, {"port": 443}]},
            "status": {"phase": "Up", "conditions": [{"type": "Ready", "status": "False", "message": "ünïcode"}]},
        },
    ]
    for obj in objects:
        assert form.unpack(form.pack(obj)) == output.summary_row(obj, columns) == form.row(obj)
    assert output.SummaryRows(columns) == form  # how the cache knows its packed rows answer this form
    assert output.SummaryRows((("other", ".spec"),)) != form
