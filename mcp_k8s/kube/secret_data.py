"""A Secret's data before it is written: valid keys, a caller's values, server-generated values.

Every value given by a caller or generated here is registered with `register_secret_values`, together with its
base64 form, before anything could log it. Generated values come from `secrets` (the OS CSPRNG), drawn uniformly
from an alphabet of distinct characters; a `Change` is validated whole before any request, and its values are
generated only at write time, so a refused call never creates one. The CRUD that writes them is in secrets.py.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class GenerateSpec(BaseModel):
    """A key whose value the server generates and never returns."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    length: int = Field(
        default=DEFAULT_GENERATED_LENGTH,
        ge=MIN_GENERATED_LENGTH,
        le=MAX_GENERATED_LENGTH,
        description=f"{MIN_GENERATED_LENGTH}-{MAX_GENERATED_LENGTH} characters",
    )
    alphabet: AlphabetName | None = Field(
        default=None,
        description="Default alphanumeric",
    )
    characters: str | None = Field(
        default=None, max_length=4 * MAX_ALPHABET, description="alphabet=custom: 2-256 distinct characters"
    )

    def resolve_alphabet(self) -> tuple[str, str]:
        """(alphabet name, its characters), refusing contradictory or weak alphabets with one sentence."""
        where = f"generate[{self.key!r}]"
        if self.characters is not None:
            if self.alphabet not in (None, "custom"):
                raise errors.InvalidInput(
                    f"{where} gives both alphabet={self.alphabet!r} and characters; use one of them."
                )
            return "custom", custom_alphabet(self.characters, where)
        if self.alphabet == "custom":
            raise errors.InvalidInput(f"{where} asks for a custom alphabet; pass its characters in 'characters'.")
        name = self.alphabet or "alphanumeric"
        return name, ALPHABETS[name]


def custom_alphabet(characters: str, where: str = "characters") -> str:
    """A caller's alphabet: 2-256 distinct printable characters, so every draw is uniform and meaningful."""
    if not characters:
        raise errors.InvalidInput(f"{where}: the custom alphabet is empty; give at least 2 distinct characters.")
    if len(characters) > MAX_ALPHABET:
        raise errors.InvalidInput(
            f"{where}: the custom alphabet has {len(characters)} characters; the most is {MAX_ALPHABET}."
        )
    duplicates = sorted(c for c, n in Counter(characters).items() if n > 1)
    if duplicates:
        raise errors.InvalidInput(
            f"{where}: the custom alphabet repeats {''.join(duplicates)!r}; list each character once so every "
            "character is equally likely."
        )
    if len(characters) < 2:
        raise errors.InvalidInput(f"{where}: a one-character alphabet generates no randomness; give at least 2.")
    unprintable = [c for c in characters if not c.isprintable()]
    if unprintable:
        raise errors.InvalidInput(
            f"{where}: the custom alphabet contains control or unprintable characters; use printable ones only."
        )
    return characters


def generate_value(length: int, alphabet: str) -> str:
    """`length` characters drawn uniformly and independently from `alphabet` with the OS CSPRNG."""
    if not MIN_GENERATED_LENGTH <= length <= MAX_GENERATED_LENGTH:
        raise errors.InvalidInput(
            f"length {length} is out of range; use {MIN_GENERATED_LENGTH} to {MAX_GENERATED_LENGTH} characters."
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


def parse_data(raw: Any) -> dict[str, str]:
    """The caller's `data`: a mapping of valid keys to plain string values. Messages name keys, never values."""
    if raw is None:
        return {}
    register_given(raw)
    if not isinstance(raw, Mapping):
        raise errors.InvalidInput(
            'data must be an object mapping keys to plain string values, e.g. {"username": "app"}.'
        )
    if len(raw) > MAX_KEYS_PER_CALL:
        raise errors.InvalidInput(f"data has {len(raw)} keys; the most per call is {MAX_KEYS_PER_CALL}.")
    out: dict[str, str] = {}
    for key, value in raw.items():
        validate_key(key)
        if not isinstance(value, str):
            raise errors.InvalidInput(
                f'data[{key!r}] must be a plain string (numbers and booleans too, e.g. "8080"); it was '
                f"{type(value).__name__}."
            )
        out[key] = value
    return out


@dataclass(frozen=True)
class _Planned:
    key: str
    length: int
    alphabet: str
    characters: str


@dataclass(frozen=True)
class Change:
    """A validated set of changes to a Secret's data, checked before any request; generation happens at write time
    so a refused call never creates a value."""

    given: dict[str, str] = field(repr=False)
    planned: tuple[_Planned, ...] = ()
    remove: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls, data: Any = None, generate: Iterable[GenerateSpec | str] | None = None, remove: Iterable[str] = ()
    ) -> Change:
        given = parse_data(data)
        planned: list[_Planned] = []
        for item in generate or ():
            wanted = GenerateSpec(key=item) if isinstance(item, str) else item
            validate_key(wanted.key)
            name, chars = wanted.resolve_alphabet()
            planned.append(_Planned(wanted.key, wanted.length, name, chars))
        keys = [p.key for p in planned]
        if len(keys) > MAX_KEYS_PER_CALL:
            raise errors.InvalidInput(f"generate has {len(keys)} keys; the most per call is {MAX_KEYS_PER_CALL}.")
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise errors.InvalidInput(
                f"generate lists {', '.join(map(repr, repeated))} more than once; list each key once."
            )
        removing = sorted({validate_key(k) for k in remove})
        both = sorted(set(given) & set(keys))
        if both:
            raise errors.InvalidInput(
                f"{', '.join(map(repr, both))} appear in both data and generate; give each key one source."
            )
        clash = sorted((set(given) | set(keys)) & set(removing))
        if clash:
            raise errors.InvalidInput(f"{', '.join(map(repr, clash))} are both set and removed; pick one.")
        return cls(given=given, planned=tuple(planned), remove=tuple(removing))

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
