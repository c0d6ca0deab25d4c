"""Logging: structlog to stderr only (stdout is the MCP channel in stdio mode), console or JSON, secrets redacted.

Redaction is by construction rather than by discipline: the secrets layer registers every value it handles
(given or generated) with `register_secret_values`, and a processor replaces any occurrence of a registered value in
any log field with a marker, and drops fields whose names are known to carry secret material. Standard-library
loggers (the MCP SDK, aiohttp, kubernetes_asyncio) are routed through the same processors.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
# Field names whose values are secret material whatever they contain.
_SENSITIVE_KEYS = frozenset({"data", "string_data", "stringData", "token", "password", "client_key", "value", "values"})
# Shorter values would redact ordinary words ("prod", "true") everywhere; generated values are 8+ characters, and the
# fields that carry values are dropped by name whatever their length.
_MIN_REDACTABLE = 6


class _SecretRegistry:
    """Values the process has seen as secret data. Append-only, and bounded so a long-lived server cannot grow it."""

    def __init__(self, limit: int = 100_000) -> None:
        self._values: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            before = len(self._values)
            for value in values:
                if len(value) >= _MIN_REDACTABLE and len(self._values) < self._limit:
                    self._values.add(value)
            if len(self._values) != before:
                self._pattern = None

    def scrub(self, text: str) -> str:
        if not self._values:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                # Longest first, so a value containing another is replaced whole. Built once per change, not per call.
                ordered = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return pattern.sub(REDACTED, text)


_registry = _SecretRegistry()


def register_secret_values(values: Iterable[str]) -> None:
    """Make sure these values never appear in a log line, whatever field or message carries them."""
    _registry.add(values)


def has_secret_values() -> bool:
    """Whether anything is registered: answers skip the scrubbing walk until a secret value has been seen."""
    return bool(_registry._values)


def scrub(text: str) -> str:
    """Replace registered secret values in arbitrary text (used for error messages too)."""
    return _registry.scrub(text)


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return _registry.scrub(value)
    if isinstance(value, dict):
        return {k: REDACTED if k in _SENSITIVE_KEYS else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, bytes | BaseException):
        return _registry.scrub(str(value))
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop sensitive fields and scrub registered values from everything else."""
    for key in list(event_dict):
        if key in _SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _final_scrub(_logger: Any, _method: str, event: Any) -> Any:
    """Last line of defence after rendering: a value smuggled through str() of some object is still caught."""
    return _registry.scrub(event) if isinstance(event, str) else event


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time (test runners swap it); never to stdout."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _Handler(logging.StreamHandler[Any]):
    """The root handler `configure` installs. It renders standard-library records through the structlog formatter,
    and our own events directly (`_emit_direct`): one rendering per line instead of a LogRecord, a caller lookup and
    a second pass through the formatter, which made a log line cost more than the tool call it reports."""

    def __init__(self, stream: Any, renderer: Any) -> None:
        super().__init__(stream)
        self.render: Any = renderer

    def write_event(self, method: str, event_dict: MutableMapping[str, Any]) -> None:
        line = _final_scrub(None, method, self.render(None, method, dict(event_dict)))
        lock = self.lock
        assert lock is not None  # made by Handler.__init__
        with lock:
            self.stream.write(f"{line}\n")  # stderr is line-buffered (Python 3.9+): no flush per line


def _emit_direct(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Last processor for our own events: render and write them with the root's `_Handler`s, then drop the event
    so the standard-library machinery never sees it. Under any other handler (a test's caplog), hand it over as
    usual."""
    handlers = [h for h in logging.root.handlers if isinstance(h, _Handler)]
    if not handlers or len(handlers) != len(logging.root.handlers):
        return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(logger, method, event_dict)
    level = _LEVELS.get(method, logging.INFO)
    for handler in handlers:
        if level >= handler.level:
            handler.write_event(method, event_dict)
    raise structlog.DropEvent


_LEVELS = {"debug": 10, "info": 20, "warn": 30, "warning": 30, "error": 40, "exception": 40, "critical": 50}


def configure(*, fmt: str = "console", level: str = "info", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging once, writing to stderr (or `stream`, for tests).

    The structlog side is the same whatever the arguments (the stream, format and level live in the root handler and
    logger), so loggers are cached on first use and a later `configure` still applies to them.
    """
    out: Any = stream or _CurrentStderr()
    # Plain tracebacks only: the rich formatter prints every frame's locals, which would put tool arguments (secret
    # values included) on stderr.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        # filter_by_level first: a call below the level costs one check, not the whole chain (timestamp, redaction).
        processors=[structlog.stdlib.filter_by_level, *_SHARED, _emit_direct],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED[:-1], structlog.stdlib.ExtraAdder(), redact_processor],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer, _final_scrub],
    )
    handler = _Handler(out, renderer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING: their debug output can include request and response bodies.
    for name in ("aiohttp", "kubernetes_asyncio", "httpx", "httpcore", "mcp", "asyncio"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
    redact_processor,
]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
