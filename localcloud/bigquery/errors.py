"""BigQuery's errors: an HTTP status, a Google status name and ErrorProto reasons.

The client libraries read `error.errors[0].reason` to decide what to retry, and the HTTP
status to pick the exception class, so both must be what BigQuery sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from localcloud.serving import ServiceError
from localcloud.serving.errors import canonical_status


class BigQueryError(ServiceError):
    """An error BigQuery reports: becomes a JSON error answer or a job's errorResult."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        location: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.location = location
        self.status = status or canonical_status(code)

    @property
    def http_status(self) -> int:
        return self.code

    def error_proto(self) -> dict[str, Any]:
        """The ErrorProto form used in job status and response `errors` lists."""
        proto: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.location is not None:
            proto["location"] = self.location
        return proto

    def response_body(self) -> dict[str, Any]:
        """Google's JSON error envelope."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status,
                "errors": [self.error_proto()],
            }
        }


def not_found(what: str) -> BigQueryError:
    """404 notFound, worded as BigQuery words it: `Not found: Table p:d.t`."""
    return BigQueryError(404, "notFound", f"Not found: {what}")


def duplicate(what: str) -> BigQueryError:
    """409 duplicate: `Already Exists: Job p:US.id`."""
    return BigQueryError(409, "duplicate", f"Already Exists: {what}")


def invalid(message: str, *, location: str | None = None) -> BigQueryError:
    """400 invalid: a request, schema or row that BigQuery refuses."""
    return BigQueryError(400, "invalid", message, location=location)


def invalid_query(message: str) -> BigQueryError:
    """400 invalidQuery: SQL that does not parse, resolve or run."""
    return BigQueryError(400, "invalidQuery", message, location="query")


def unsupported(message: str) -> BigQueryError:
    """A request BigQuery accepts but this emulator does not implement (said plainly)."""
    return BigQueryError(
        400, "invalid", f"{message} (not supported by the local BigQuery emulator)"
    )


class JobFailed(Exception):
    """A job that ran and failed: its ErrorProtos, the first being the errorResult."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", ""))
        self.errors = list(errors)
