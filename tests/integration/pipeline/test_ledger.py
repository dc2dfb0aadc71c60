"""The job ledger on the real Firestore client against the Firestore emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from google.cloud import firestore

from batchline.adapters.ledger import JobLedger, LedgerError, UnknownJob, UnknownSource
from batchline.domain.states import JobState, SourceRef, SourceState
from batchline.domain.totals import JobTotals

pytestmark = pytest.mark.integration

PROJECT = "batchline-test"
_T = TypeVar("_T")


class Clock:
    """A clock the test moves by hand, to cross the leases without waiting."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(firestore_emulator: str, clock: Clock) -> JobLedger:
    client = firestore.Client(project=PROJECT)
    # A fresh collection per test: no test sees another's records.
    return JobLedger(client, f"ledger-{uuid.uuid4().hex[:12]}", clock=clock)


def source(name: str = "batch.jsonl") -> SourceRef:
    return SourceRef(bucket="in", name=f"users/{name}", generation=1700000000000001)


def job_name(number: int) -> str:
    return f"projects/{PROJECT}/locations/us-central1/batchPredictionJobs/{number}"


def all_at_once(count: int, work: Callable[[], _T]) -> list[_T]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return [future.result() for future in [pool.submit(work) for _ in range(count)]]


def submitted(ledger: JobLedger, ref: SourceRef, parts: int) -> list[str]:
    assert ledger.claim_source(ref).claimed
    names = [job_name(100 + part) for part in range(1, parts + 1)]
    for part, name in enumerate(names, start=1):
        assert ledger.record_job(ref, part, name, f"gs://work/out/{part}/") == name
    assert ledger.mark_submitted(ref, parts)
    return names


def test_a_source_is_claimed_once_however_often_the_event_arrives(ledger: JobLedger) -> None:
    ref = source()
    results = all_at_once(8, lambda: ledger.claim_source(ref))
    assert sum(result.claimed for result in results) == 1
    for _ in range(2):
        again = ledger.claim_source(ref)
        assert not again.claimed
        assert again.record.state == SourceState.RECEIVED
    stored = ledger.get_source(ref)
    assert stored is not None
    assert (stored.source, stored.state, stored.attempt) == (ref, SourceState.RECEIVED, 1)


def test_a_stale_claim_is_taken_over_after_the_lease(ledger: JobLedger, clock: Clock) -> None:
    ref = source()
    assert ledger.claim_source(ref).claimed
    clock.advance(ledger.submit_lease.duration - timedelta(seconds=1))
    assert not ledger.claim_source(ref).claimed
    clock.advance(timedelta(seconds=1))
    takeover = ledger.claim_source(ref)
    assert takeover.claimed
    assert takeover.record.attempt == 2
    assert not ledger.claim_source(ref).claimed


def test_a_rejected_source_stays_rejected(ledger: JobLedger, clock: Clock) -> None:
    ref = source()
    ledger.claim_source(ref)
    assert ledger.mark_rejected(ref, "gs://in/batchline-reports/batch.json", 3)
    assert not ledger.mark_rejected(ref, "gs://in/batchline-reports/batch.json", 3)
    clock.advance(timedelta(days=1))
    claim = ledger.claim_source(ref)
    assert not claim.claimed
    assert claim.record.state == SourceState.REJECTED
    assert claim.record.error_count == 3
    assert claim.record.report_uri == "gs://in/batchline-reports/batch.json"
    assert not ledger.mark_source_failed(ref, "too late")  # rejected is terminal


def test_recording_a_part_twice_keeps_the_first_job(ledger: JobLedger) -> None:
    ref = source()
    ledger.claim_source(ref)
    assert ledger.record_job(ref, 1, job_name(1), "gs://work/out/1/") == job_name(1)
    assert ledger.record_job(ref, 1, job_name(1), "gs://work/out/1/") == job_name(1)
    # A retry that created a second Vertex job for the same part learns the first one's name.
    assert ledger.record_job(ref, 1, job_name(2), "gs://work/out/1/") == job_name(1)
    assert ledger.get_job(job_name(2)) is None
    jobs = ledger.list_jobs_for_source(ref)
    assert [(job.part, job.job_name, job.state) for job in jobs] == [
        (1, job_name(1), JobState.SUBMITTED)
    ]
    assert jobs[0].job_id == "1"


def test_submitting_needs_every_part_recorded(ledger: JobLedger) -> None:
    ref = source()
    ledger.claim_source(ref)
    ledger.record_job(ref, 1, job_name(1), "gs://work/out/1/")
    with pytest.raises(LedgerError, match=r"parts \[2\]"):
        ledger.mark_submitted(ref, 2)
    assert ledger.mark_submitted(ref, 1)
    assert not ledger.mark_submitted(ref, 1)
    stored = ledger.get_source(ref)
    assert stored is not None
    assert (stored.state, stored.part_count, stored.parts) == (
        SourceState.SUBMITTED,
        1,
        {1: job_name(1)},
    )


