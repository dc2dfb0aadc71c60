"""The emulator's log lines: `log("INFO", "job created", job=...)`, JSON as Cloud Logging reads."""

from __future__ import annotations

import logging
from typing import Any

from localcloud.serving.logs import write

logger = logging.getLogger("localcloud.vertex")


def log(severity: str, message: str, *, error: BaseException | None = None, **fields: Any) -> None:
    write(logger, severity, message, error=error, stacklevel=2, **fields)
