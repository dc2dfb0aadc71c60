"""The public completion notification: its body (domain) and its publishing.

Subscribers filter on the attributes `event`, `bucket`, `object` and `status`; the body is
JSON with `schema_version` so that it can grow without breaking them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
FILE_REJECTED = "file.rejected"
STATUS_OF_EVENT = {JOB_SUCCEEDED: "succeeded", JOB_FAILED: "failed", FILE_REJECTED: "rejected"}


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


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Publisher:
    """Publishes to one topic and waits for the server's acknowledgement."""

    def __init__(self, client: Any, topic_path: str) -> None:
        self._client = client
        self._topic = topic_path

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        future = self._client.publish(self._topic, data, **attributes)
        return str(future.result(timeout=60))

    def notify(self, notification: Notification) -> str:
        return self.publish(notification.data(), notification.attributes())


def await_notifications(
    subscriber: Any,
    subscription: str,
    wanted: Mapping[str, int],
    *,
    timeout: float,
    on_progress: Callable[[Mapping[str, Mapping[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Pull a subscription on the completion topic until every wanted upload (object name ->
    generation) has its notification, or `timeout` seconds pass; the bodies by object name.

    Wanted messages are acknowledged; any other is handed straight back, so that other
    readers of a shared subscription still get it. `on_progress` sees what arrived so far
    after each pull.
    """
    from google.api_core.exceptions import DeadlineExceeded

    received: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(received) < len(wanted) and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 10},
                timeout=max(1.0, min(30.0, deadline - time.monotonic())),
            )
        except DeadlineExceeded:
            response = None  # nothing arrived within the pull's own wait
        for message in response.received_messages if response else ():
            name = message.message.attributes.get("object", "")
            body = _json_object(message.message.data)
            mine = name in wanted and body.get("generation") == str(wanted[name])
            if mine:
                received[name] = body
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [message.ack_id]}
                )
            else:
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": subscription,
                        "ack_ids": [message.ack_id],
                        "ack_deadline_seconds": 0,
                    }
                )
        if on_progress is not None:
            on_progress(received)
        if not response or not response.received_messages:
            time.sleep(0.5)
    return received


def _json_object(data: bytes) -> dict[str, Any]:
    """A message body as a JSON object ({} for one that is not a notification)."""
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
