"""Errors in the shape Google APIs send them: `{"error": {"code", "message", "status"}}`.

An output row that fails carries the error as text in its `status`. The service words it in a
few ways, reproduced here (each seen in users' reports of real output lines):
- `Bad Request: {"error": {...}}`: the HTTP reason phrase, then the error JSON, for a request
  the service refuses (an unknown field: python-genai#1313);
- `Internal error occurred. Failed to get generateContentResponse: {"error": {...}}`: the model
  call failed (a cachedContent reference: python-genai#509, GoogleCloudPlatform/generative-ai#2122);
- `RESOURCE_EXHAUSTED error occurred: {"error": {...}}`: the model's quota ran out part-way
  (python-aiplatform#4485, the most reported row failure).
"""

from __future__ import annotations

import http
import json
from typing import Any

from localcloud.serving import GoogleError

GENERATE_CONTENT_FAILED = "Internal error occurred. Failed to get generateContentResponse: "
RESOURCE_EXHAUSTED_ROW = "RESOURCE_EXHAUSTED error occurred: "


class ApiError(GoogleError):
    """An error answer: HTTP code, canonical status name and a message for people.

    `details` are google.rpc error details (e.g. a BadRequest with fieldViolations);
    `row_prefix` is what goes before the error JSON in an output row's status (the HTTP reason
    phrase when None).
    """

    def __init__(
        self,
        http_code: int,
        status: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        row_prefix: str | None = None,
    ) -> None:
        super().__init__(http_code, status, message)
        self.details = details
        self.row_prefix = row_prefix

    def response_body(self) -> dict[str, Any]:
        body = super().response_body()
        if self.details:
            body["error"]["details"] = self.details
        return body

    def body(self) -> dict[str, Any]:
        return self.response_body()

    def row_status(self) -> str:
        """The text the batch service writes in an output row's `status` for this error."""
        prefix = self.row_prefix
        if prefix is None:
            prefix = f"{http.HTTPStatus(self.http_code).phrase}: "
        return prefix + json.dumps(self.body())


def invalid_argument(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def unknown_field(name: str, path: str) -> ApiError:
    """Google's JSON parser on a field name the message does not have, with its BadRequest."""
    where = f" at '{path}'" if path else ""
    message = f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.'
    violation: dict[str, str] = {"description": message}
    if path:
        violation = {"field": path, **violation}
    details = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ]
    return ApiError(400, "INVALID_ARGUMENT", message, details=details)


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


def quota_exceeded_row(model_id: str) -> ApiError:
    """A row that ran out of the model's quota, as python-aiplatform#4485 quotes it."""
    return ApiError(
        429,
        "RESOURCE_EXHAUSTED",
        f"Online prediction request quota exceeded for {model_id}. "
        "Please try again later with backoff.",
        row_prefix=RESOURCE_EXHAUSTED_ROW,
    )


def generation_failed_row(error: ApiError) -> ApiError:
    """`error` as the row status of a failed model call."""
    return ApiError(
        error.http_code,
        error.status,
        error.message,
        details=error.details,
        row_prefix=GENERATE_CONTENT_FAILED,
    )


def cached_content_row(cached_content: str) -> ApiError:
    """Batch prediction does not support explicit context caching: a request naming a cached
    content fails its row with the service's NOT_FOUND for the cache's metadata."""
    cache_id = cached_content.rstrip("/").rsplit("/", 1)[-1]
    return generation_failed_row(not_found(f"Not found: cached content metadata for {cache_id}."))
