"""Which failed rows another attempt may answer (no cloud client).

A row fails with the service's error text in its `status`, the error as JSON after a prefix
(`RESOURCE_EXHAUSTED error occurred: {"error": {"code": 429, ...}}`, `Internal error occurred.
Failed to get generateContentResponse: {...}`, `Bad Request: {...}`). Quota, unavailability,
deadlines and internal errors may pass: the line is resumed. A request the service refused
(400 INVALID_ARGUMENT, a file it cannot read, a permission) fails the same way again: it is
not. A blocked prompt is an answer (status BLOCKED), never retried. A failure whose text names
no code (no response at all, no candidate) is taken as one that may pass.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["may_pass"]

_CODE: Final = re.compile(r'"code"\s*:\s*(\d{3})')
_STATUS: Final = re.compile(r'"status"\s*:\s*"([A-Z_]+)"')
_PASSING_CODES: Final = frozenset({408, 429, 499, 500, 502, 503, 504})
_PASSING_STATUSES: Final = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN"}
)


def may_pass(error: str | None) -> bool:
    """Whether a row that failed with `error` may succeed on another attempt."""
    if not error:
        return True
    status = _STATUS.search(error)
    if status is not None:
        return status.group(1) in _PASSING_STATUSES
    code = _CODE.search(error)
    if code is not None:
        return int(code.group(1)) in _PASSING_CODES
    return not error.startswith(("Bad Request", "Not Found", "Forbidden"))
