"""The bridge on the server kit, in-process, on fake-gcs-server's object notifications through
the Pub/Sub emulator: one finalized CloudEvent per new object generation, named exactly
whatever the name; a refused event delivered again with the same id and time; a notification
that is no event acknowledged without stopping anything; ticks on the poll topic.

What Eventarc sends is https://cloud.google.com/eventarc/docs/cloudevents (binary content
mode); header values are percent-encoded as the CloudEvents HTTP binding says (section
3.1.3.2), and fake-gcs-server publishes what a bucket's Pub/Sub notifications do
(https://cloud.google.com/storage/docs/pubsub-notifications).
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from werkzeug.wrappers import Request

from batchline.domain.events import storage_object
from localcloud.bridge import FINALIZED, Bridge, header_value
from localcloud.resources import create_notification_topic, notification_topic
from localcloud.serving import GoogleError, InjectedError, LocalServer, Reply, Route
from localcloud.storage import Notifications, start_storage

pytestmark = pytest.mark.integration

PROJECT = "batchline-test"


@dataclass(frozen=True)
class Delivery:
    status: int
    headers: dict[str, str]
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        return unquote(self.headers["Ce-Subject"])


class Submit(LocalServer):
    """Stands in for the submit function: records every delivery and how it was answered
    (injected faults included: they are answered before the handler runs)."""

    name = "submit"

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[Delivery] = []

    def routes(self) -> list[Route]:
        return [Route(("POST",), "/", "submit", lambda request: Reply(204))]

    def answered(self, route: Route, request: Request, reply: Reply) -> None:
        self.deliveries.append(
            Delivery(reply.status, dict(request.headers), json.loads(request.get_data()))
        )

    def accepted(self) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if delivery.status == 204]


@dataclass(frozen=True)
class Input:
    """A bucket whose new objects fake-gcs-server announces on `subscription`."""

    bucket: storage.Bucket
    topic: str
    subscription: str

    def upload(self, name: str, data: bytes = b'{"request": {}}\n') -> storage.Blob:
        blob = self.bucket.blob(name)
        blob.upload_from_string(data, content_type="application/jsonl")
        return blob


def eventually(condition: Callable[[], bool], attempts: int = 600) -> None:
    pause = threading.Event()
    for _ in range(attempts):
        if condition():
            return
        pause.wait(0.05)
    raise AssertionError("condition not met")


def healthy(bridge: Bridge) -> bool:
    with urllib.request.urlopen(f"{bridge.url}/healthz", timeout=5) as answer:
        return bool(json.load(answer) == {"status": "ok"})


@pytest.fixture
def ticks(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tick topic with a pull subscription: the subscription's path."""
    topic_id = f"tick-{uuid.uuid4().hex[:12]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name=publisher.topic_path(PROJECT, topic_id)).name
    subscription = subscriber.subscription_path(PROJECT, topic_id)
    subscriber.create_subscription(name=subscription, topic=topic)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("BATCHLINE_TICK_TOPIC", topic_id)
    yield subscription
    subscriber.delete_subscription(subscription=subscription)
    publisher.delete_topic(topic=topic)


@pytest.fixture
def uploads(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Input]:
    """A fake-gcs-server of its own that notifies the new objects of one versioned bucket,
    as the local cloud's storage does for the input bucket."""
    name = f"bridge-{uuid.uuid4().hex[:12]}"
    subscription = create_notification_topic(PROJECT, name)
    topic = f"projects/{PROJECT}/topics/{notification_topic(name)}"
    notifications = Notifications(PROJECT, notification_topic(name), pubsub_emulator, name)
    with start_storage(notifications=notifications) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        bucket = client.bucket(name)
        bucket.versioning_enabled = True
        bucket.create()
        yield Input(bucket, topic, subscription)


NAMES = [
    "レビュー/評価 2026.jsonl",
    "emoji 😀🚀.jsonl",
    'spaces and "quotes".jsonl',
    "#hash.jsonl",
    "?query=1&x=2.jsonl",
    "100% done %41.jsonl",
    "two\nlines.jsonl",
    "long/" + "é" * 506 + "x.jsonl",  # 5 + 1,012 + 7 = 1,024 bytes: the longest allowed
]


