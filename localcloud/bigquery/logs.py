"""One JSON object per log line, in the shape Cloud Logging reads (severity, message)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

# Attributes a log call may add with `extra=`; they are copied into the JSON line.
STRUCTURED_FIELDS = ("httpRequest", "bigqueryMethod", "url", "database", "error")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
        }
        for name in STRUCTURED_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send the emulator's logs to stdout as JSON lines (the module entry point calls it)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("localcloud")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
