"""The finalized CloudEvent the bridge makes of a storage notification, without a network.

The notification is what fake-gcs-server publishes (tests/fixtures/events/storage_notification.json,
as a bucket's Pub/Sub notifications: https://cloud.google.com/storage/docs/pubsub-notifications);
the event is checked against the one Eventarc documents (storage_object_finalized.json,
https://cloud.google.com/eventarc/docs/cloudevents).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchline.domain.events import storage_object
from localcloud.bridge import FINALIZED, MalformedNotification, finalized_event, header_value

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def test_header_values_are_percent_encoded_as_the_http_binding_says() -> None:
    # The example of the CloudEvents HTTP binding, section 3.1.3.2.
    assert header_value("Euro € 😀") == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert header_value('objects/a "b"%\n#?&=+/') == "objects/a%20%22b%22%25%0A#?&=+/"


def test_a_notification_becomes_the_documented_finalized_event() -> None:
    notification = fixture("storage_notification.json")
    documented = fixture("storage_object_finalized.json")
    event = finalized_event(
        notification["message_id"],
        notification["attributes"],
        json.dumps(notification["data"]).encode(),
    )
    assert event is not None
    data = json.loads(event.body)
    # Every field Eventarc documents but the links and the etag, which would name Google.
    assert set(documented["data"]) - set(data) == {"selfLink", "mediaLink", "etag"}
    assert data["id"] == "my-input-bucket/reviews/2026-11-27.jsonl/1796165999564236"
    assert (data["generation"], data["metageneration"], data["size"]) == (
        "1796165999564236",
        "1",
        "1036",
    )
    assert (data["timeCreated"], data["updated"]) == (
        "2026-11-27T18:13:16.826Z",
        "2026-11-27T18:13:16.826Z",
    )
    assert event.headers["ce-id"] == "7"
    assert event.headers["ce-time"] == data["updated"]
    assert event.headers["ce-type"] == FINALIZED == documented["attributes"]["type"]
    for attribute in ("source", "subject", "bucket", "specversion"):
        assert event.headers[f"ce-{attribute}"] == documented["attributes"][attribute]
    assert storage_object(data).metadata == {"model": "gemini-3.5-flash-lite"}


def test_a_notification_of_another_kind_is_no_event_and_bad_data_is_refused() -> None:
    notification = fixture("storage_notification.json")
    body = json.dumps(notification["data"]).encode()
    deleted = {**notification["attributes"], "eventType": "OBJECT_DELETE"}
    assert finalized_event("8", deleted, body) is None
    no_generation = json.dumps({**notification["data"], "generation": None}).encode()
    for data in (b"not json", b"[]", no_generation):
        with pytest.raises(MalformedNotification, match="notification 9"):
            finalized_event("9", notification["attributes"], data)
