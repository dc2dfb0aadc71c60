"""Nothing lost and nothing silent: crashes mid-step, strays and odd names, on the emulators.

Every event goes through functions/*/main.py as the platform delivers it. Each test ends with
what a user sees: the file's one notification, its rows, its state in the ledger.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from pipeline_support import Cloud

from batchline.domain.states import JobState, SourceRef, SourceState
from batchline.runtime.clients import job_service_client, storage_client

pytestmark = pytest.mark.integration

# Long enough for the redelivery to come within it on a loaded machine; a publish may take
# half of it (batchline.runtime.wiring.publisher).
LEASE_SECONDS = 2.0


def lines(*prompts: str) -> bytes:
    rows = [
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}})
        for prompt in prompts
    ]
    return ("\n".join(rows) + "\n").encode()


def ref(resource: dict[str, Any]) -> SourceRef:
    return SourceRef(resource["bucket"], resource["name"], int(resource["generation"]))


def die_on_first_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    """The instance sending a notification dies after claiming it, before it is published."""
    from batchline.adapters.pubsub import Publisher

    real_notify = Publisher.notify
    deaths = iter([True])

    def notify_or_die(self: Publisher, notification: Any) -> str:
        if next(deaths, False):
            raise SystemExit("the instance died while notifying")
        return real_notify(self, notification)

    monkeypatch.setattr(Publisher, "notify", notify_or_die)


def test_a_notification_whose_sender_died_is_sent_once_by_the_next_delivery(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_NOTIFY_LEASE_SECONDS=str(LEASE_SECONDS))
    die_on_first_notify(monkeypatch)
    resource = cloud.upload_sample("broken_requests.jsonl", "dies/broken.jsonl")
    with pytest.raises(SystemExit):
        cloud.deliver_upload(resource)
    assert cloud.ledger().get_source(ref(resource)).state == SourceState.REJECTED
    caplog.clear()
    # The dead sender's claim is live: the redelivery is not acknowledged as a duplicate.
    assert cloud.deliver_upload(resource) == 503
    retries = [r for r in caplog.records if r.name == "batchline.runtime.handlers"]
    assert [(r.levelno, r.exc_info) for r in retries] == [(logging.WARNING, None)]
    assert cloud.notifications() == []
    time.sleep(LEASE_SECONDS + 0.1)
    assert cloud.deliver_upload(resource) == 200
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "file.rejected" and body["error_count"] == 7
    assert cloud.deliver_upload(resource) == 200
    assert cloud.deliver_tick() == 200
    assert cloud.notifications() == [], "exactly one notification"


def test_the_poll_sends_a_notification_whose_sender_died_when_no_event_comes_back(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_NOTIFY_LEASE_SECONDS=str(LEASE_SECONDS))
    resource = cloud.upload("swept.jsonl", lines("one", "two"))
    ((data, attributes),) = cloud.run_to_finished(resource)
    die_on_first_notify(monkeypatch)
    with pytest.raises(SystemExit):
        cloud.deliver_finished(data, attributes)
    assert cloud.ledger().get_source(ref(resource)).state == SourceState.LOADED
    assert cloud.deliver_tick() == 200
    assert cloud.notifications() == [], "the claim is still live: the sweep leaves it"
    time.sleep(LEASE_SECONDS + 0.1)
    assert cloud.deliver_tick() == 200
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.succeeded" and body["counts"]["succeeded"] == 2
    assert cloud.deliver_tick() == 200
    assert cloud.deliver_finished(data, attributes) == 200
    assert cloud.notifications() == [], "exactly one notification"
    assert len(cloud.predictions(cloud.source_uri(resource))) == 2


def test_a_job_deleted_outside_batchline_is_reported_with_its_exported_rows(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")  # its lines are not resumed
    cloud.vertex_server.set_faults(pending_seconds=3600)
    resource = cloud.upload("deleted.jsonl", lines("a", "b", "c"))
    assert cloud.deliver_upload(resource) == 200
    assert cloud.deliver_tick() == 200
    (job,) = cloud.vertex_jobs()
    client = job_service_client()
    client.cancel_batch_prediction_job(name=job.name)
    for _ in range(50):
        if client.get_batch_prediction_job(name=job.name).state.name == "JOB_STATE_CANCELLED":
            break
        time.sleep(0.1)
    client.delete_batch_prediction_job(name=job.name).result()
    assert cloud.deliver_tick() == 200
    ((data, message_attributes),) = cloud.finished_messages()
    assert cloud.deliver_finished(data, message_attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    (reported,) = body["jobs"]
    assert reported["state"] == "JOB_STATE_UNSPECIFIED" and "404" in reported["error"]
    assert reported["loaded"] is True
    counts = body["counts"]
    assert counts["total"] == 3 and counts["succeeded"] + counts["failed"] == len(rows)
    assert counts["missing"] == 3 - len(rows)
    (recorded,) = cloud.ledger().list_jobs_for_source(ref(resource))
    assert recorded.state == JobState.LOADED
    assert cloud.deliver_tick() == 200
    assert cloud.finished_messages() == [], "the poll no longer asks about it"


def test_an_upload_that_no_longer_exists_is_reported_failed_not_retried(cloud: Cloud) -> None:
    # Gone for good: deleted from a bucket that keeps no old versions (the input bucket keeps
    # them, as in Google Cloud, and a deleted generation would stay readable there).
    bucket = storage_client().bucket(cloud.settings.input_bucket)
    bucket.versioning_enabled = False
    bucket.patch()
    resource = cloud.upload("vanished.jsonl", lines("hello"))
    bucket.blob(resource["name"]).delete()
    assert cloud.deliver_upload(resource) == 200
    assert cloud.vertex_jobs() == []
    source = cloud.ledger().get_source(ref(resource))
    assert source.state == SourceState.FAILED and "deleted or replaced" in (source.error or "")
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed" and "does not exist" in body["error"]
    assert cloud.deliver_upload(resource) == 200
    assert cloud.notifications() == []


LONGEST = "long/" + "é" * 509 + ".jsonl"  # 5 + 1,018 + 6 = 1,029 bytes: too long by 5


@pytest.mark.parametrize(
    "name",
    [
        "レビュー/評価 2026 😀.jsonl",
        "spaces and #hash ?query & more.jsonl",
        "long/" + "é" * 506 + ".jsonl",  # 1,023 bytes: within the 1,024 Cloud Storage allows
    ],
)
def test_object_names_of_any_unicode_and_length_go_end_to_end(cloud: Cloud, name: str) -> None:
    resource = cloud.upload(name, lines("first", "second"))
    for data, attributes in cloud.run_to_finished(resource):
        assert cloud.deliver_finished(data, attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    assert [row["input_line"] for row in rows] == [1, 2]
    assert all(row["status"] == "SUCCEEDED" for row in rows)
    ((body, attributes),) = cloud.notifications()
    assert attributes["object"] == name and body["object"] == name


@pytest.mark.parametrize(
    "name", ["long/" + "é" * 506 + ".jsonl", "two\nlines.jsonl", "レビュー 😀.jsonl"]
)
def test_a_bad_file_of_any_name_gets_its_report(cloud: Cloud, name: str) -> None:
    resource = cloud.upload_sample("broken_requests.jsonl", name)
    assert cloud.deliver_upload(resource) == 200
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "file.rejected" and attributes["object"] == name
    bucket, _, report = body["report_uri"].removeprefix("gs://").partition("/")
    text = storage_client().bucket(bucket).blob(report).download_as_text()
    assert text.count(": error: ") == 7 and len(report.encode()) <= 1024


def test_a_name_longer_than_cloud_storage_allows_is_acknowledged_as_malformed(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    resource = cloud.upload("short.jsonl", lines("x"))
    assert cloud.deliver_upload({**resource, "name": LONGEST}) == 200
    assert "1029 bytes" in caplog.text
    assert cloud.ledger().list_sources() == []


def test_a_file_with_a_byte_order_mark_is_submitted_without_it(cloud: Cloud) -> None:
    resource = cloud.upload("windows.jsonl", b"\xef\xbb\xbf" + lines("from notepad", "again"))
    for data, attributes in cloud.run_to_finished(resource):
        assert cloud.deliver_finished(data, attributes) == 200
    assert [row["status"] for row in cloud.predictions(cloud.source_uri(resource))] == [
        "SUCCEEDED",
        "SUCCEEDED",
    ]
    work = storage_client().bucket(cloud.settings.work_bucket)
    (staged,) = [
        blob
        for blob in work.list_blobs(prefix="staging/")
        if not blob.name.endswith(".index.jsonl")
    ]
    assert not staged.download_as_bytes().startswith(b"\xef\xbb\xbf")
