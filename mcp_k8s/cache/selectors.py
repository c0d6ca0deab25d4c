"""Kubernetes label and field selectors, parsed once and matched against cached objects (no I/O).

The cache answers `list` calls that the API would otherwise filter, so it must accept the same label-selector
language as kube-apiserver (k8s.io/apimachinery `labels.Parse`): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
`a notin (x)`, `a`, `!a`, `a>1`, `a<1`, comma-separated and ANDed. Field selectors are limited to what every
object has, `metadata.name` and `metadata.namespace` (with `=`, `==`, `!=`); anything else raises
`UnsupportedFieldSelector`, so a caller can fall back to the API, which knows a CRD's selectable fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_k8s import errors

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "UnsupportedFieldSelector",
    "parse_field_selector",
    "parse_label_selector",
]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_NAME = re.compile(rf"^{_NAME}$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
# The characters that end an identifier in the apiserver's lexer.
_SPECIAL = "!=(),<>"


class UnsupportedFieldSelector(errors.InvalidInput):
    """A valid-looking field selector on a field the cache does not index; ask the API server instead."""


@dataclass(frozen=True, slots=True)
class _Requirement:
    key: str
    op: str  # exists | !exists | = | != | in | notin | gt | lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        if self.op in ("!=", "notin"):
            return not present or labels[self.key] not in self.values
        # gt / lt: the label must parse as an integer (as in apimachinery).
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except ValueError:
            return False
        (bound,) = self.values
        return have > int(bound) if self.op == "gt" else have < int(bound)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector: all requirements must hold (an empty selector matches everything)."""

    text: str
    requirements: tuple[_Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        return self.matches((obj.get("metadata") or {}).get("labels"))


def _bad(text: str, why: str) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"label_selector {text!r} is not valid: {why}; use forms like 'app=web', 'tier in (a,b)', '!legacy'."
    )


def _tokens(text: str) -> list[str]:
    """Split like the apiserver's lexer: operators, parentheses, commas and identifiers; whitespace separates."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith(("==", "!="), i):
            out.append(text[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _check_key(text: str, key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise _bad(text, f"the key prefix {prefix!r} must be a DNS subdomain such as 'example.com'")
    if not _LABEL_NAME.match(name):
        raise _bad(text, f"{key!r} is not a label key (at most 63 letters, digits, '-', '_' or '.')")
    return key


def _check_value(text: str, value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise _bad(text, f"{value!r} is not a label value (at most 63 letters, digits, '-', '_' or '.')")
    return value


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a Kubernetes label selector; raises `errors.InvalidInput` with one sentence on bad syntax."""
    source = (text or "").strip()
    if not source:
        return LabelSelector(text="", requirements=())
    return LabelSelector(text=source, requirements=_Parser(source).requirements())


class _Parser:
    """A recursive-descent reader over the selector's tokens: requirements separated by commas."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise _bad(self.source, "it ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    @staticmethod
    def is_ident(token: str | None) -> bool:
        return token is not None and token not in ("==", "!=") and token[0] not in _SPECIAL

    def requirements(self) -> tuple[_Requirement, ...]:
        reqs = [self.requirement()]
        while (following := self.peek()) is not None:
            if following != ",":
                raise _bad(self.source, f"expected ',' between requirements, found {following!r}")
            self.take()
            reqs.append(self.requirement())
        return tuple(reqs)

    def requirement(self) -> _Requirement:
        source, tok = self.source, self.take()
        if tok == "!":
            key = self.take()
            if not self.is_ident(key):
                raise _bad(source, f"'!' must be followed by a label key, not {key!r}")
            return _Requirement(_check_key(source, key), "!exists")
        if not self.is_ident(tok):
            raise _bad(source, f"expected a label key, found {tok!r}")
        key = _check_key(source, tok)
        op = self.peek()
        if op is None or op == ",":
            return _Requirement(key, "exists")
        self.take()
        if op in ("=", "==", "!="):
            value = self.peek()
            if self.is_ident(value):
                self.take()
            else:
                value = ""  # `a=` selects the empty value, as the apiserver does
            return _Requirement(key, "!=" if op == "!=" else "=", frozenset({_check_value(source, value or "")}))
        if op in ("<", ">"):
            value = self.take()
            if not value.lstrip("-").isdigit():
                raise _bad(source, f"{op!r} needs an integer, not {value!r}")
            return _Requirement(key, "gt" if op == ">" else "lt", frozenset({str(int(value))}))
        if op in ("in", "notin"):
            return _Requirement(key, op, self.value_list(op))
        raise _bad(source, f"expected an operator (=, ==, !=, in, notin) after {key!r}, found {op!r}")

    def value_list(self, op: str) -> frozenset[str]:
        """`(a,b)` after in/notin; empty entries are the empty value, as in apimachinery (`()`, `(a,)`)."""
        if self.take() != "(":
            raise _bad(self.source, f"'{op}' must be followed by a parenthesised list like (a,b)")
        values: set[str] = set()
        expect_value = True
        while (item := self.take()) != ")":
            if item == ",":
                if expect_value:
                    values.add("")
                expect_value = True
                continue
            if not self.is_ident(item) or not expect_value:
                raise _bad(self.source, f"unexpected {item!r} inside the value list")
            values.add(_check_value(self.source, item))
            expect_value = False
        if expect_value:
            values.add("")  # `()` and `(a,)` include the empty value
        return frozenset(values)


_FIELD_GETTERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": lambda obj: str((obj.get("metadata") or {}).get("name") or ""),
    "metadata.namespace": lambda obj: str((obj.get("metadata") or {}).get("namespace") or ""),
}


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector over metadata.name / metadata.namespace; all terms must hold."""

    text: str
    terms: tuple[tuple[str, bool, str], ...]  # (field, equal?, value)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        return all((_FIELD_GETTERS[f](obj) == v) is eq for f, eq, v in self.terms)

    def matches_key(self, namespace: str, name: str) -> bool:
        """The same test on an object's key alone (the store keeps objects encoded; the key is all it needs)."""
        have = {"metadata.name": name, "metadata.namespace": namespace}
        return all((have[f] == v) is eq for f, eq, v in self.terms)

    def value_of(self, field: str) -> str | None:
        """The value an equality term pins `field` to (lets the store jump to one namespace or one name)."""
        return next((v for f, eq, v in self.terms if f == field and eq), None)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse `metadata.name=x,metadata.namespace!=y`; other fields raise `UnsupportedFieldSelector`."""
    source = (text or "").strip()
    if not source:
        return FieldSelector(text="", terms=())
    terms: list[tuple[str, bool, str]] = []
    for raw in source.split(","):
        part = raw.strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-/\[\]]+)\s*(==|!=|=)\s*(.*)", part)
        if match is None:
            raise errors.InvalidInput(
                f"field_selector {source!r} is not valid: {part!r} is not 'field=value' or 'field!=value'; "
                "use forms like 'metadata.name=my-object'."
            )
        field, op, value = match.group(1), match.group(2), match.group(3).strip()
        if field not in _FIELD_GETTERS:
            raise UnsupportedFieldSelector(
                f"field_selector {source!r} uses {field!r}, which the watch cache cannot filter on (it supports "
                "metadata.name and metadata.namespace); read from the API server for other fields."
            )
        terms.append((field, op != "!=", value))
    return FieldSelector(text=source, terms=tuple(terms))
