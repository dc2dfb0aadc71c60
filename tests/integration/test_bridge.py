"""The bridge on the server kit, in-process against the storage and Pub/Sub emulators:
one finalized CloudEvent per new object generation (retried when submit fails), ticks on
the poll topic, health while its loop runs."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage
from werkzeug.wrappers import Request

from localcloud.bridge import FINALIZED, Bridge
from localcloud.serving import GoogleError, InjectedError, LocalServer, Reply, Route

pytestmark = pytest.mark.integration

PROJECT = "batchline-test"


class Submit(LocalServer):
    """Stands in for the submit function: records the CloudEvents it accepts."""

    name = "submit"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[dict[str, str], dict[str, Any]]] = []

    def routes(self) -> list[Route]:
        return [Route(("POST",), "/", "submit", self._receive)]

    def _receive(self, request: Request) -> Reply:
        self.events.append((dict(request.headers), json.loads(request.get_data())))
        return Reply(204)


def eventually(condition: Callable[[], bool], attempts: int = 600) -> None:
    pause = threading.Event()
    for _ in range(attempts):
        if condition():
            return
        pause.wait(0.05)
    raise AssertionError("condition not met")


@pytest.fixture
def bucket(storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> storage.Bucket:
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    created = client.create_bucket(f"bridge-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("BATCHLINE_INPUT_BUCKET", created.name)
    return created


@pytest.fixture
def ticks(pubsub_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tick topic with a pull subscription: the subscription's path."""
    topic_id = f"tick-{uuid.uuid4().hex[:12]}"
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name=publisher.topic_path(PROJECT, topic_id)).name
    subscription = subscriber.subscription_path(PROJECT, topic_id)
    subscriber.create_subscription(name=subscription, topic=topic)
    monkeypatch.setenv("BATCHLINE_TICK_TOPIC", topic_id)
    yield subscription
    subscriber.delete_subscription(subscription=subscription)
    publisher.delete_topic(topic=topic)


def test_each_new_generation_is_delivered_once_even_after_a_failed_delivery(
    bucket: storage.Bucket, ticks: str
) -> None:
    with Submit() as submit:
        submit.faults.add(InjectedError(GoogleError.of_status(503, "cold start")))
        first = bucket.blob("a.jsonl")
        first.upload_from_string(b'{"request": {}}\n')
        with Bridge(submit.url, tick_seconds=0.2) as bridge:
            eventually(lambda: len(submit.events) == 1)
            second = bucket.blob("b.jsonl")
            second.upload_from_string(b'{"request": {}}\n')
            eventually(lambda: len(submit.events) == 2)
            with urllib.request.urlopen(f"{bridge.url}/healthz", timeout=5) as answer:
                assert json.load(answer) == {"status": "ok"}

    # The 503 was answered before the function ran; the retry delivered it once.
    assert submit.faults.pending() == []
    (headers, data), (_, later) = submit.events
    assert headers["Ce-Type"] == FINALIZED
    assert headers["Ce-Source"] == f"//storage.googleapis.com/projects/_/buckets/{bucket.name}"
    assert headers["Ce-Subject"] == "objects/a.jsonl"
    assert (data["name"], data["generation"]) == ("a.jsonl", str(first.generation))
    assert (later["name"], later["generation"]) == ("b.jsonl", str(second.generation))


def test_ticks_are_published_to_the_poll_topic(bucket: storage.Bucket, ticks: str) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    with Submit() as submit, Bridge(submit.url, tick_seconds=0.1):
        received: list[Any] = []

        def pulled() -> bool:
            answer = subscriber.pull(subscription=ticks, max_messages=10, timeout=5)
            received.extend(message.message for message in answer.received_messages)
            return bool(received)

        eventually(pulled, attempts=100)
    assert received[0].data == b"{}"
    assert received[0].attributes["source"] == "localcloud.bridge"
