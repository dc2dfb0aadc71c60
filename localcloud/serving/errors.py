"""Error answers: what every service's errors have in common, and Google's generic form.

Each emulator keeps the error body its real service sends (Vertex AI the bare
`{"error": {"code", "message", "status"}}`, BigQuery that plus `errors[]` with reasons):
the server only needs an HTTP status and a JSON body from any of them.
"""

from __future__ import annotations

import abc
import http
from typing import Any, Self

# The canonical status name Google APIs send with each HTTP status (google.rpc.Code).
CANONICAL_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def canonical_status(http_status: int) -> str:
    return CANONICAL_STATUS.get(http_status, "UNKNOWN")


class ServiceError(Exception, metaclass=abc.ABCMeta):
    """An error a service answers with; each service's class gives its status and body."""

    @property
    @abc.abstractmethod
    def http_status(self) -> int:
        """The HTTP status of the answer."""

    @abc.abstractmethod
    def response_body(self) -> dict[str, Any]:
        """The JSON body of the answer, in the service's own shape."""


class GoogleError(ServiceError):
    """Google's JSON error: `{"error": {"code": 404, "message": ..., "status": "NOT_FOUND"}}`."""

    def __init__(self, http_code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.http_code = http_code
        self.status = status
        self.message = message

    @classmethod
    def of_status(cls, http_code: int, message: str) -> Self:
        """The error for an HTTP status, named by its canonical status."""
        return cls(http_code, canonical_status(http_code), message)

    @property
    def http_status(self) -> int:
        return self.http_code

    def response_body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_code, "message": self.message, "status": self.status}}


def reason_phrase(http_status: int) -> str:
    """`Not Found` for 404: the words of an HTTP status."""
    try:
        return http.HTTPStatus(http_status).phrase
    except ValueError:
        return f"HTTP {http_status}"
