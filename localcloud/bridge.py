"""Eventarc and Cloud Scheduler for the local cloud.

The local Cloud Storage (fake-gcs-server) publishes a notification for every new object
generation of the input bucket to a Pub/Sub topic, as a bucket's Pub/Sub notifications do.
The bridge pulls them from the topic's subscription and posts each one to the submit
function as the `google.cloud.storage.object.v1.finalized` CloudEvent that Eventarc's
storage trigger delivers, in binary content mode
(https://cloud.google.com/eventarc/docs/cloudevents):
- the data is the object resource, camelCase, int64 values as strings;
- `ce-id` is the notification's message id and `ce-time` the object's update time, so a
  retried event carries the same id and time as its first delivery;
- `ce-source` is //storage.googleapis.com/projects/_/buckets/BUCKET, `ce-subject`
  objects/NAME, `ce-bucket` the bucket; every header value is percent-encoded as the
  CloudEvents HTTP binding says (section 3.1.3.2), so that an object of any name goes
  through.

A 2xx answer acknowledges the notification. Any other answer, or none, hands it back to
Pub/Sub to be delivered again after a backoff (1 s, doubling up to 60 s), until the event is
older than 24 hours, as Eventarc retries (the function's own age guard acknowledges it long
before that). A failure to deliver one event is logged and retried; the loop goes on.
Every `--tick-seconds` the bridge publishes to the poll topic, as the scheduler job does.

    python -m localcloud.bridge --submit-url URL --subscription SUB [--tick-seconds 2] [--port N]

It reads GOOGLE_CLOUD_PROJECT and BATCHLINE_TICK_TOPIC; the Pub/Sub clients find the
emulator through PUBSUB_EMULATOR_HOST. The bridge runs on the local cloud's server kit: its
loop is the server's background work, and GET /healthz answers 503 once the loop has died
(the error is in its log).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from localcloud.serving import LocalServer
from localcloud.serving.command import command_line, serve
from localcloud.serving.logs import write

FINALIZED = "google.cloud.storage.object.v1.finalized"
OBJECT_FINALIZE = "OBJECT_FINALIZE"
# Eventarc retries an event for 24 hours; its backoff here is shorter than the platform's
# (10 s to 600 s) so that a local retry is seen at once.
MAX_EVENT_AGE = timedelta(hours=24)
BACKOFF_SECONDS = (1.0, 60.0)
# How long the submit function may take on one event before the delivery counts as failed.
DELIVERY_TIMEOUT_SECONDS = 300.0
DELIVERY_THREADS = 4

# Printable ASCII stays as it is, except space, double quote and percent.
_HEADER_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) not in '"%')


def header_value(text: str) -> str:
    """A CloudEvents attribute as an HTTP header value: space, double quote, percent and
    anything outside printable ASCII percent-encoded as UTF-8 (the CloudEvents HTTP binding,
    section 3.1.3.2)."""
    return quote(text, safe=_HEADER_SAFE)


class MalformedNotification(ValueError):
    """A notification no delivery could turn into an event (its data is not an object)."""


@dataclass(frozen=True)
class FinalizedEvent:
    """One finalized CloudEvent, ready to post: the same on every delivery attempt."""

    id: str
    time: datetime
    bucket: str
    name: str
    generation: str
    headers: Mapping[str, str]
    body: bytes


def object_resource(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A finalized event's data: the object resource of Cloud Storage's JSON API, from the
    fields of an object as fake-gcs-server describes it (a notification's data).

    int64 values are strings and times RFC 3339 in UTC with milliseconds, as Cloud Storage
    writes them; a new generation's metageneration is 1. Links are left out: they would name
    storage.googleapis.com, which the local cloud does not reach.
    """
    bucket = _text(fields, "bucket")
    name = _text(fields, "name")
    generation = str(_int64(fields["generation"]))
    created = _rfc3339(fields["timeCreated"])
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "name": name,
        "bucket": bucket,
        "generation": generation,
        "metageneration": str(_int64(fields.get("metageneration") or 1)),
        "contentType": str(fields.get("contentType") or "application/octet-stream"),
        "timeCreated": created,
        "updated": _rfc3339(fields.get("updated") or fields["timeCreated"]),
        "storageClass": str(fields.get("storageClass") or "STANDARD"),
        "timeStorageClassUpdated": created,
        "size": str(_int64(fields.get("size") or 0)),
    }
    for optional in (
        "contentEncoding",
        "contentDisposition",
        "contentLanguage",
        "cacheControl",
        "md5Hash",
        "crc32c",
        "etag",
    ):
        if fields.get(optional):
            resource[optional] = str(fields[optional])
    metadata = fields.get("metadata")
    if metadata:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata is a {type(metadata).__name__}, not an object")
        resource["metadata"] = {str(key): str(value) for key, value in metadata.items()}
    return resource


