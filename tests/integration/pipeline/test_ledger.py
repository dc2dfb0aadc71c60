"""The job ledger on the real Firestore client against the Firestore emulator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from google.cloud import firestore

from batchline.adapters.ledger import (
    JobLedger,
    NewAttempt,
    NotifyClaim,
    QueueOutcome,
    StartOutcome,
    UnknownJob,
    UnknownSource,
)
from batchline.domain.budget import BudgetLimits
from batchline.domain.states import JobState, SourceRef, SourceState, attempt_document_id
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


def queue(ledger: JobLedger, ref: SourceRef, attempts: list[NewAttempt]) -> bool:
    """The file's parts queued, with no cost limit set (the default): True when queued."""
    outcome, hold = ledger.queue_parts_within_budget(
        ref, attempts, "m", limits=BudgetLimits(None, None), estimate={}, report_uri=""
    )
    assert hold is None
    return outcome == QueueOutcome.QUEUED


def new_attempt(part: int, attempt: int = 1) -> NewAttempt:
    return NewAttempt(
        part=part,
        attempt=attempt,
        input_uris=(f"gs://work/staging/part-{part}.jsonl",),
        index_name=f"staging/part-{part}.index.jsonl",
        output_prefix=f"gs://work/outputs/part-{part}/attempt-{attempt}",
    )


def queued(ledger: JobLedger, ref: SourceRef, parts: int) -> list[str]:
    """Claim and queue a source of `parts` parts; the attempt ids of their first attempts."""
    assert ledger.claim_source(ref).claimed
    assert queue(ledger, ref, [new_attempt(part) for part in range(1, parts + 1)])
    return [attempt_document_id(ref, part, 1) for part in range(1, parts + 1)]


def submitted(ledger: JobLedger, ref: SourceRef, parts: int) -> list[str]:
    """Queue a source and start each part's job; the attempt ids."""
    ids = queued(ledger, ref, parts)
    for number, attempt_id in enumerate(ids, start=1):
        claim = ledger.claim_start(attempt_id, max_running=100)
        assert claim.outcome == StartOutcome.CLAIMED
        assert ledger.record_started(attempt_id, job_name(100 + number)) == job_name(100 + number)
    return ids


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
    assert ledger.fail_source(ref, "too late") == []  # rejected is terminal
    assert ledger.get_source(ref).state == SourceState.REJECTED


def test_parts_are_queued_once_and_wait_before_they_have_a_job(ledger: JobLedger) -> None:
    ref = source()
    ids = queued(ledger, ref, 2)
    assert not queue(ledger, ref, [new_attempt(1), new_attempt(2)])
    stored = ledger.get_source(ref)
    assert (stored.state, stored.part_count, stored.parts) == (
        SourceState.SUBMITTED,
        2,
        {1: 1, 2: 1},
    )
    waiting = ledger.list_waiting_jobs()
    assert [(job.attempt_id, job.state, job.job_name) for job in waiting] == [
        (ids[0], JobState.QUEUED, None),
        (ids[1], JobState.QUEUED, None),
    ]
    assert ledger.list_in_flight_jobs() == []


