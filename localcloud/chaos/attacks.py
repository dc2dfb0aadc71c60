"""What the chaos suite does to the local cloud from outside: duplicated events, injected
429/503 answers, and malformed events posted straight to the functions.

- Duplicates: every storage notification is delivered to the submit function once more
  with the same CloudEvent id (as Eventarc redelivers) and published again (a new id, as
  Cloud Storage's at-least-once notifications may repeat); every job-finished message is
  published again, so the complete function sees each job twice or more.
- Faults: Vertex AI answers 429 and 503 to creates and reads, fails a share of each first
  attempt's rows with RESOURCE_EXHAUSTED (so that resumes run); BigQuery answers 429 and 503.
- Malformed events: generations that are no int64 (0, -7, 2**70, text), a 100 KB name, a
  body nested 100,000 levels deep, a body that is no JSON, the wrong content type, a request
  that is no CloudEvent at all, messages whose data is no job-finished message. Each must be
  answered 2xx (acknowledged, never retried) with an error log line naming its event id.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.bridge import FINALIZED, finalized_event, header_value, post

COPY_ATTRIBUTE = "chaos_copy"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
POST_TIMEOUT_SECONDS = 60.0
# An object the suite never writes: its event must end as a job.failed notification.
GONE_NAME = "chaos/gone.jsonl"
GONE_GENERATION = 1234567

VERTEX_FAULTS = {
    "create_429": 2,
    "create_503": 2,
    "get_429": 3,
    "get_503": 3,
    "row_failure_rate": 0.1,
    "row_failure_code": 429,
    "faulty_jobs_label": "batchline_attempt=1",  # the resumes succeed: a storm that passes
}
COUNTED_VERTEX_FAULTS = ("create_429", "create_503", "get_429", "get_503")
BIGQUERY_FAULTS = (
    {"status": 429, "count": 2, "reason": "rateLimitExceeded"},
    {"status": 503, "count": 2, "reason": "backendError"},
)


def _request(url: str, method: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def inject_faults(vertex_url: str, bigquery_url: str) -> None:
    _request(f"{vertex_url}/admin/faults", "POST", VERTEX_FAULTS)
    for fault in BIGQUERY_FAULTS:
        _request(f"{bigquery_url}/admin/faults", "POST", fault)


def faults_left(vertex_url: str, bigquery_url: str) -> dict[str, int]:
    """The injected answers not used up yet, by name (empty when every one was given)."""
    vertex = _request(f"{vertex_url}/admin/faults", "GET")
    left = Counter({f"vertex {name}": int(vertex[name]) for name in COUNTED_VERTEX_FAULTS})
    for entry in _request(f"{bigquery_url}/admin/faults", "GET")["pending"]:
        left[f"bigquery {entry['status']}"] += int(entry["count"])
    return {name: count for name, count in left.items() if count}


@dataclass
class Duplicator:
    """Delivers every storage notification twice more and every finished message once more."""

    project: str
    submit_url: str
    notifications: str  # subscription paths of the suite's own
    finished: str
    copies: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for subscription, copy in ((self.notifications, self._copy_upload), (self.finished, None)):
            thread = threading.Thread(
                target=self._run, args=(subscription, copy), name="chaos-duplicator", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self, subscription: str, also: Any) -> None:
        from google.api_core import exceptions
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        publisher = pubsub_v1.PublisherClient()
        topic = subscriber.get_subscription(subscription=subscription).topic
        while not self._stop.is_set():
            try:
                response = subscriber.pull(
                    request={"subscription": subscription, "max_messages": 50}, timeout=2
                )
            except exceptions.DeadlineExceeded:
                continue
            for received in response.received_messages:
                message = received.message
                if COPY_ATTRIBUTE not in message.attributes:
                    attributes = {**message.attributes, COPY_ATTRIBUTE: "1"}
                    publisher.publish(topic, message.data, **attributes).result(timeout=30)
                    self._count()
                    if also is not None:
                        also(message)
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [received.ack_id]}
                )

    def _count(self) -> None:
        with self._lock:
            self.copies += 1

    def _copy_upload(self, message: Any) -> None:
        """The same CloudEvent (same id) once more to the submit function, as a redelivery."""
        event = finalized_event(message.message_id, message.attributes, message.data)
        if event is None:
            return

        def deliver() -> None:
            # The function may be down at that moment (a kill): then this copy is lost.
            with contextlib.suppress(OSError, http.client.HTTPException):
                post(self.submit_url, event, POST_TIMEOUT_SECONDS)
            self._count()

        threading.Thread(target=deliver, name="chaos-redelivery", daemon=True).start()


@dataclass(frozen=True)
class MalformedEvent:
    function: str
    description: str
    event_id: str  # "" for a request that carries none
    headers: Mapping[str, str]
    body: bytes


def _storage_headers(event_id: str, bucket: str, name: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": header_value(f"objects/{name}"),
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "ce-bucket": bucket,
    }


def _object(bucket: str, name: str, generation: str) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    resource = {
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "generation": generation,
        "metageneration": "1",
        "contentType": "application/jsonl",
        "size": "10",
        "timeCreated": now,
        "updated": now,
    }
    return json.dumps(resource).encode()


def _published_headers(event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": PUBLISHED,
        "ce-source": "//pubsub.googleapis.com/projects/batchline-local/topics/chaos",
        "ce-time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def _message(data: bytes, attributes: Mapping[str, str] | None = None) -> bytes:
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": dict(attributes or {}),
            "messageId": "1",
        },
        "subscription": "projects/batchline-local/subscriptions/chaos",
    }
    return json.dumps(envelope).encode()


def gone_event(bucket: str) -> MalformedEvent:
    """A well-formed event for a generation that does not exist (replaced, deleted)."""
    name, generation = GONE_NAME, str(GONE_GENERATION)
    return MalformedEvent(
        "submit",
        "an object that no longer exists",
        "chaos-gone",
        _storage_headers("chaos-gone", bucket, name),
        _object(bucket, name, generation),
    )


def malformed_events(bucket: str) -> list[MalformedEvent]:
    deep = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    name = "chaos/malformed.jsonl"
    events: list[MalformedEvent] = []
    for number, generation in enumerate(("0", "-7", str(2**70), "latest")):
        event_id = f"chaos-generation-{number}"
        events.append(
            MalformedEvent(
                "submit",
                f"generation {generation}",
                event_id,
                _storage_headers(event_id, bucket, name),
                _object(bucket, name, generation),
            )
        )
    long_name = "chaos/" + "x" * 100_000
    events += [
        MalformedEvent(
            "submit",
            "a 100 KB object name",
            "chaos-long-name",
            _storage_headers("chaos-long-name", bucket, "chaos/long"),
            _object(bucket, long_name, "1"),
        ),
        MalformedEvent(
            "submit",
            "a body nested 100,000 levels deep",
            "chaos-deep",
            _storage_headers("chaos-deep", bucket, name),
            deep,
        ),
        MalformedEvent(
            "submit",
            "a body that is no JSON",
            "chaos-not-json",
            _storage_headers("chaos-not-json", bucket, name),
            b"\xff\xfe not json",
        ),
        MalformedEvent(
            "submit",
            "the wrong content type",
            "chaos-content-type",
            {**_storage_headers("chaos-content-type", bucket, name), "Content-Type": "text/plain"},
            b"hello",
        ),
        MalformedEvent(
            "submit",
            "a request that is no CloudEvent",
            "",
            {"Content-Type": "application/json"},
            b'{"hello": "world"}',
        ),
        MalformedEvent(
            "complete",
            "message data that is no JSON",
            "chaos-finished-not-json",
            _published_headers("chaos-finished-not-json"),
            _message(b"not json at all"),
        ),
        MalformedEvent(
            "complete",
            "a finished message for no attempt",
            "chaos-finished-unknown",
            _published_headers("chaos-finished-unknown"),
            _message(json.dumps({"attempt_id": "no-such-attempt"}).encode()),
        ),
        MalformedEvent(
            "complete",
            "a body nested 100,000 levels deep",
            "chaos-finished-deep",
            _published_headers("chaos-finished-deep"),
            deep,
        ),
        MalformedEvent(
            "poll",
            "a body nested 100,000 levels deep",
            "chaos-tick-deep",
            _published_headers("chaos-tick-deep"),
            deep,
        ),
    ]
    return events


def send(url: str, event: MalformedEvent) -> int | str:
    """POST the event; the HTTP status, or the error when no answer came."""
    try:
        return post(url, event, POST_TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException) as exc:
        return repr(exc)
