"""The three functions against the emulators: what a user of the pipeline relies on.

Every event goes through functions/*/main.py as the platform delivers it; a 200 answer
acknowledges it, anything else makes the platform deliver it again.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pipeline_support import Cloud

from batchline.domain.states import JobState, SourceState

pytestmark = pytest.mark.integration


def lines(*requests: dict[str, Any], keys: bool = True) -> bytes:
    rows = []
    for number, request in enumerate(requests, start=1):
        record = {"request": request}
        if keys:
            record["key"] = f"item-{number}"
        rows.append(json.dumps(record))
    return ("\n".join(rows) + "\n").encode()


def text(prompt: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}


def test_upload_becomes_rows_and_one_notification_however_often_events_repeat(
    cloud: Cloud,
) -> None:
    resource = cloud.upload("reviews.jsonl", lines(*(text(f"Review {i}") for i in range(5))))
    for _ in range(3):  # the same finalized event delivered three times
        assert cloud.deliver_upload(resource) == 200
    jobs = cloud.vertex_jobs()
    assert len(jobs) == 1, "one job, however often the upload event arrives"

    finished = []
    for _ in range(3):  # ticks until the job ends, and more
        assert cloud.deliver_tick() == 200
        finished += cloud.finished_messages()
    assert len(finished) == 1, "one job-finished message per job"

    data, attributes = finished[0]
    for _ in range(3):  # the same job-finished message three times
        assert cloud.deliver_finished(data, attributes) == 200

    rows = cloud.predictions(cloud.source_uri(resource))
    assert [(row["input_line"], row["key"], row["status"]) for row in rows] == [
        (n, f"item-{n}", "SUCCEEDED") for n in range(1, 6)
    ]
    assert all(row["response_text"] and row["total_tokens"] for row in rows)
    assert all(row["job_id"] == jobs[0].name.rpartition("/")[2] for row in rows)
    assert "batchline_line" not in json.dumps(rows[0]["request"])
    (job_row,) = cloud.job_rows()
    assert (job_row["total_count"], job_row["succeeded_count"], job_row["missing_count"]) == (
        5,
        5,
        0,
    )
    assert job_row["estimated_cost_usd"] > 0

    notifications = cloud.notifications()
    assert len(notifications) == 1
    body, attributes = notifications[0]
    assert attributes == {
        "event": "job.succeeded",
        "bucket": cloud.settings.input_bucket,
        "object": "reviews.jsonl",
        "status": "succeeded",
    }
    assert body["schema_version"] == 1
    assert body["source_uri"] == cloud.source_uri(resource)
    assert body["counts"] == {"total": 5, "succeeded": 5, "failed": 0, "blocked": 0, "missing": 0}
    assert body["tokens"]["total"] == sum(row["total_tokens"] for row in rows)
    assert body["table"].endswith(f"{cloud.settings.dataset}.predictions")
    source = cloud.ledger().get_source(_ref(resource))
    assert source.state == SourceState.LOADED


def test_a_bad_file_is_reported_kept_and_never_submitted(cloud: Cloud) -> None:
    resource = cloud.upload_sample("broken_requests.jsonl", "drops/broken.jsonl")
    assert cloud.deliver_upload(resource) == 200
    assert cloud.vertex_jobs() == []
    bucket = cloud.settings.input_bucket
    from batchline.runtime.clients import storage_client

    storage = storage_client().bucket(bucket)
    assert storage.blob("drops/broken.jsonl").exists(), "the original is kept"
    base = f"batchline-reports/drops/broken.jsonl.{resource['generation']}"
    report_text = storage.blob(f"{base}.report.txt").download_as_text()
    assert "broken.jsonl:2: error: request.generationConfig.temprature:" in report_text
    report = json.loads(storage.blob(f"{base}.report.json").download_as_text())
    assert report["error_count"] == 7 and report["source_uri"] == cloud.source_uri(resource)
    assert cloud.ledger().get_source(_ref(resource)).state == SourceState.REJECTED
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "file.rejected" and attributes["status"] == "rejected"
    assert body["error_count"] == 7 and body["report_uri"].endswith(f"{base}.report.txt")
    assert body["first_errors"][0].endswith(
        "request.generationConfig.temprature: "
        "unknown field in GenerationConfig; did you mean "
        '"temperature"?'
    )


def test_objects_that_are_not_requests_files_are_ignored(cloud: Cloud) -> None:
    for name in (
        "notes.txt",
        "batchline-reports/old.jsonl.report.txt",
        "batchline-reports/x.jsonl",
    ):
        assert cloud.deliver_upload(cloud.upload(name, b"anything")) == 200
    assert cloud.vertex_jobs() == []
    assert cloud.ledger().list_sources() == []


def test_overlapping_poll_ticks_announce_each_job_once(cloud: Cloud) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        assert cloud.deliver_upload(cloud.upload(name, lines(text(name)))) == 200
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: cloud.deliver_tick(), range(8)))
    assert statuses == [200] * 8
    finished = cloud.finished_messages()
    assert sorted(json.loads(data)["job_name"] for data, _ in finished) == sorted(
        job.name for job in cloud.vertex_jobs()
    )


def test_crash_between_creating_and_recording_the_job_makes_no_second_job(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.adapters.ledger import JobLedger

    original = JobLedger.record_started
    crashes = iter([True])

    def record_then_maybe_die(self: JobLedger, *args: Any, **kwargs: Any) -> str:
        if next(crashes, False):
            raise SystemExit("the instance died after creating the job")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobLedger, "record_started", record_then_maybe_die)
    cloud.vertex_server.set_faults(pending_seconds=3600)
    resource = cloud.upload("crash.jsonl", lines(text("a"), text("b")))
    with pytest.raises(SystemExit):
        cloud.deliver_upload(resource)
    assert len(cloud.vertex_jobs()) == 1
    # The file is queued: the redelivered upload is a duplicate, acknowledged.
    assert cloud.deliver_upload(resource) == 200
    (waiting,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert waiting.state == JobState.STARTING and waiting.job_name is None
    # The dead attempt's start claim holds for its lease; a tick after it takes over.
    assert cloud.deliver_tick() == 200
    assert cloud.ledger().get_job(waiting.attempt_id).state == JobState.STARTING
    cloud.reconfigure(monkeypatch, BATCHLINE_START_LEASE_SECONDS="0.001")
    assert cloud.deliver_tick() == 200
    (job,) = cloud.vertex_jobs()
    (recorded,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert recorded.state == JobState.SUBMITTED and recorded.job_name == job.name


def test_crash_between_loading_and_marking_loads_the_rows_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.adapters.ledger import JobLedger

    resource = cloud.upload("load-crash.jsonl", lines(*(text(f"q{i}") for i in range(4))))
    ((data, attributes),) = cloud.run_to_finished(resource)
    original = JobLedger.mark_job_loaded
    crashes = iter([True])

    def mark_then_maybe_die(self: JobLedger, *args: Any, **kwargs: Any) -> bool:
        if next(crashes, False):
            raise SystemExit("the instance died after loading the rows")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobLedger, "mark_job_loaded", mark_then_maybe_die)
    with pytest.raises(SystemExit):
        cloud.deliver_finished(data, attributes)
    assert len(cloud.predictions(cloud.source_uri(resource))) == 4
    cloud.reconfigure(monkeypatch, BATCHLINE_LOAD_LEASE_SECONDS="0.001")
    assert cloud.deliver_finished(data, attributes) == 200
    assert len(cloud.predictions(cloud.source_uri(resource))) == 4, "no row doubled"
    assert len(cloud.job_rows()) == 1
    assert len(cloud.notifications()) == 1
    (job,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert job.state == JobState.LOADED


def test_failed_and_blocked_requests_keep_their_rows(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")  # no resume: one attempt
    cloud.vertex_server.set_faults(row_failure_rate=0.5)
    marker = cloud.vertex_server.current_faults().block_marker
    requests = [text(f"question {i}") for i in range(10)] + [text(f"please {marker} this")]
    resource = cloud.upload("mixed.jsonl", lines(*requests))
    for data, attributes in cloud.run_to_finished(resource):
        assert cloud.deliver_finished(data, attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    assert len(rows) == 11, "every request has its row"
    statuses = {row["status"] for row in rows}
    assert statuses == {"SUCCEEDED", "FAILED", "BLOCKED"}
    assert all(row["error"] for row in rows if row["status"] != "SUCCEEDED")
    blocked = [row for row in rows if row["status"] == "BLOCKED"]
    assert [row["input_line"] for row in blocked] == [11]
    ((body, _),) = cloud.notifications()
    counts = body["counts"]
    assert counts["total"] == 11 and counts["blocked"] == 1
    assert counts["succeeded"] + counts["failed"] == 10 and counts["failed"] > 0


def test_a_file_over_one_jobs_limit_is_split_and_announced_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_REQUESTS_PER_JOB="2")
    resource = cloud.upload("big.jsonl", lines(*(text(f"item {i}") for i in range(5))))
    finished = cloud.run_to_finished(resource)
    assert len(cloud.vertex_jobs()) == 3 and len(finished) == 3
    for data, attributes in finished:
        assert cloud.deliver_finished(data, attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    assert [row["input_line"] for row in rows] == [1, 2, 3, 4, 5]
    assert len({row["job_id"] for row in rows}) == 3
    ((body, _),) = cloud.notifications()
    assert len(body["job_ids"]) == 3 and body["counts"]["succeeded"] == 5


def test_an_unknown_model_is_reported_not_retried(cloud: Cloud) -> None:
    resource = cloud.upload("old.jsonl", lines(text("hi")), metadata={"model": "gemini-1.5-flash"})
    assert cloud.deliver_upload(resource) == 200
    source = cloud.ledger().get_source(_ref(resource))
    assert source.state == SourceState.FAILED and "gemini-1.5-flash" in (source.error or "")
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed" and "gemini-1.5-flash" in body["error"]


def test_a_refused_job_creation_leaves_the_part_queued_and_a_tick_starts_it(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that the first tick surely comes within it, even on a loaded machine.
    backoff = 4.0
    cloud.reconfigure(monkeypatch, BATCHLINE_START_BACKOFF_SECONDS=str(backoff))
    cloud.vertex_server.set_faults(create_503=1, pending_seconds=3600)
    resource = cloud.upload("busy.jsonl", lines(text("hi")))
    assert cloud.deliver_upload(resource) == 200, "queued: no event is retried for it"
    refused = time.monotonic()
    assert cloud.vertex_jobs() == []
    (waiting,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert waiting.state == JobState.QUEUED and waiting.start_failures == 1
    assert "503" in waiting.extra["last_start_error"]
    assert cloud.deliver_tick() == 200
    assert time.monotonic() - refused < backoff, "the tick came within the backoff"
    assert cloud.vertex_jobs() == [], "not before its backoff"
    time.sleep(max(0.0, refused + backoff + 0.2 - time.monotonic()))
    assert cloud.deliver_tick() == 200
    assert len(cloud.vertex_jobs()) == 1
    assert cloud.ledger().get_source(_ref(resource)).state == SourceState.SUBMITTED


def test_a_failed_job_still_loads_its_rows_and_says_failed(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")
    cloud.vertex_server.set_faults(fail_jobs=True)
    resource = cloud.upload("doomed.jsonl", lines(*(text(f"x{i}") for i in range(4))))
    for data, attributes in cloud.run_to_finished(resource):
        assert cloud.deliver_finished(data, attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    assert body["jobs"][0]["state"] == "JOB_STATE_FAILED"
    assert body["counts"]["total"] == 4
    assert body["counts"]["missing"] == 4 - len(rows)


def test_a_job_past_the_age_limit_is_cancelled_and_reported(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.vertex_server.set_faults(pending_seconds=3600)
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")
    resource = cloud.upload("slow.jsonl", lines(text("take your time")))
    assert cloud.deliver_upload(resource) == 200
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_JOB_AGE_HOURS="0.00001")
    finished = []
    for _ in range(10):
        assert cloud.deliver_tick() == 200
        finished += cloud.finished_messages()
        if finished:
            break
    assert len(finished) == 1
    assert cloud.deliver_finished(*finished[0]) == 200
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    assert body["jobs"][0]["state"] == "JOB_STATE_CANCELLED"
    assert "BATCHLINE_MAX_JOB_AGE_HOURS" in body["jobs"][0]["error"]


def test_an_upload_whose_event_aged_out_is_reported_failed_not_dropped(cloud: Cloud) -> None:
    resource = cloud.upload("late.jsonl", lines(text("hi")))
    old = datetime.now(UTC) - timedelta(hours=25)
    assert cloud.deliver_upload(resource, time=old) == 200
    assert cloud.vertex_jobs() == []
    source = cloud.ledger().get_source(_ref(resource))
    assert source.state == SourceState.FAILED and "retried for 25.0 hours" in source.error
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed" and "could not be submitted" in body["error"]
    assert cloud.deliver_upload(resource, time=old) == 200
    assert cloud.notifications() == [], "one notification however often the old event comes"


def test_a_job_whose_load_was_retried_past_the_age_limit_is_reported_failed(
    cloud: Cloud,
) -> None:
    resource = cloud.upload("late-load.jsonl", lines(text("a"), text("b")))
    ((data, attributes),) = cloud.run_to_finished(resource)
    old = datetime.now(UTC) - timedelta(hours=25)
    assert cloud.deliver_finished(data, attributes, time=old) == 200
    (job,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert job.state == JobState.FAILED and "could not be loaded" in (job.error or "")
    assert cloud.predictions(cloud.source_uri(resource)) == []
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    assert body["jobs"][0]["loaded"] is False and "past" in body["jobs"][0]["error"]


def _ref(resource: dict[str, Any]) -> Any:
    from batchline.domain.states import SourceRef

    return SourceRef(resource["bucket"], resource["name"], int(resource["generation"]))


def test_a_load_the_warehouse_refuses_fails_the_job_and_reports_it(cloud: Cloud) -> None:
    from batchline.runtime.clients import bigquery_client

    resource = cloud.upload("refused.jsonl", lines(text("a"), text("b")))
    ((data, attributes),) = cloud.run_to_finished(resource)
    bigquery_client().delete_table(f"{cloud.settings.dataset}.predictions")
    assert cloud.deliver_finished(data, attributes) == 200, "acknowledged: a retry cannot help"
    (job,) = cloud.ledger().list_jobs_for_source(_ref(resource))
    assert job.state == JobState.FAILED and "notFound" in (job.error or "")
    assert cloud.ledger().get_source(_ref(resource)).state == SourceState.FAILED
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    assert body["jobs"][0]["loaded"] is False and "notFound" in body["jobs"][0]["error"]
    assert cloud.deliver_finished(data, attributes) == 200
    assert cloud.notifications() == [], "still one notification"


def test_parts_finishing_together_notify_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_REQUESTS_PER_JOB="1")
    resource = cloud.upload("pair.jsonl", lines(text("left"), text("right")))
    finished = cloud.run_to_finished(resource)
    assert len(finished) == 2
    pending = finished * 2  # each message twice, all at once
    for _ in range(5):  # a delivery refused while another loads is retried by the platform
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(pool.map(lambda m: cloud.deliver_finished(*m), pending))
        pending = [m for m, status in zip(pending, statuses, strict=True) if status != 200]
        if not pending:
            break
    assert pending == []
    assert len(cloud.predictions(cloud.source_uri(resource))) == 2
    notifications = cloud.notifications()
    assert len(notifications) == 1, notifications
    assert notifications[0][0]["counts"]["succeeded"] == 2


def test_a_rejection_notice_that_failed_to_send_is_sent_by_the_retry(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.adapters.pubsub import Publisher

    real_notify = Publisher.notify
    failures = iter([True])

    def notify_or_fail(self: Publisher, notification: Any) -> str:
        if next(failures, False):
            raise ConnectionError("Pub/Sub unreachable")
        return real_notify(self, notification)

    monkeypatch.setattr(Publisher, "notify", notify_or_fail)
    resource = cloud.upload_sample("broken_requests.jsonl", "again/broken.jsonl")
    assert cloud.deliver_upload(resource) == 500
    assert cloud.ledger().get_source(_ref(resource)).state == SourceState.REJECTED
    assert cloud.notifications() == []
    assert cloud.deliver_upload(resource) == 200
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "file.rejected" and body["error_count"] == 7
    assert cloud.deliver_upload(resource) == 200
    assert cloud.notifications() == []


def test_a_partly_submitted_file_cancels_what_it_started(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.adapters.vertex import VertexJobs
    from batchline.domain.errors import PermanentError

    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_REQUESTS_PER_JOB="1")
    cloud.vertex_server.set_faults(pending_seconds=3600)
    real_create = VertexJobs.create
    calls = iter(range(10))

    def create_then_refuse(self: VertexJobs, **kwargs: Any) -> Any:
        if next(calls) == 1:
            raise PermanentError("creating batch job part 2: quota for this model is zero")
        return real_create(self, **kwargs)

    monkeypatch.setattr(VertexJobs, "create", create_then_refuse)
    resource = cloud.upload("half.jsonl", lines(text("one"), text("two")))
    assert cloud.deliver_upload(resource) == 200
    (job,) = cloud.vertex_jobs()
    assert job.state.name in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed" and "part 2" in body["error"]
    assert body["job_ids"] == [job.name.rpartition("/")[2]]