def test_objects_of_any_name_each_give_one_event_that_names_them_exactly(
    uploads: Input, ticks: str
) -> None:
    assert len(NAMES[-1].encode()) == 1024
    blobs = {name: uploads.upload(name) for name in NAMES}
    with Submit() as submit, Bridge(submit.url, uploads.subscription, tick_seconds=5) as bridge:
        eventually(lambda: len(submit.deliveries) >= len(NAMES))
        assert healthy(bridge)

    events = {delivery.data["name"]: delivery for delivery in submit.deliveries}
    assert sorted(events) == sorted(NAMES), "one event per object, each naming it exactly"
    assert len(submit.deliveries) == len(NAMES)
    assert len({delivery.headers["Ce-Id"] for delivery in submit.deliveries}) == len(NAMES)
    for name, blob in blobs.items():
        event = events[name]
        headers, data = event.headers, event.data
        assert headers["Ce-Type"] == FINALIZED and headers["Ce-Specversion"] == "1.0"
        assert headers["Ce-Source"] == (
            f"//storage.googleapis.com/projects/_/buckets/{uploads.bucket.name}"
        )
        assert headers["Ce-Bucket"] == uploads.bucket.name
        assert event.subject == f"objects/{name}"
        assert headers["Ce-Subject"] == header_value(f"objects/{name}")
        assert all(0x20 < ord(c) < 0x7F for c in headers["Ce-Subject"]), "printable ASCII only"
        assert headers["Ce-Time"] == data["updated"] and data["updated"].endswith("Z")
        assert data["generation"] == str(blob.generation) and data["metageneration"] == "1"
        assert data["id"] == f"{uploads.bucket.name}/{name}/{blob.generation}"
        assert data["size"] == str(len(b'{"request": {}}\n'))
        # What the submit function makes of it.
        parsed = storage_object(data)
        assert (parsed.name, parsed.generation) == (name, blob.generation)
    assert "%0A" in events["two\nlines.jsonl"].headers["Ce-Subject"]
    assert events["100% done %41.jsonl"].subject == "objects/100% done %41.jsonl"


def test_a_refused_event_comes_again_with_its_id_and_time_until_accepted(
    uploads: Input, ticks: str
) -> None:
    with Submit() as submit:
        submit.faults.add(InjectedError(GoogleError.of_status(500, "crashed"), count=2))
        uploads.upload("retried.jsonl")
        with Bridge(submit.url, uploads.subscription, tick_seconds=5) as bridge:
            eventually(lambda: len(submit.deliveries) >= 1)
            assert healthy(bridge)
            eventually(lambda: len(submit.accepted()) == 1, attempts=400)
            assert healthy(bridge)

    assert [delivery.status for delivery in submit.deliveries] == [500, 500, 204]
    first = submit.deliveries[0]
    for again in submit.deliveries[1:]:
        assert again.headers["Ce-Id"] == first.headers["Ce-Id"]
        assert again.headers["Ce-Time"] == first.headers["Ce-Time"]
        assert again.data == first.data


def test_an_overwrite_gives_a_second_event_with_the_new_generation(
    uploads: Input, ticks: str
) -> None:
    with Submit() as submit, Bridge(submit.url, uploads.subscription, tick_seconds=5):
        first = uploads.upload("same.jsonl", b'{"request": {"v": 1}}\n')
        eventually(lambda: len(submit.deliveries) == 1)
        second = uploads.upload("same.jsonl", b'{"request": {"v": 2}}\n')
        eventually(lambda: len(submit.deliveries) == 2)

    assert first.generation != second.generation
    generations = [delivery.data["generation"] for delivery in submit.deliveries]
    assert generations == [str(first.generation), str(second.generation)]
    assert submit.deliveries[0].headers["Ce-Id"] != submit.deliveries[1].headers["Ce-Id"]


def test_a_notification_that_is_no_event_is_acknowledged_and_the_bridge_goes_on(
    uploads: Input, ticks: str, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(uploads.topic, b"not json", eventType="OBJECT_FINALIZE").result()
    publisher.publish(uploads.topic, b"{}", eventType="OBJECT_DELETE").result()
    with Submit() as submit, Bridge(submit.url, uploads.subscription, tick_seconds=5) as bridge:
        uploads.upload("after.jsonl")
        eventually(lambda: len(submit.deliveries) == 1)
        assert healthy(bridge)
    assert submit.deliveries[0].data["name"] == "after.jsonl"
    assert "acknowledged a notification that is no event" in caplog.text


def test_ticks_are_published_to_the_poll_topic(uploads: Input, ticks: str) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    with Submit() as submit, Bridge(submit.url, uploads.subscription, tick_seconds=0.1):
        received: list[Any] = []

        def pulled() -> bool:
            answer = subscriber.pull(subscription=ticks, max_messages=10, timeout=5)
            received.extend(message.message for message in answer.received_messages)
            return bool(received)

        eventually(pulled, attempts=100)
    assert received[0].data == b"{}"
    assert received[0].attributes["source"] == "localcloud.bridge"
