"""The functions' handlers with CloudEvents as the platform sends them, no network.

An acknowledged event answers 200; anything else makes the platform deliver it again.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pipeline_support import EXAMPLE_SETTINGS, fixture_event, post_event

from batchline.runtime import clients, settings, wiring

pytestmark = pytest.mark.unit


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines written so far in the test, parsed (context fields included)."""
    from batchline.runtime.logs import JsonFormatter, configure_logging

    # The handlers configure logging on their first event, which replaces any JSON handler on
    # the root logger: configured first, this one stays whichever test comes first.
    configure_logging()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


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


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("generation", "0", "is not a positive int64"),
        ("generation", "-7", "is not a positive int64"),
        ("generation", str(2**70), "is not a positive int64"),
        ("generation", "12ab", "'generation': '12ab' is not a decimal int64"),
        ("generation", " 12 ", "'generation': ' 12 ' is not a decimal int64"),
        ("generation", "1_2", "'generation': '1_2' is not a decimal int64"),
        ("generation", "\u0661\u0662", "is not a decimal int64"),  # Arabic-Indic digits
        ("generation", True, "expected an int64"),
        ("name", "x" * 100_000, "object name is 100000 bytes"),
        ("name", "", "object name is 0 bytes"),
        ("name", "\ud800.jsonl", "not valid Unicode"),
        ("name", ["a.jsonl"], "expected a string"),
        ("bucket", "Not A Bucket", "names no valid bucket"),
    ],
)
def test_an_upload_event_cloud_storage_could_not_have_sent_is_acknowledged(
    field: str, value: object, message: str, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    event = fixture_event("storage_object_finalized.json")
    event["data"][field] = value
    assert post_event("submit", event["attributes"], event["data"]) == 200
    (line,) = [line for line in json_logs() if line["severity"] == "ERROR"]
    assert message in line["message"]
    assert line["event_id"] == event["attributes"]["id"], "the log line names the event"


def _post_raw(function: str, body: bytes | str, content_type: str, **headers: str) -> int:
    from pipeline_support import function_client

    event = fixture_event("storage_object_finalized.json")["attributes"]
    ce = {f"ce-{k}": v for k, v in event.items() if k != "datacontenttype"}
    response = function_client(function).post(
        "/", headers={**ce, **headers, "Content-Type": content_type}, data=body
    )
    return int(response.status_code)


@pytest.mark.parametrize("function", ["submit", "poll", "complete"])
def test_a_body_nested_too_deeply_to_decode_is_acknowledged(
    function: str, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    assert _post_raw(function, nested, "application/json") == 200
    (line,) = [line for line in json_logs() if line["severity"] == "ERROR"]
    assert "not a readable CloudEvent" in line["message"]
    assert line["event_id"] == "8462591727463513", "the log line names the event"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe not text at all", "application/json"),
        (b"bucket=a&name=b", "application/x-www-form-urlencoded"),
        (b"just words", "text/plain"),
    ],
)
def test_a_body_of_the_wrong_kind_is_acknowledged(
    body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert _post_raw("submit", body, content_type) == 200
    assert "gave up on" in caplog.text


def test_a_request_that_is_not_a_cloud_event_is_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipeline_support import function_client

    response = function_client("complete").post(
        "/", headers={"Content-Type": "application/json"}, data=b'{"hello": "world"}'
    )
    assert response.status_code == 200
    assert "not a readable CloudEvent" in caplog.text


def _tick_raising(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the poll handler on a tick whose step raises `error`."""
    from cloudevents.http import CloudEvent

    from batchline.domain.events import PUBSUB_PUBLISHED, pubsub_message
    from batchline.runtime import handlers

    for name, value in EXAMPLE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    settings.reset_settings()
    event = CloudEvent(
        {"type": PUBSUB_PUBLISHED, "source": "//pubsub.googleapis.com/t", "id": "tick-1"},
        {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "1"}},
    )

    def step(_: object, __: object) -> None:
        raise error

    handlers._run(event, PUBSUB_PUBLISHED, pubsub_message, step)


def _try_again_errors() -> list[Exception]:
    from google.api_core import exceptions

    return [
        exceptions.Aborted("Transaction lock timeout."),  # Firestore contention
        exceptions.TooManyRequests("Quota exceeded"),
        exceptions.ServiceUnavailable("The service is currently unavailable."),
        exceptions.InternalServerError("Internal error encountered."),
        exceptions.DeadlineExceeded("Deadline Exceeded"),
        exceptions.RetryError("Timeout of 30.0s exceeded", exceptions.Aborted("contention")),
    ]


@pytest.mark.parametrize("error", _try_again_errors(), ids=lambda e: type(e).__name__)
def test_a_google_api_asking_to_try_again_is_retried_with_one_warning_line(
    error: Exception, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from werkzeug.exceptions import ServiceUnavailable

    with pytest.raises(ServiceUnavailable):
        _tick_raising(error, monkeypatch)
    records = [r for r in caplog.records if r.name == "batchline.runtime.handlers"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]
    assert type(error).__name__ in records[0].getMessage()


def test_an_error_no_retry_can_cure_still_propagates_with_its_stack_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from google.api_core import exceptions

    for error in (
        exceptions.Forbidden("Permission denied"),
        exceptions.RetryError("Timeout", exceptions.Forbidden("denied")),
        KeyError("a bug"),
    ):
        with pytest.raises(type(error)):
            _tick_raising(error, monkeypatch)


@pytest.mark.parametrize(("lease", "timeout"), [("10", 5.0), ("120", 60.0), ("600", 60.0)])
def test_a_publish_waits_at_most_half_the_claim_it_is_made_under(
    monkeypatch: pytest.MonkeyPatch, lease: str, timeout: float
) -> None:
    # A slower publish fails and gives its claim back before the claim could lapse and a
    # second sender publish the same notification.
    for name, value in EXAMPLE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATCHLINE_NOTIFY_LEASE_SECONDS", lease)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # a client, never a call
    settings.reset_settings()
    publisher = wiring.publisher("projects/p/topics/t")
    assert publisher.timeout == timeout
