"""One JSON object per log line (severity, message, fields), as Cloud Logging reads them."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

logger = logging.getLogger("localcloud.vertex")

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING}


def log(severity: str, message: str, *, error: BaseException | None = None, **fields: Any) -> None:
    record: dict[str, Any] = {"severity": severity, "message": message, **fields}
    if error is not None:
        record["stack_trace"] = "".join(traceback.format_exception(error))
    logger.log(_LEVELS.get(severity, logging.ERROR), json.dumps(record))
