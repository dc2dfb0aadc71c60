"""Errors in the shape Google APIs send them: `{"error": {"code", "message", "status"}}`."""

from __future__ import annotations

import http
import json
from typing import Any

from localcloud.serving import GoogleError


class ApiError(GoogleError):
    """An error answer: HTTP code, canonical status name and a message for people."""

    def body(self) -> dict[str, Any]:
        return self.response_body()

    def row_status(self) -> str:
        """The text the batch service writes in an output row's `status` for this error."""
        phrase = http.HTTPStatus(self.http_code).phrase
        return f"{phrase}: {json.dumps(self.body())}"


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, "FAILED_PRECONDITION", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def resource_exhausted(message: str) -> ApiError:
    return ApiError(429, "RESOURCE_EXHAUSTED", message)


def unavailable(message: str) -> ApiError:
    return ApiError(503, "UNAVAILABLE", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "INTERNAL", message)
