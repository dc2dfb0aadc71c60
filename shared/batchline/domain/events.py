"""Event payloads parsed into types at the edge (no cloud client here).

The platform sends CloudEvents: `google.cloud.storage.object.v1.finalized` with the object
resource in camelCase (int64 values as strings), and
`google.cloud.pubsub.topic.v1.messagePublished` with a base64 message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from batchline.domain.errors import PermanentError

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"

# Cloud Storage's limits (https://cloud.google.com/storage/docs/objects#naming and
# https://cloud.google.com/storage/docs/buckets#naming): a generation is a positive int64, an
# object name 1 to 1,024 bytes of UTF-8, a bucket name 3 to 222 characters.
MAX_GENERATION = 2**63 - 1
MAX_OBJECT_NAME_BYTES = 1024
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
# A generation as JSON carries it: decimal digits, ASCII only (a sign is refused further on).
_DECIMAL = re.compile(r"-?[0-9]{1,40}")


@dataclass(frozen=True)
class StorageObject:
    """The object a finalized event announces (one generation of it)."""

    bucket: str
    name: str
    generation: int
    size: int
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    time_created: datetime | None = None

    @property
    def uri(self) -> str:
        """gs://bucket/object#generation: names this exact upload."""
        return f"gs://{self.bucket}/{self.name}#{self.generation}"


@dataclass(frozen=True)
class PubSubMessage:
    data: bytes
    attributes: Mapping[str, str]
    message_id: str
    publish_time: datetime | None

    def json(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PermanentError(f"message {self.message_id}: body is not JSON: {exc}") from exc


@dataclass(frozen=True)
class Event:
    """What every handler needs from a CloudEvent's attributes."""

    id: str
    type: str
    source: str
    time: datetime | None


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime (None when absent)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise PermanentError(f"not an RFC 3339 timestamp: {text!r}") from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_of(cloud_event: Any) -> Event:
    """The attributes of a cloudevents CloudEvent (anything indexable by attribute name)."""
    return Event(
        id=str(cloud_event["id"]),
        type=str(cloud_event["type"]),
        source=str(cloud_event["source"]),
        time=parse_time(cloud_event.get("time") if hasattr(cloud_event, "get") else None),
    )


def storage_object(data: Any) -> StorageObject:
    """The object resource of a storage event; anything Cloud Storage could not have sent
    (a generation out of range, a name it does not allow) is a PermanentError."""
    if not isinstance(data, Mapping):
        raise PermanentError(f"storage event data is not an object: {type(data).__name__}")
    try:
        obj = StorageObject(
            bucket=_text(data["bucket"], "bucket"),
            name=_text(data["name"], "name"),
            generation=_int64(data["generation"], "generation"),
            size=int(data.get("size") or 0),
            content_type=str(data.get("contentType") or ""),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            time_created=parse_time(data.get("timeCreated")),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise PermanentError(f"storage event data lacks a valid {exc}") from exc
    if not _BUCKET_NAME.fullmatch(obj.bucket):
        raise PermanentError(f"storage event names no valid bucket: {obj.bucket[:80]!r}")
    try:
        size = len(obj.name.encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate: JSON allows it, Unicode does not
        raise PermanentError(f"storage event object name is not valid Unicode: {exc}") from exc
    if not 1 <= size <= MAX_OBJECT_NAME_BYTES:
        raise PermanentError(
            f"storage event object name is {size} bytes: Cloud Storage names are 1 to "
            f"{MAX_OBJECT_NAME_BYTES} bytes of UTF-8 (it starts {obj.name[:60]!r})"
        )
    return obj


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name!r}: expected a string, got {type(value).__name__}")
    return value


def _int64(value: Any, name: str) -> int:
    """A positive int64 given as a decimal string or an integer (JSON carries int64 as text)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name!r}: expected an int64, got {type(value).__name__}")
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        # int() would also take " 12 ", "1_2" and digits of other scripts.
        raise ValueError(f"{name!r}: {value[:40]!r} is not a decimal int64")
    number = int(value)
    if not 1 <= number <= MAX_GENERATION:
        raise ValueError(f"{name!r}: {value} is not a positive int64")
    return number


def pubsub_message(data: Any) -> PubSubMessage:
    """The message of a Pub/Sub messagePublished event."""
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        raise PermanentError("Pub/Sub event data has no message")
    try:
        body = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(f"Pub/Sub message data is not base64: {exc}") from exc
    return PubSubMessage(
        data=body,
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time=parse_time(message.get("publishTime") or message.get("publish_time")),
    )


def age(event_time: datetime | None, now: datetime | None = None) -> float:
    """Seconds since the event happened (0 when the event carries no time)."""
    if event_time is None:
        return 0.0
    return ((now or datetime.now(UTC)) - event_time).total_seconds()
