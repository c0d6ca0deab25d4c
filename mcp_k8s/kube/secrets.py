"""Secrets: CRUD on top of resources.py, server-side value generation, and redacted views.

Safe by construction rather than by discipline:
- every value given by a caller or generated here is registered with `register_secret_values`, together with its
  base64 form, before anything could log it; values read from the cluster are registered when `reveal` decodes them
  (until then they exist only as the API's base64, which nothing logs, and registering every stored value would
  redact ordinary words such as a service-account token's namespace from all later logs and messages);
- raw objects never leave this module: callers get a `SecretView` (keys, decoded sizes, type, metadata without the
  last-applied annotation, which holds a copy of the data) and, for one object, a `StoredSecret` whose values stay
  out of its repr and come out only through `reveal(settings)`, which itself checks `--allow-secret-values`;
- generated values come from `secrets` (the OS CSPRNG), are written to the cluster and never returned; an
  annotation names their keys so `reveal` withholds them even on a server that allows reading values.
Sizes are computed from the base64 length, so showing a Secret never decodes its values.
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
from mcp_k8s.kube import resources
from mcp_k8s.kube.client import KubeClient
from mcp_k8s.kube.discovery import ResourceType
from mcp_k8s.logging import register_secret_values
from mcp_k8s.settings import Settings

SECRETS = ResourceType(group="", version="v1", plural="secrets", kind="Secret", singular="secret", namespaced=True)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Which keys hold server-generated values: those are never revealed, even on a server that allows reading values.
GENERATED_KEYS = "mcp-k8s.io/generated-keys"

MAX_KEY_LENGTH = 253
MIN_GENERATED_LENGTH = 8
MAX_GENERATED_LENGTH = 4096
DEFAULT_GENERATED_LENGTH = 32
MAX_ALPHABET = 256
MAX_SECRET_BYTES = 1024 * 1024  # the API server's limit on the sum of a Secret's values
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


# ---------------------------------------------------------------------------------------------------------------
# Redacted views


def decoded_size(encoded: str) -> int:
    """Bytes a padded base64 string decodes to, computed from its length: values are never decoded for this."""
    padding = len(encoded) - len(encoded.rstrip("="))
    return max(0, len(encoded) * 3 // 4 - padding)


class KeyInfo(BaseModel):
    key: str
    size: int = Field(description="Decoded size in bytes")


class SecretView(BaseModel):
    """What may be shown about a Secret without server permission to show values."""

    name: str
    namespace: str | None = None
    type: str = "Opaque"
    immutable: bool = False
    keys: list[KeyInfo] = Field(default_factory=list, description="Data keys and their decoded sizes, never values")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = Field(
        default=None, description="Annotations (the last-applied annotation is dropped: it holds the values)"
    )
    created: str | None = Field(default=None, description="creationTimestamp")
    resource_version: str | None = None


def redacted_view(obj: Mapping[str, Any]) -> SecretView:
    """Build the view field by field from a raw Secret: anything not copied here (data, stringData,
    managedFields, last-applied) cannot leak through it."""
    meta = obj.get("metadata") or {}
    data = obj.get("data") or {}
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    return SecretView(
        name=str(meta.get("name", "")),
        namespace=meta.get("namespace"),
        type=str(obj.get("type") or "Opaque"),
        immutable=bool(obj.get("immutable")),
        keys=[KeyInfo(key=k, size=decoded_size(v) if isinstance(v, str) else 0) for k, v in sorted(data.items())],
        labels={k: str(v) for k, v in (meta.get("labels") or {}).items()} or None,
        annotations=annotations or None,
        created=meta.get("creationTimestamp"),
        resource_version=meta.get("resourceVersion"),
    )


@dataclass(frozen=True)
class RevealedValues:
    text: dict[str, str] = field(default_factory=dict)
    base64: dict[str, str] = field(default_factory=dict)  # values that are not UTF-8 text
    withheld: list[str] = field(default_factory=list)  # generated by the server: never revealed


def generated_keys(annotations: Mapping[str, str]) -> set[str]:
    return {k for k in (annotations.get(GENERATED_KEYS) or "").split(",") if k}


@dataclass(frozen=True)
class StoredSecret:
    """One Secret read from the cluster: values stay base64 and out of repr until `reveal`, which checks policy."""

    view: SecretView
    _data: dict[str, str] = field(repr=False)

    def reveal(self, settings: Settings, keys: Iterable[str] | None = None) -> RevealedValues:
        """Decoded values, only when the server runs with --allow-secret-values (checked here, not by the caller).

        Values the server generated stay withheld even then: they were never meant to reach a model.
        """
        if not settings.allow_secret_values:
            raise errors.NotAllowed(
                "Secret values are withheld by server policy; the operator must start mcp-k8s with "
                "--allow-secret-values to allow reading them."
            )
        wanted = list(keys) if keys is not None else sorted(self._data)
        missing = [k for k in wanted if k not in self._data]
        if missing:
            known = sorted(self._data)
            listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            raise errors.InvalidInput(
                f"Secret {self.view.name!r} has no key {', '.join(map(repr, missing[:5]))}; its keys are "
                f"{listed or 'none'}."
            )
        generated = generated_keys(self.view.annotations or {})
        register_stored({k: self._data[k] for k in wanted if k not in generated})
        out = RevealedValues()
        for key in wanted:
            encoded = self._data[key]
            if key in generated:
                out.withheld.append(key)
                continue
            try:
                out.text[key] = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                out.base64[key] = encoded
        return out


def _stored(obj: Mapping[str, Any]) -> StoredSecret:
    data = {k: v for k, v in (obj.get("data") or {}).items() if isinstance(v, str)}
    return StoredSecret(view=redacted_view(obj), _data=data)


# ---------------------------------------------------------------------------------------------------------------
# CRUD


@dataclass(frozen=True)
class SecretPage:
    items: list[SecretView]
    continue_token: str | None
    resource_version: str | None


async def list_secrets(
    kube: KubeClient,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
) -> SecretPage:
    """One page of redacted views; the page's data is dropped here, undecoded."""
    page = await resources.list_objects(
        kube,
        SECRETS,
        namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        limit=limit,
        continue_token=continue_token,
    )
    meta = page.get("metadata") or {}
    return SecretPage(
        items=[redacted_view(item) for item in page.get("items") or []],
        continue_token=meta.get("continue") or None,
        resource_version=meta.get("resourceVersion"),
    )


