"""The public completion notification: its attributes and its JSON body (no cloud client).

Subscribers filter on the attributes `event`, `bucket`, `object` and `status`; the body is
JSON with `schema_version` so that it can grow without breaking them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
FILE_REJECTED = "file.rejected"
# Over a cost limit: not submitted until `batchline release` (then a job.* notification ends it).
FILE_HELD = "file.held"
STATUS_OF_EVENT = {
    JOB_SUCCEEDED: "succeeded",
    JOB_FAILED: "failed",
    FILE_REJECTED: "rejected",
    FILE_HELD: "held",
}


@dataclass(frozen=True)
class Notification:
    event: str
    bucket: str
    object: str
    generation: int
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source_uri(self) -> str:
        return f"gs://{self.bucket}/{self.object}#{self.generation}"

    def attributes(self) -> dict[str, str]:
        return {
            "event": self.event,
            "bucket": self.bucket,
            "object": self.object,
            "status": STATUS_OF_EVENT[self.event],
        }

    def data(self, now: datetime | None = None) -> bytes:
        document = {
            "schema_version": SCHEMA_VERSION,
            "event": self.event,
            "source_uri": self.source_uri,
            "bucket": self.bucket,
            "object": self.object,
            "generation": str(self.generation),
            **self.body,
            "published_time": _timestamp(now or datetime.now(UTC)),
        }
        return json.dumps(document, sort_keys=True, default=_json_default).encode("utf-8")


def rejected(
    bucket: str,
    name: str,
    generation: int,
    *,
    report_uri: str,
    error_count: int,
    requests: int,
    first_errors: Sequence[str],
) -> Notification:
    return Notification(
        FILE_REJECTED,
        bucket,
        name,
        generation,
        {
            "report_uri": report_uri,
            "error_count": error_count,
            "valid_requests": requests,
            "first_errors": list(first_errors),
        },
    )


def held(
    bucket: str,
    name: str,
    generation: int,
    *,
    report_uri: str,
    estimate: Mapping[str, Any],
    hold: Mapping[str, Any],
) -> Notification:
    """A file held by the budget guard: its estimate, the limit it met, how to release it."""
    return Notification(
        FILE_HELD,
        bucket,
        name,
        generation,
        {
            "report_uri": report_uri,
            "estimate": dict(estimate),
            "hold": dict(hold),
            "release_command": f"batchline release gs://{bucket}/{name}#{generation}",
        },
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
