"""Correlation fields for log lines: what a piece of work is about (bucket, object, job, ...).

Any layer may add fields for the lines logged inside a scope; the runtime's JSON formatter
(batchline.runtime.logs) writes them on every line. Standard library only: contextvars keep
the fields per thread and per task.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

__all__ = ["current_context", "log_context"]

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "batchline_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: Any) -> Iterator[Mapping[str, Any]]:
    """Add `fields` to every log line in this scope; nested scopes add to the outer ones.

    Fields whose value is None are left out, so callers can pass what they may not know yet.
    """
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, Any]:
    """The correlation fields in force here (for messages that should carry them too)."""
    return dict(_context.get())