def _text(fields: Mapping[str, Any], key: str) -> str:
    value = fields[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} is {value!r}, not a name")
    return value


def _int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{value!r} is not an int64")
    return int(value)


def _rfc3339(value: Any) -> str:
    """A timestamp as Cloud Storage writes it: UTC, milliseconds, Z."""
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a timestamp")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finalized_event(
    message_id: str, attributes: Mapping[str, str], data: bytes
) -> FinalizedEvent | None:
    """The CloudEvent of one storage notification; None for a notification of another kind
    (a deletion, a metadata update), which the submit trigger does not take."""
    if attributes.get("eventType", OBJECT_FINALIZE) != OBJECT_FINALIZE:
        return None
    try:
        fields = json.loads(data)
        if not isinstance(fields, Mapping):
            raise TypeError(f"the data is a JSON {type(fields).__name__}, not an object")
        resource = object_resource(fields)
        headers = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": header_value(message_id),
            "ce-type": FINALIZED,
            "ce-source": header_value(
                f"//storage.googleapis.com/projects/_/buckets/{resource['bucket']}"
            ),
            "ce-subject": header_value(f"objects/{resource['name']}"),
            "ce-time": resource["updated"],
            "ce-bucket": header_value(resource["bucket"]),
        }
    except (KeyError, TypeError, ValueError) as exc:  # UnicodeError is a ValueError
        raise MalformedNotification(f"notification {message_id}: {exc!r}") from exc
    return FinalizedEvent(
        id=message_id,
        time=datetime.fromisoformat(resource["updated"]),
        bucket=resource["bucket"],
        name=resource["name"],
        generation=resource["generation"],
        headers=headers,
        body=json.dumps(resource).encode(),
    )