def test_concurrent_transitions_succeed_for_exactly_one_caller(ledger: JobLedger) -> None:
    ref = source()
    [name] = submitted(ledger, ref, 1)
    results = all_at_once(
        8, lambda: ledger.transition_job(name, JobState.RUNNING, vertex_state="JOB_STATE_RUNNING")
    )
    assert results.count(True) == 1
    job = ledger.get_job(name)
    assert job is not None
    assert (job.state, job.vertex_state) == (JobState.RUNNING, "JOB_STATE_RUNNING")
    stored = ledger.get_source(ref)
    assert stored is not None
    assert stored.state == SourceState.RUNNING
    # A late "running" after "finished" changes nothing.
    assert ledger.transition_job(name, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert not ledger.transition_job(name, JobState.RUNNING, vertex_state="JOB_STATE_RUNNING")
    job = ledger.get_job(name)
    assert job is not None
    assert (job.state, job.vertex_state) == (JobState.FINISHED, "JOB_STATE_SUCCEEDED")


def test_the_source_is_loaded_only_after_all_its_parts(ledger: JobLedger) -> None:
    ref = source()
    first, second = submitted(ledger, ref, 2)

    def source_state() -> SourceState:
        record = ledger.get_source(ref)
        assert record is not None
        return record.state

    ledger.transition_job(first, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert source_state() == SourceState.RUNNING  # one part done, the other not started
    ledger.transition_job(second, JobState.RUNNING)
    assert source_state() == SourceState.RUNNING
    assert ledger.claim_job_load(first)
    assert ledger.mark_job_loaded(first, JobTotals(succeeded=3, prompt_tokens=30))
    assert source_state() == SourceState.RUNNING
    ledger.transition_job(second, JobState.FINISHED, vertex_state="JOB_STATE_FAILED")
    assert source_state() == SourceState.FINISHED
    assert ledger.claim_job_load(second)
    assert ledger.mark_job_loaded(second, JobTotals(failed=1, missing=1, prompt_tokens=5))
    assert not ledger.mark_job_loaded(second, JobTotals(failed=1, missing=1, prompt_tokens=5))
    record = ledger.get_source(ref)
    assert record is not None
    assert record.state == SourceState.LOADED
    assert record.loaded_time is not None
    assert record.totals == JobTotals(succeeded=3, failed=1, missing=1, prompt_tokens=35)
    assert record.notified_time is None
    assert all_at_once(4, lambda: ledger.mark_source_notified(ref)).count(True) == 1
    notified = ledger.get_source(ref)
    assert notified is not None
    assert notified.notified_time is not None


def test_a_failed_part_fails_the_source_when_the_rest_is_done(ledger: JobLedger) -> None:
    ref = source()
    first, second = submitted(ledger, ref, 2)
    assert ledger.transition_job(first, JobState.FAILED, error="output unreadable")
    ledger.transition_job(second, JobState.FINISHED)
    ledger.claim_job_load(second)
    ledger.mark_job_loaded(second, JobTotals(succeeded=2))
    record = ledger.get_source(ref)
    assert record is not None
    assert record.state == SourceState.FAILED
    assert record.error == "part(s) [1] failed"
    failed_job = ledger.get_job(first)
    assert failed_job is not None
    assert failed_job.error == "output unreadable"


def test_loading_is_claimed_once_per_lease(ledger: JobLedger, clock: Clock) -> None:
    ref = source()
    [name] = submitted(ledger, ref, 1)
    assert not ledger.claim_job_load(name)  # not finished yet
    ledger.transition_job(name, JobState.FINISHED)
    assert all_at_once(4, lambda: ledger.claim_job_load(name)).count(True) == 1
    clock.advance(ledger.load_lease.duration)
    assert ledger.claim_job_load(name)  # the first loader died: take over
    ledger.mark_job_loaded(name, JobTotals(succeeded=1))
    clock.advance(ledger.load_lease.duration)
    assert not ledger.claim_job_load(name)


def test_in_flight_and_notification_lists(ledger: JobLedger) -> None:
    ref = source()
    first, second, third = submitted(ledger, ref, 3)
    ledger.transition_job(second, JobState.RUNNING)
    ledger.transition_job(third, JobState.FINISHED)
    assert sorted(job.job_name for job in ledger.list_in_flight_jobs()) == [first, second]
    assert [job.job_name for job in ledger.list_jobs_to_notify()] == [third]
    assert ledger.mark_finished_notified(third)
    assert not ledger.mark_finished_notified(third)
    assert ledger.list_jobs_to_notify() == []
    job = ledger.get_job(third)
    assert job is not None
    assert job.finished_notified


def test_failing_a_source_and_listing_sources(ledger: JobLedger, clock: Clock) -> None:
    refs = [source(f"file-{number}.jsonl") for number in range(3)]
    for ref in refs:
        ledger.claim_source(ref)
        clock.advance(timedelta(seconds=1))
    assert ledger.mark_source_failed(refs[0], "model retired")
    assert not ledger.mark_source_failed(refs[0], "model retired")
    listed = ledger.list_sources(limit=2)
    assert [record.source for record in listed] == [refs[2], refs[1]]
    failed = ledger.get_source(refs[0])
    assert failed is not None
    assert (failed.state, failed.error) == (SourceState.FAILED, "model retired")


def test_unknown_records_are_errors_not_silence(ledger: JobLedger) -> None:
    with pytest.raises(UnknownJob):
        ledger.transition_job(job_name(404), JobState.RUNNING)
    with pytest.raises(UnknownSource):
        ledger.record_job(source("never-claimed"), 1, job_name(1), "gs://work/out/")
    assert ledger.get_source(source("never-claimed")) is None
    with pytest.raises(ValueError, match="managed by the ledger"):
        ledger.transition_job(job_name(1), JobState.RUNNING, state="loaded")