def test_the_running_jobs_cap_holds_under_concurrent_starts(ledger: JobLedger) -> None:
    refs = [source(f"capped-{n}.jsonl") for n in range(6)]
    ids = [queued(ledger, ref, 1)[0] for ref in refs]
    claims = all_at_once(6, lambda: [ledger.claim_start(i, max_running=3) for i in ids])
    claimed = {c.job.attempt_id for batch in claims for c in batch if c.job is not None}
    assert len(claimed) == 3, "never more than the cap in flight, however many start at once"
    rest = [i for i in ids if i not in claimed]
    assert ledger.claim_start(rest[0], max_running=3).outcome == StartOutcome.FULL
    first = sorted(claimed)[0]
    ledger.record_started(first, job_name(1))
    ledger.transition_job(first, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert ledger.claim_start(rest[0], max_running=3).outcome == StartOutcome.CLAIMED


def test_a_refused_start_waits_its_backoff_and_a_dead_starter_is_taken_over(
    ledger: JobLedger, clock: Clock
) -> None:
    [attempt_id] = queued(ledger, source(), 1)
    assert ledger.claim_start(attempt_id, 5).outcome == StartOutcome.CLAIMED
    assert ledger.claim_start(attempt_id, 5).outcome == StartOutcome.NOT_DUE, "claimed: live"
    ledger.defer_start(attempt_id, "429 quota", timedelta(minutes=1))
    job = ledger.get_job(attempt_id)
    assert (job.state, job.start_failures) == (JobState.QUEUED, 1)
    assert ledger.claim_start(attempt_id, 5).outcome == StartOutcome.NOT_DUE, "backing off"
    clock.advance(timedelta(minutes=1))
    assert ledger.claim_start(attempt_id, 5).outcome == StartOutcome.CLAIMED
    clock.advance(ledger.start_lease.duration)  # the starter died without recording a job
    assert [job.attempt_id for job in ledger.list_waiting_jobs()] == [attempt_id]
    assert ledger.claim_start(attempt_id, 5).outcome == StartOutcome.CLAIMED


def test_recording_a_started_job_twice_keeps_the_first(ledger: JobLedger) -> None:
    [attempt_id] = queued(ledger, source(), 1)
    ledger.claim_start(attempt_id, 5)
    assert ledger.record_started(attempt_id, job_name(1)) == job_name(1)
    # A retry that created a second Vertex job for the attempt learns the first one's name.
    assert ledger.record_started(attempt_id, job_name(2)) == job_name(1)
    job = ledger.get_job(attempt_id)
    assert (job.state, job.job_name, job.job_id) == (JobState.SUBMITTED, job_name(1), "1")


def test_concurrent_transitions_succeed_for_exactly_one_caller(ledger: JobLedger) -> None:
    ref = source()
    [attempt_id] = submitted(ledger, ref, 1)
    # Four at once, not eight: on the emulator, transactions that read the same document wait
    # out each other's 2 s lock timeout, and eight took 4-9 s on an idle machine (the 30 s
    # contention timeout was once exceeded under the full suite's load).
    results = all_at_once(
        4,
        lambda: ledger.transition_job(
            attempt_id, JobState.RUNNING, vertex_state="JOB_STATE_RUNNING"
        ),
    )
    assert results.count(True) == 1
    assert ledger.get_source(ref).state == SourceState.RUNNING
    # A late "running" after "finished" changes nothing.
    assert ledger.transition_job(attempt_id, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert not ledger.transition_job(attempt_id, JobState.RUNNING)
    job = ledger.get_job(attempt_id)
    assert (job.state, job.vertex_state) == (JobState.FINISHED, "JOB_STATE_SUCCEEDED")


def test_the_source_is_loaded_only_after_all_its_parts(ledger: JobLedger) -> None:
    ref = source()
    first, second = submitted(ledger, ref, 2)

    def source_state() -> SourceState:
        return ledger.get_source(ref).state

    ledger.transition_job(first, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert source_state() == SourceState.RUNNING  # one part done, the other not started
    assert ledger.claim_job_load(first)
    assert ledger.mark_job_loaded(first, JobTotals(succeeded=3, prompt_tokens=30))
    assert source_state() == SourceState.RUNNING
    ledger.transition_job(second, JobState.FINISHED, vertex_state="JOB_STATE_FAILED")
    assert source_state() == SourceState.FINISHED
    assert ledger.claim_job_load(second)
    assert ledger.mark_job_loaded(second, JobTotals(failed=1, missing=1, prompt_tokens=5))
    assert not ledger.mark_job_loaded(second, JobTotals(failed=1, missing=1, prompt_tokens=5))
    record = ledger.get_source(ref)
    assert record.state == SourceState.LOADED and record.loaded_time is not None
    totals = JobTotals.final(job.totals for job in ledger.list_jobs_for_source(ref))
    assert totals == JobTotals(succeeded=3, failed=1, missing=1, prompt_tokens=35)
    assert record.notified_time is None
    assert [r.source for r in ledger.list_sources_awaiting_notification()] == [ref]
    assert (
        all_at_once(4, lambda: ledger.mark_source_notified(ref, SourceState.LOADED)).count(True)
        == 1
    )
    assert ledger.get_source(ref).notified_time is not None
    assert ledger.list_sources_awaiting_notification() == []


def test_a_resume_is_queued_with_the_load_and_the_file_waits_for_it(ledger: JobLedger) -> None:
    ref = source()
    [first] = submitted(ledger, ref, 1)
    ledger.transition_job(first, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    assert ledger.claim_job_load(first)
    resume = new_attempt(1, attempt=2)
    totals = JobTotals(succeeded=6, failed=3, retryable=3, missing=1)
    totals.retried_failed, totals.retried_missing = 3, 1
    results = all_at_once(3, lambda: ledger.mark_job_loaded(first, totals, resume))
    assert results.count(True) == 1, "one resume however often the load is marked"
    record = ledger.get_source(ref)
    assert (record.state, record.parts) == (SourceState.RUNNING, {1: 2})
    second = attempt_document_id(ref, 1, 2)
    assert [job.attempt_id for job in ledger.list_waiting_jobs()] == [second]
    ledger.claim_start(second, 5)
    ledger.record_started(second, job_name(2))
    ledger.transition_job(second, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    ledger.claim_job_load(second)
    assert ledger.mark_job_loaded(second, JobTotals(succeeded=3, missing=1))
    assert ledger.get_source(ref).state == SourceState.LOADED
    final = JobTotals.final(job.totals for job in ledger.list_jobs_for_source(ref))
    assert (final.succeeded, final.failed, final.missing, final.total) == (9, 0, 1, 10)


def test_a_failed_part_fails_the_source_when_the_rest_is_done(ledger: JobLedger) -> None:
    ref = source()
    first, second = submitted(ledger, ref, 2)
    assert ledger.transition_job(first, JobState.FAILED, error="output unreadable")
    ledger.transition_job(second, JobState.FINISHED)
    ledger.claim_job_load(second)
    ledger.mark_job_loaded(second, JobTotals(succeeded=2))
    record = ledger.get_source(ref)
    assert (record.state, record.error) == (SourceState.FAILED, "part(s) [1] failed")
    assert ledger.get_job(first).error == "output unreadable"


def test_failing_a_source_fails_what_waits_and_names_what_runs(ledger: JobLedger) -> None:
    ref = source()
    ids = queued(ledger, ref, 3)
    ledger.claim_start(ids[0], 5)
    ledger.record_started(ids[0], job_name(7))
    assert ledger.fail_source(ref, "part 2: quota for this model is zero") == [job_name(7)]
    assert ledger.fail_source(ref, "again") == []
    states = [(job.part, job.state) for job in ledger.list_jobs_for_source(ref)]
    assert states == [(1, JobState.SUBMITTED), (2, JobState.FAILED), (3, JobState.FAILED)]
    assert ledger.list_waiting_jobs() == []
    failed = ledger.get_source(ref)
    assert (failed.state, failed.error) == (
        SourceState.FAILED,
        "part 2: quota for this model is zero",
    )


def test_loading_is_claimed_once_per_lease(ledger: JobLedger, clock: Clock) -> None:
    [attempt_id] = submitted(ledger, source(), 1)
    assert not ledger.claim_job_load(attempt_id)  # not finished yet
    ledger.transition_job(attempt_id, JobState.FINISHED)
    assert all_at_once(4, lambda: ledger.claim_job_load(attempt_id)).count(True) == 1
    clock.advance(ledger.load_lease.duration)
    assert ledger.claim_job_load(attempt_id)  # the first loader died: take over
    ledger.mark_job_loaded(attempt_id, JobTotals(succeeded=1))
    clock.advance(ledger.load_lease.duration)
    assert not ledger.claim_job_load(attempt_id)


def test_in_flight_and_notification_lists(ledger: JobLedger) -> None:
    first, second, third = submitted(ledger, source(), 3)
    ledger.transition_job(second, JobState.RUNNING)
    ledger.transition_job(third, JobState.FINISHED)
    assert sorted(job.attempt_id for job in ledger.list_in_flight_jobs()) == sorted([first, second])
    assert [job.attempt_id for job in ledger.list_jobs_to_notify()] == [third]
    assert ledger.mark_finished_notified(third)
    assert not ledger.mark_finished_notified(third)
    assert ledger.list_jobs_to_notify() == []
    assert ledger.get_job(third).finished_notified
    assert ledger.mark_stalled_logged(first) and not ledger.mark_stalled_logged(first)


def test_a_final_source_is_retried_once_and_notified_again(ledger: JobLedger) -> None:
    ref = source()
    [first] = submitted(ledger, ref, 1)
    ledger.transition_job(first, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    ledger.claim_job_load(first)
    ledger.mark_job_loaded(first, JobTotals(succeeded=1, failed=1, retryable=1))
    ledger.mark_source_notified(ref, SourceState.LOADED)
    attempts = [new_attempt(1, attempt=2)]
    assert all_at_once(3, lambda: ledger.retry_source(ref, attempts)).count(True) == 1
    record = ledger.get_source(ref)
    assert (record.state, record.parts, record.notified_time) == (SourceState.RUNNING, {1: 2}, None)


def test_listing_sources_newest_first(ledger: JobLedger, clock: Clock) -> None:
    refs = [source(f"file-{number}.jsonl") for number in range(3)]
    for ref in refs:
        ledger.claim_source(ref)
        clock.advance(timedelta(seconds=1))
    assert [record.source for record in ledger.list_sources(limit=2)] == [refs[2], refs[1]]


def test_unknown_records_are_errors_not_silence(ledger: JobLedger) -> None:
    with pytest.raises(UnknownJob):
        ledger.transition_job("no-such-attempt", JobState.RUNNING)
    with pytest.raises(UnknownSource):
        queue(ledger, source("never-claimed"), [new_attempt(1)])
    assert ledger.get_source(source("never-claimed")) is None
    [attempt_id] = queued(ledger, source(), 1)
    with pytest.raises(ValueError, match="managed by the ledger"):
        ledger.transition_job(attempt_id, JobState.STARTING, state="loaded")


def test_a_release_during_the_held_notification_leaves_the_next_one_due(
    ledger: JobLedger,
) -> None:
    # The file.held publish is under way when a person (or a bot reacting to it) releases
    # the file: the held notification must not be recorded as the file's last one.
    ref = source("held.jsonl")
    ledger.claim_source(ref)
    outcome, hold = ledger.queue_parts_within_budget(
        ref,
        [new_attempt(1)],
        "m",
        limits=BudgetLimits(max_file_usd=0.01),
        estimate={"cost_usd": {"low": 0.5, "high": 1.0}},
        report_uri="gs://b/report.txt",
    )
    assert outcome == QueueOutcome.HELD and hold is not None
    assert ledger.claim_source_notification(ref, SourceState.HELD) == NotifyClaim.CLAIMED
    assert ledger.release_held(ref, [new_attempt(1)], count_spend=False)
    assert not ledger.mark_source_notified(ref, SourceState.HELD), "released meanwhile"
    record = ledger.get_source(ref)
    assert record is not None
    assert (record.state, record.notified_time) == (SourceState.SUBMITTED, None)
    assert ledger.claim_source_notification(ref, SourceState.HELD) == NotifyClaim.SENT
    [job] = ledger.list_jobs_for_source(ref)
    assert ledger.claim_start(job.attempt_id, max_running=100).outcome == StartOutcome.CLAIMED
    ledger.record_started(job.attempt_id, job_name(200))
    ledger.transition_job(job.attempt_id, JobState.FINISHED, vertex_state="JOB_STATE_SUCCEEDED")
    ledger.claim_job_load(job.attempt_id)
    ledger.mark_job_loaded(job.attempt_id, JobTotals(succeeded=1))
    assert ledger.claim_source_notification(ref, SourceState.LOADED) == NotifyClaim.CLAIMED
    assert ledger.mark_source_notified(ref, SourceState.LOADED)