class Postable(Protocol):
    """What `post` sends: a FinalizedEvent, or any request shaped as one."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...


def post(url: str, event: Postable, timeout: float) -> int:
    """POST the event; the HTTP status the function answered (an OSError when none came)."""
    request = urllib.request.Request(
        url, data=event.body, headers=dict(event.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


class Bridge(LocalServer):
    """Finalized events from the storage notifications on `subscription`, and ticks."""

    name = "bridge"

    def __init__(
        self,
        submit_url: str,
        subscription: str,
        tick_seconds: float,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backoff_seconds: tuple[float, float] = BACKOFF_SECONDS,
        max_event_age: timedelta = MAX_EVENT_AGE,
        delivery_timeout: float = DELIVERY_TIMEOUT_SECONDS,
    ) -> None:
        from google.cloud import pubsub_v1

        super().__init__(host, port)
        self.submit_url = submit_url
        self.tick_seconds = tick_seconds
        self.backoff_seconds = backoff_seconds
        self.max_event_age = max_event_age
        self.delivery_timeout = delivery_timeout
        project = os.environ["GOOGLE_CLOUD_PROJECT"]
        self.subscriber = pubsub_v1.SubscriberClient()
        self.subscription = (
            subscription
            if subscription.startswith("projects/")
            else self.subscriber.subscription_path(project, subscription)
        )
        self.publisher = pubsub_v1.PublisherClient()
        self.tick_topic = self.publisher.topic_path(project, os.environ["BATCHLINE_TICK_TOPIC"])
        self._events: queue.Queue[FinalizedEvent | None] = queue.Queue()
        self._closing = threading.Event()
        self._deliverers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._ack_ids: dict[str, str] = {}  # event id -> the ack id of its latest delivery
        self._failures: dict[str, int] = {}  # event id -> failed deliveries so far

    def listening_fields(self) -> dict[str, Any]:
        return {"subscription": self.subscription, "submit_url": self.submit_url}

    def on_start(self) -> None:
        self._closing.clear()
        self._deliverers = [
            threading.Thread(
                target=self._deliver_forever, name=f"bridge-delivery-{number}", daemon=True
            )
            for number in range(DELIVERY_THREADS)
        ]
        for thread in self._deliverers:
            thread.start()
        self.start_worker(self.run)

    def on_stop(self) -> None:
        # A post still waiting on the function is left to finish (daemon threads: it does not
        # hold up the process's exit); events not posted yet go back to Pub/Sub at once.
        self._closing.set()
        for _ in self._deliverers:
            self._events.put(None)
        for thread in self._deliverers:
            thread.join(1.0)

    def run(self, stop: threading.Event) -> None:
        next_tick = time.monotonic()
        while not stop.is_set():
            if time.monotonic() >= next_tick:
                self.publisher.publish(self.tick_topic, b"{}", source="localcloud.bridge")
                next_tick = time.monotonic() + self.tick_seconds
            wait = min(max(next_tick - time.monotonic(), 0.2), 1.0)
            if not self.pull(wait):
                stop.wait(wait)

    def pull(self, timeout: float) -> bool:
        """Take the notifications waiting (up to `timeout` s); False when Pub/Sub failed."""
        from google.api_core import exceptions

        try:
            response = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": 100},
                timeout=timeout,
            )
        except exceptions.DeadlineExceeded:
            return True  # nothing arrived in time
        except exceptions.GoogleAPIError as exc:
            write(self.log, "WARNING", "could not pull storage notifications", error=exc)
            return False
        for received in response.received_messages:
            self.accept(received.ack_id, received.message)
        return True

    def accept(self, ack_id: str, message: Any) -> None:
        """Queue one notification's event for delivery (or settle it when it has none)."""
        try:
            event = finalized_event(message.message_id, message.attributes, message.data)
        except MalformedNotification as exc:
            write(self.log, "ERROR", "acknowledged a notification that is no event", error=exc)
            self._acknowledge(ack_id)
            return
        if event is None:
            self._acknowledge(ack_id)
            return
        with self._lock:
            # Handed out again while a delivery is still under way: that delivery settles it.
            under_way = event.id in self._ack_ids
            self._ack_ids[event.id] = ack_id
        if not under_way:
            self._events.put(event)

    def _deliver_forever(self) -> None:
        while (event := self._events.get()) is not None:
            if self._closing.is_set():
                self._give_back(event)
                continue
            try:
                self.deliver(event)
            except Exception as exc:  # one event must never stop the deliveries: retried
                write(self.log, "ERROR", "could not deliver an event", error=exc, event_id=event.id)
                self._settle(event, None)

    def deliver(self, event: FinalizedEvent) -> None:
        """Post the event once and settle it by the answer."""
        try:
            status: int | None = post(self.submit_url, event, self.delivery_timeout)
        except (OSError, http.client.HTTPException) as exc:
            write(self.log, "WARNING", "submit gave no answer", reason=repr(exc), event_id=event.id)
            status = None
        self._settle(event, status)

    def _settle(self, event: FinalizedEvent, status: int | None) -> None:
        """Acknowledge an accepted event; hand any other back to Pub/Sub for a retry after
        a backoff, until the event is older than `max_event_age`."""
        accepted = status is not None and 200 <= status < 300
        age = datetime.now(UTC) - event.time
        with self._lock:
            ack_id = self._ack_ids.pop(event.id, "")
            failures = self._failures.pop(event.id, 0) + (0 if accepted else 1)
            retry = not accepted and age <= self.max_event_age
            if retry:
                self._failures[event.id] = failures
        fields = {
            "event_id": event.id,
            "bucket": event.bucket,
            "object": event.name,
            "generation": event.generation,
            "status": status,
        }
        if accepted:
            write(self.log, "INFO", "delivered a finalized event", **fields)
            self._acknowledge(ack_id)
        elif not retry:
            message = f"gave up on a finalized event {age} old: past {self.max_event_age}"
            write(self.log, "ERROR", message, attempts=failures, **fields)
            self._acknowledge(ack_id)
        else:
            low, high = self.backoff_seconds
            delay = min(high, low * 2 ** (failures - 1))
            message = f"submit did not accept the event; delivering it again in {delay:.0f} s"
            write(self.log, "WARNING", message, attempt=failures, **fields)
            self._modify_deadline(ack_id, delay)

    def _give_back(self, event: FinalizedEvent) -> None:
        with self._lock:
            ack_id = self._ack_ids.pop(event.id, "")
        self._modify_deadline(ack_id, 0)

    def _acknowledge(self, ack_id: str) -> None:
        from google.api_core import exceptions

        try:
            self.subscriber.acknowledge(
                request={"subscription": self.subscription, "ack_ids": [ack_id]}
            )
        except exceptions.GoogleAPIError as exc:  # it comes back, and is delivered again
            write(self.log, "WARNING", "could not acknowledge a notification", error=exc)

    def _modify_deadline(self, ack_id: str, seconds: float) -> None:
        from google.api_core import exceptions

        try:
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": [ack_id],
                    "ack_deadline_seconds": math.ceil(seconds),
                }
            )
        except exceptions.GoogleAPIError as exc:  # it comes back at its deadline instead
            write(self.log, "WARNING", "could not schedule a notification's retry", error=exc)


def main(argv: list[str] | None = None) -> int:
    parser = command_line("python -m localcloud.bridge", __doc__ or "")
    parser.add_argument("--submit-url", required=True)
    parser.add_argument(
        "--subscription", required=True, help="the pull subscription of the storage notifications"
    )
    parser.add_argument("--tick-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    return serve(
        lambda: Bridge(args.submit_url, args.subscription, args.tick_seconds, args.host, args.port)
    )


if __name__ == "__main__":
    sys.exit(main())
