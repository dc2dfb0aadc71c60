"""The functions' handlers with CloudEvents as the platform sends them, no network.

An acknowledged event answers 200; anything else makes the platform deliver it again.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pipeline_support import EXAMPLE_SETTINGS, fixture_event, post_event

from batchline.runtime import clients, settings, wiring

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings at all: what the handler does must not need them."""
    for name in settings.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    settings.reset_settings()
    clients.reset_clients()
    wiring.reset()


def test_an_event_of_another_type_is_acknowledged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = fixture_event("storage_object_finalized.json")
    event["attributes"]["type"] = "google.cloud.storage.object.v1.deleted"
    assert post_event("submit", event["attributes"], event["data"]) == 200
    assert "ignored an event of type google.cloud.storage.object.v1.deleted" in caplog.text


@pytest.mark.parametrize("missing", ["generation", "name", "bucket"])
def test_a_malformed_upload_event_is_acknowledged_not_retried(
    missing: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = fixture_event("storage_object_finalized.json")
    del event["data"][missing]
    assert post_event("submit", event["attributes"], event["data"]) == 200
    assert f"storage event data lacks a valid '{missing}'" in caplog.text


def test_a_job_finished_message_that_is_not_base64_is_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = fixture_event("pubsub_message_published.json")
    event["data"]["message"]["data"] = "%%% not base64 %%%"
    assert post_event("complete", event["attributes"], event["data"]) == 200
    assert "not base64" in caplog.text


def test_a_good_event_without_configuration_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    """A missing setting is fixed by redeploying: the event must survive until then."""
    event = fixture_event("storage_object_finalized.json")
    assert post_event("submit", event["attributes"], event["data"]) == 500
    assert "GOOGLE_CLOUD_PROJECT" in caplog.text


def test_fixture_payloads_parse_into_types() -> None:
    from batchline.domain.events import event_of, pubsub_message, storage_object

    upload = fixture_event("storage_object_finalized.json")
    obj = storage_object(upload["data"])
    assert obj.uri == "gs://my-input-bucket/reviews/2026-11-27.jsonl#1795815290895658131"
    assert obj.metadata == {"model": "gemini-3.5-flash-lite"} and obj.size == 1036
    message = pubsub_message(fixture_event("pubsub_message_published.json")["data"])
    assert json.loads(message.data)["job_name"].endswith("/3096910826864366549")
    assert message.attributes == {"job": "3096910826864366549"}

    class Attributes(dict[str, Any]):
        pass

    event = event_of(Attributes(upload["attributes"]))
    assert event.type == "google.cloud.storage.object.v1.finalized"
    assert event.time is not None and event.time.tzinfo is not None
    encoded = base64.b64encode(b'{"job_name": "x"}').decode()
    assert pubsub_message({"message": {"data": encoded, "messageId": "1"}}).json() == {
        "job_name": "x"
    }


def test_a_tick_of_another_type_is_acknowledged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = fixture_event("pubsub_message_published.json")
    event["attributes"]["type"] = "google.cloud.scheduler.job.v1.executed"
    assert post_event("poll", event["attributes"], event["data"]) == 200
    assert "expected google.cloud.pubsub.topic.v1.messagePublished" in caplog.text


def test_an_event_with_a_malformed_time_is_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    event = fixture_event("storage_object_finalized.json")
    event["attributes"]["time"] = "yesterday-ish"
    assert post_event("submit", event["attributes"], event["data"]) == 200
    assert "not an RFC 3339 timestamp" in caplog.text


def test_a_tick_past_the_age_limit_is_dropped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Configured, but nothing to reach: the tick is dropped before any client is used (the
    submit and complete functions record the file or job as failed instead: integration)."""
    for name, value in EXAMPLE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    settings.reset_settings()
    event = fixture_event("pubsub_message_published.json")
    event["attributes"]["time"] = "2026-01-01T00:00:00Z"
    assert post_event("poll", event["attributes"], event["data"]) == 200
    assert "dropped an event" in caplog.text
