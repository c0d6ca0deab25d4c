"""A Secret's data before it is written: valid keys, a caller's values, server-generated values.

Every value given by a caller or generated here is registered with `register_secret_values`, together with its
base64 form, before anything could log it. Generated values come from `secrets` (the OS CSPRNG), drawn uniformly
from an alphabet of distinct characters; a `Change` is validated whole before any request, and its values are
generated only at write time, so a refused call never creates one. The CRUD that writes them is in secrets.py; the
tool arguments that describe them are parsed in tools/secret_arguments.py.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcp_k8s import errors
from mcp_k8s.logging import register_secret_values

MAX_KEY_LENGTH = 253
MIN_GENERATED_LENGTH = 8
MAX_GENERATED_LENGTH = 4096
DEFAULT_GENERATED_LENGTH = 32
MAX_ALPHABET = 256
MAX_KEYS_PER_CALL = 256

# Kubernetes' IsConfigMapKey: [-._a-zA-Z0-9]+, at most 253 characters, not "." or "..", not starting with "..".
_KEY = re.compile(r"[-._a-zA-Z0-9]+")

AlphabetName = Literal["alphanumeric", "hex", "base64url", "printable", "numeric", "custom"]
ALPHABETS: dict[str, str] = {
    "alphanumeric": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "base64url": string.ascii_letters + string.digits + "-_",
    # Printable ASCII without space, quotes and backslash: safe to paste into shells, YAML, JSON and URLs' userinfo.
    "printable": "".join(c for c in string.printable[:94] if c not in "\"'`\\"),
    "numeric": string.digits,
}


def validate_key(key: Any) -> str:
    """A data key as Kubernetes accepts it; keys are not secret, so the message may quote them (shortened)."""
    if not isinstance(key, str) or not key:
        raise errors.InvalidInput("Secret keys must be non-empty strings such as 'password' or 'tls.crt'.")
    shown = repr(key[:80])
    if len(key) > MAX_KEY_LENGTH:
        raise errors.InvalidInput(f"Secret key {shown}… is longer than {MAX_KEY_LENGTH} characters; shorten it.")
    if not _KEY.fullmatch(key):
        raise errors.InvalidInput(f"Secret key {shown} is not valid; keys use only letters, digits, '-', '_' and '.'.")
    if key in (".", "..") or key.startswith(".."):
        raise errors.InvalidInput(f"Secret key {shown} is not valid; a key must not be '.', '..' or start with '..'.")
    return key


# ---------------------------------------------------------------------------------------------------------------
# Value generation


def generate_value(length: int, alphabet: str) -> str:
    """`length` characters drawn uniformly and independently from `alphabet` with the OS CSPRNG."""
    if not MIN_GENERATED_LENGTH <= length <= MAX_GENERATED_LENGTH:
        raise errors.InvalidInput(
            f"A generated value of {length} characters is out of range; use {MIN_GENERATED_LENGTH} to "
            f"{MAX_GENERATED_LENGTH}."
        )
    if len(set(alphabet)) != len(alphabet) or len(alphabet) < 2:
        raise errors.InvalidInput("The alphabet must have at least 2 distinct characters, each listed once.")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def entropy_bits(length: int, alphabet: str) -> float:
    return round(length * math.log2(len(alphabet)), 1)


class GeneratedKey(BaseModel):
    """What a caller may know about a generated value: everything except the value."""

    key: str
    length: int = Field(description="Characters in the generated value")
    alphabet: str
    entropy_bits: float


# ---------------------------------------------------------------------------------------------------------------
# Registration: values become unloggable before anything else touches them


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def register_values(values: Iterable[str]) -> None:
    """Register plain values and their base64 forms (the form they take inside a Secret's data)."""
    out: list[str] = []
    for value in values:
        out += [value, b64(value)]
    register_secret_values(out)


def register_given(raw: Any) -> Any:
    """Register every string inside an argument as it arrives, before validation could echo or log it."""
    if isinstance(raw, str):
        register_values([raw])
    elif isinstance(raw, Mapping):
        for value in raw.values():
            register_given(value)
    elif isinstance(raw, list | tuple):
        for value in raw:
            register_given(value)
    return raw


def register_stored(data: Mapping[str, Any]) -> None:
    """Register values read from the cluster as they are decoded: base64 as stored, and as text if it is UTF-8."""
    out: list[str] = []
    for encoded in data.values():
        if not isinstance(encoded, str):
            continue
        out.append(encoded)
        try:
            out.append(base64.b64decode(encoded, validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            continue
    register_secret_values(out)


@dataclass(frozen=True)
class Planned:
    """A key to fill at write time: how long, from which alphabet (its name, and its characters)."""

    key: str
    length: int
    alphabet: str
    characters: str


@dataclass(frozen=True)
class Change:
    """A validated set of changes to a Secret's data (tools/secret_arguments.py builds it from a call's arguments,
    before any request); generation happens at write time so a refused call never creates a value."""

    given: dict[str, str] = field(repr=False)
    planned: tuple[Planned, ...] = ()
    remove: tuple[str, ...] = ()

    @property
    def sets_data(self) -> bool:
        return bool(self.given or self.planned)

    @property
    def touched(self) -> set[str]:
        """Every key this change sets or removes: where a stored value could be lost."""
        return set(self.given) | {p.key for p in self.planned} | set(self.remove)

    def generate(self) -> tuple[dict[str, str], list[GeneratedKey]]:
        """Draw the planned values (registered before they are returned) and describe them without the values."""
        values: dict[str, str] = {}
        described: list[GeneratedKey] = []
        for p in self.planned:
            values[p.key] = generate_value(p.length, p.characters)
            described.append(
                GeneratedKey(
                    key=p.key, length=p.length, alphabet=p.alphabet, entropy_bits=entropy_bits(p.length, p.characters)
                )
            )
        register_values(values.values())
        return values, described
