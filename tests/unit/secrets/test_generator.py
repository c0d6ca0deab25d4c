"""Server-side value generation: lengths, alphabets, refusals, and that the draws look like a CSPRNG's."""

from __future__ import annotations

import math
import string
from collections import Counter

import pytest
from pydantic import ValidationError

from mcp_k8s import errors
from mcp_k8s.kube import secret_data
from mcp_k8s.kube.secret_data import ALPHABETS, entropy_bits, generate_value
from mcp_k8s.tools.secret_arguments import GenerateSpec, custom_alphabet, parse_change


@pytest.mark.parametrize("name", sorted(ALPHABETS))
@pytest.mark.parametrize("length", [8, 33, 4096])
def test_named_alphabets_give_the_requested_length_and_characters(name: str, length: int) -> None:
    value = generate_value(length, ALPHABETS[name])
    assert len(value) == length
    assert set(value) <= set(ALPHABETS[name])


def test_alphabets_are_what_their_names_say() -> None:
    assert ALPHABETS["hex"] == "0123456789abcdef"
    assert set(ALPHABETS["alphanumeric"]) == set(string.ascii_letters + string.digits)
    assert set(ALPHABETS["base64url"]) == set(string.ascii_letters + string.digits + "-_")
    assert ALPHABETS["numeric"] == string.digits
    printable = set(ALPHABETS["printable"])
    assert not printable & set(" \"'`\\\t\n")
    assert printable <= set(string.printable)
    assert len(printable) == 90
    for chars in ALPHABETS.values():
        assert len(set(chars)) == len(chars)


@pytest.mark.parametrize("length", [0, 7, 4097])
def test_length_out_of_bounds_is_refused(length: int) -> None:
    with pytest.raises(errors.InvalidInput, match="8 to 4096"):
        generate_value(length, ALPHABETS["hex"])
    with pytest.raises(ValidationError):
        GenerateSpec(key="k", length=length)


@pytest.mark.parametrize(
    ("characters", "message"),
    [
        ("", "empty"),
        ("abca", "repeats 'a'"),
        ("".join(chr(0x100 + i) for i in range(257)), "257 characters; the most is 256"),
        ("x", "one-character"),
        ("ab\x00", "unprintable"),
    ],
)
def test_bad_custom_alphabets_are_refused_clearly(characters: str, message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message) as caught:
        custom_alphabet(characters, "generate['pw']")
    assert caught.value.message.count(".") >= 1
    assert caught.value.message.startswith("generate['pw']")


def test_custom_alphabet_of_256_distinct_characters_is_accepted() -> None:
    chars = "".join(chr(0x100 + i) for i in range(256))
    assert custom_alphabet(chars) == chars
    value = generate_value(64, chars)
    assert len(value) == 64
    assert set(value) <= set(chars)


def test_spec_alphabet_resolution() -> None:
    assert GenerateSpec(key="k").resolve_alphabet() == ("alphanumeric", ALPHABETS["alphanumeric"])
    assert GenerateSpec(key="k", alphabet="hex").resolve_alphabet() == ("hex", "0123456789abcdef")
    assert GenerateSpec(key="k", characters="01").resolve_alphabet() == ("custom", "01")
    assert GenerateSpec(key="k", alphabet="custom", characters="xyz").resolve_alphabet() == ("custom", "xyz")
    with pytest.raises(errors.InvalidInput, match="both alphabet='hex' and characters"):
        GenerateSpec(key="k", alphabet="hex", characters="01").resolve_alphabet()
    with pytest.raises(errors.InvalidInput, match="pass its characters"):
        GenerateSpec(key="k", alphabet="custom").resolve_alphabet()


def test_values_come_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = secret_data.secrets.choice

    def spy(seq: str) -> str:
        calls.append(seq)
        return real(seq)

    monkeypatch.setattr(secret_data.secrets, "choice", spy)
    generate_value(16, "ab")
    assert calls == ["ab"] * 16


def test_draws_are_unique_and_uniform() -> None:
    """Entropy sanity, not a randomness proof: no repeats, and every symbol about equally frequent."""
    values = {generate_value(32, ALPHABETS["alphanumeric"]) for _ in range(2_000)}
    assert len(values) == 2_000
    counts = Counter("".join(generate_value(4096, ALPHABETS["hex"]) for _ in range(64)))
    total = 64 * 4096
    expected = total / 16
    assert set(counts) == set(ALPHABETS["hex"])
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < 60, chi2  # 15 degrees of freedom: p ≈ 1e-7 at 60, so a flake is practically impossible
    # Every position varies too (no fixed prefix or suffix).
    many = [generate_value(8, "01") for _ in range(400)]
    for position in range(8):
        assert {v[position] for v in many} == {"0", "1"}


def test_entropy_bits() -> None:
    assert entropy_bits(32, ALPHABETS["alphanumeric"]) == round(32 * math.log2(62), 1)
    assert entropy_bits(64, ALPHABETS["hex"]) == 256.0


def test_change_plans_generation_without_generating() -> None:
    change = parse_change(None, ["token", GenerateSpec(key="pin", length=8, alphabet="numeric")])
    assert [(p.key, p.length, p.alphabet) for p in change.planned] == [
        ("token", 32, "alphanumeric"),
        ("pin", 8, "numeric"),
    ]
    values, described = change.generate()
    assert len(values["token"]) == 32
    assert values["pin"].isdigit()
    assert [d.model_dump() for d in described] == [
        {"key": "token", "length": 32, "alphabet": "alphanumeric", "entropy_bits": 190.5},
        {"key": "pin", "length": 8, "alphabet": "numeric", "entropy_bits": 26.6},
    ]
    again, _ = change.generate()
    assert again["token"] != values["token"]


@pytest.mark.parametrize(
    ("data", "generate", "remove", "message"),
    [
        (None, ["a", "a"], (), "'a' more than once"),
        ({"a": "x-value"}, ["a"], (), "both data and generate"),
        ({"a": "x-value"}, [], ["a"], "both set and removed"),
        (None, ["b"], ["b"], "both set and removed"),
        (None, ["bad key"], (), "not valid"),
        (None, [], ["../x"], "not valid"),
    ],
)
def test_change_refuses_contradictions(
    data: dict[str, str] | None, generate: list[str], remove: list[str], message: str
) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        parse_change(data, generate, remove)
