"""The secret tools' value arguments (`data`, `generate`, `remove_keys`) parsed into a kube/secret_data `Change`.

Here, not in kube/, because every refusal names the argument the caller got wrong. Messages name keys, never
values; `data` is registered as secret before it is looked at (`register_given`, also the argument's validator).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mcp_k8s import errors
from mcp_k8s.kube.secret_data import (
    ALPHABETS,
    DEFAULT_GENERATED_LENGTH,
    MAX_ALPHABET,
    MAX_GENERATED_LENGTH,
    MAX_KEY_LENGTH,
    MAX_KEYS_PER_CALL,
    MIN_GENERATED_LENGTH,
    AlphabetName,
    Change,
    Planned,
    register_given,
    validate_key,
)


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


def parse_change(
    data: Any = None, generate: Iterable[GenerateSpec | str] | None = None, remove: Iterable[str] = ()
) -> Change:
    """The whole change, validated before any request: every key once, from one source, not both set and removed."""
    given = parse_data(data)
    planned: list[Planned] = []
    for item in generate or ():
        wanted = GenerateSpec(key=item) if isinstance(item, str) else item
        validate_key(wanted.key)
        name, chars = wanted.resolve_alphabet()
        planned.append(Planned(wanted.key, wanted.length, name, chars))
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
    return Change(given=given, planned=tuple(planned), remove=tuple(removing))
