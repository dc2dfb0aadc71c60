"""Structured logs: one JSON object per line on stdout, the form Cloud Logging parses as-is.

Each line carries `severity`, `message`, `time`, `logger` and correlation fields (bucket,
object, generation, job, event_id, ...). Fields come from two places:
- `batchline.domain.log_context.log_context(**fields)`: every line logged inside it (same
  thread or task, through contextvars) carries the fields;
- `extra={...}` on one call: `logger.info("done", extra={"rows": 12})`.

`configure_logging()` installs the one handler on the root logger; it is idempotent, so
handlers call it on every invocation at no cost and never stack handlers.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from batchline.domain.log_context import current_context

__all__ = ["JsonFormatter", "configure_logging", "get_logger"]

# Python level -> Cloud Logging severity (LogSeverity names).
_SEVERITIES: Mapping[int, str] = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}

# Fields the formatter writes itself; a context or extra field of that name is renamed.
_RESERVED = frozenset({"severity", "message", "time", "logger", "stack_trace"})

_configure_lock = threading.Lock()
_handler: logging.Handler | None = None


def _severity(levelno: int) -> str:
    if levelno in _SEVERITIES:
        return _SEVERITIES[levelno]
    # Custom levels: the nearest standard one at or below.
    below = [level for level in _SEVERITIES if level <= levelno]
    return _SEVERITIES[max(below)] if below else "DEFAULT"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object, context and extra fields included."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _severity(record.levelno),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="microseconds"
            ),
            "logger": record.name,
        }
        for key, value in current_context().items():
            entry[_field_name(key)] = value
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                entry[_field_name(key)] = value
        if record.exc_info:
            # Error Reporting picks stack traces up from this field.
            entry["stack_trace"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.stack_info:
            entry["stack_trace"] = record.stack_info
        if record.levelno >= logging.WARNING:
            entry["logging.googleapis.com/sourceLocation"] = {
                "file": record.pathname,
                "line": str(record.lineno),
                "function": record.funcName,
            }
        return json.dumps(entry, default=_json_default, ensure_ascii=False)


def _field_name(key: str) -> str:
    return f"field_{key}" if key in _RESERVED else key


def _json_default(value: object) -> object:
    # Datetimes as RFC 3339; anything else JSON does not know as its text form.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def configure_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record to `stream` (stdout by default) as JSON lines; safe to repeat.

    The first call installs the handler on the root logger and removes the others (the
    functions framework or a test runner may have added a plain-text one); later calls only
    change the level. Passing a different `stream` re-points the one handler.
    """
    global _handler
    with _configure_lock:
        root = logging.getLogger()
        if _handler is None or _handler not in root.handlers:
            handler = logging.StreamHandler(stream or _Stdout())
            handler.setFormatter(JsonFormatter())
            for existing in list(root.handlers):
                if isinstance(existing.formatter, JsonFormatter) or _is_plain_stream(existing):
                    root.removeHandler(existing)
            root.addHandler(handler)
            _handler = handler
        elif stream is not None and isinstance(_handler, logging.StreamHandler):
            if getattr(_handler.stream, "closed", False):
                _handler.stream = stream  # setStream would flush the closed one first
            else:
                _handler.setStream(stream)
        root.setLevel(level)


class _Stdout:
    """sys.stdout as it is at each write, not as it was when logging was configured: a test
    runner swaps it per test (and closes the old one); a deployed function never does."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _is_plain_stream(handler: logging.Handler) -> bool:
    # Only console handlers are replaced: test runners' capture handlers stay.
    return type(handler) is logging.StreamHandler


def get_logger(name: str) -> logging.Logger:
    """A module logger; the same as logging.getLogger, for one import in callers."""
    return logging.getLogger(name)