async def read_secret(kube: KubeClient, namespace: str, name: str) -> StoredSecret:
    return _stored(await resources.get_object(kube, SECRETS, namespace, name))


@dataclass(frozen=True)
class WriteResult:
    stored: StoredSecret
    generated: list[GeneratedKey]
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    not_present: list[str] = field(default_factory=list)


async def create_secret(
    kube: KubeClient,
    namespace: str,
    name: str,
    change: Change,
    *,
    secret_type: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    immutable: bool = False,
    dry_run: bool = False,
) -> WriteResult:
    """Create a Secret from plain values and/or server-generated ones; values travel base64-encoded in `data`."""
    generated, described = change.generate()
    values = {**change.given, **generated}
    total = sum(len(v.encode()) for v in values.values())
    if total > MAX_SECRET_BYTES:
        raise errors.InvalidInput(
            f"The values add up to {total} bytes; a Secret holds at most {MAX_SECRET_BYTES} bytes, so split it."
        )
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations or described:
        metadata["annotations"] = dict(annotations or {})
    if described:
        metadata["annotations"][GENERATED_KEYS] = ",".join(sorted(g.key for g in described))
    body: dict[str, Any] = {
        "metadata": metadata,
        "type": secret_type or "Opaque",
        "data": {k: b64(v) for k, v in values.items()},
    }
    if immutable:
        body["immutable"] = True
    try:
        created = await resources.create_object(kube, SECRETS, namespace, body, dry_run=dry_run)
    except errors.AlreadyExists as exc:
        raise errors.AlreadyExists(
            f'Secret "{name}" already exists in namespace "{namespace}"; change it with update_secret, or choose '
            "another name.",
            status=exc.status,
            reason=exc.reason,
        ) from None
    return WriteResult(stored=_stored(created), generated=described)


def check_mutable(current: StoredSecret, change: Change, namespace: str) -> None:
    """An immutable Secret's data cannot change: say so before anything is asked or sent."""
    if current.view.immutable and (change.sets_data or change.remove):
        raise errors.Invalid(
            f'Secret "{current.view.name}" in namespace "{namespace}" is immutable, so its data cannot change; create '
            "a new secret (or delete and recreate this one) instead."
        )


async def update_secret(
    kube: KubeClient,
    namespace: str,
    name: str,
    change: Change,
    *,
    labels: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> WriteResult:
    """Set, replace and remove keys with a JSON merge patch that names only those keys, so a concurrent change to
    any other key survives (a read-modify-write replace would silently undo it)."""
    if not (change.sets_data or change.remove or labels):
        raise errors.InvalidInput("Nothing to update; give data, generate, remove_keys or labels.")
    current = await read_secret(kube, namespace, name)
    existing = {k.key for k in current.view.keys}
    check_mutable(current, change, namespace)
    present = [k for k in change.remove if k in existing]
    absent = [k for k in change.remove if k not in existing]
    if not (change.sets_data or present or labels):
        return WriteResult(stored=current, generated=[], not_present=absent)
    generated, described = change.generate()
    values = {**change.given, **generated}
    patch_data: dict[str, str | None] = {k: b64(v) for k, v in values.items()}
    patch_data.update(dict.fromkeys(present))
    patch: dict[str, Any] = {}
    if patch_data:
        patch["data"] = patch_data
    metadata: dict[str, Any] = {}
    if labels:
        metadata["labels"] = dict(labels)
    was_generated = generated_keys(current.view.annotations or {})
    now_generated = (was_generated - set(values) - set(present)) | set(generated)
    if now_generated != was_generated:
        metadata["annotations"] = {GENERATED_KEYS: ",".join(sorted(now_generated)) or None}
    if metadata:
        patch["metadata"] = metadata
    patched = await resources.patch_object(kube, SECRETS, namespace, name, patch, patch_type="merge", dry_run=dry_run)
    return WriteResult(
        stored=_stored(patched),
        generated=described,
        added=sorted(k for k in values if k not in existing),
        replaced=sorted(k for k in values if k in existing),
        removed=present,
        not_present=absent,
    )


async def delete_secret(kube: KubeClient, namespace: str, name: str, *, dry_run: bool = False) -> dict[str, Any]:
    return await resources.delete_object(kube, SECRETS, namespace, name, dry_run=dry_run)
