"""Logs of the local cloud's servers: one JSON object per line, as Cloud Logging reads them.

The servers log through the standard `logging` module under `localcloud.<name>`; the lines
are written by the library's own JSON formatter (`batchline.runtime.logs`), so an emulator's
log reads like a function's: `severity`, `message`, `time`, `logger`, then the fields.
Each request is one line with Cloud Logging's `httpRequest` object.
"""

from __future__ import annotations

import logging
from typing import Any

from batchline.runtime.logs import configure_logging

__all__ = ["configure_logging", "log_request", "write"]

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}

# A field named like a LogRecord attribute would make `logging` refuse the call.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def write(
    logger: logging.Logger,
    severity: str,
    message: str,
    *,
    error: BaseException | None = None,
    stacklevel: int = 1,
    **fields: Any,
) -> None:
    """One line at a Cloud Logging severity; `error` adds its stack trace.

    The line's source location is `stacklevel` frames up from the caller (1: the caller),
    so that a helper that logs for its own caller can say where the call came from.
    """
    extra = {
        (f"field_{key}" if key in _RECORD_ATTRIBUTES else key): value
        for key, value in fields.items()
    }
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    level = _LEVELS.get(severity, logging.ERROR)
    logger.log(level, message, exc_info=exc_info, extra=extra, stacklevel=stacklevel + 1)


def log_request(
    logger: logging.Logger,
    method: str,
    url: str,
    status: int,
    latency_seconds: float,
    endpoint: str | None,
) -> None:
    """The line of one answered request; 4xx are warnings and 5xx errors, as Cloud Run logs them."""
    severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    http_request = {
        "requestMethod": method,
        "requestUrl": url,
        "status": status,
        "latency": f"{latency_seconds:.6f}s",
    }
    named: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
    message = f"{method} {url} {status}"
    write(logger, severity, message, stacklevel=2, httpRequest=http_request, **named)
