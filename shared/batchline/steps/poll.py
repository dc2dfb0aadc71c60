"""The poll step: on each scheduler tick, start what waits and check the jobs in flight.

1. Queued attempts are started, oldest first, while the running-jobs cap allows
   (batchline.steps.start).
2. Each job that reached a terminal state moves to `finished` in the ledger, and whoever made
   that move publishes the one job-finished message (overlapping ticks race on the ledger
   transaction, not on the topic). A message whose sending was not confirmed is sent again by
   a tick once a poll budget has passed (an overlapping tick may still be sending it before
   that). A job older than the age limit is cancelled and reported, never forgotten: its
   cancellation ends it, and its rows are loaded like any other job's.
3. A job Vertex AI no longer knows (404: deleted outside Batchline), or that stays unreadable
   past BATCHLINE_MAX_UNREADABLE_HOURS, ends as well, in state JOB_STATE_UNSPECIFIED with the
   reason: whatever rows it exported are loaded and its file is notified.
4. The watchdog: an attempt still queued, or a job still pending, after
   BATCHLINE_PENDING_ALERT_HOURS logs one `job.stalled` event (per job, not per tick).
5. The notifications a dead attempt left unsent are sent (Announcer.send_overdue).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from batchline.adapters.ledger import JobLedger, JobRecord
from batchline.adapters.pubsub import Publisher
from batchline.adapters.vertex import JobGone, VertexJobs
from batchline.domain.batch_jobs import UNKNOWN_STATE, BatchJob
from batchline.domain.errors import BatchlineError
from batchline.domain.log_context import log_context
from batchline.domain.log_events import JOB_ENDED, JOB_STALLED, POLL_TICK
from batchline.domain.states import JobState
from batchline.steps.announce import Announcer
from batchline.steps.start import Starter

log = logging.getLogger(__name__)

AGE_LIMIT_REASON = "cancelled by Batchline: the job ran past BATCHLINE_MAX_JOB_AGE_HOURS"
# Vertex AI's states of a job that exists but has not begun to run.
WAITING_STATES = frozenset({"JOB_STATE_QUEUED", "JOB_STATE_PENDING"})


@dataclass
class PollSummary:
    started: int = 0  # jobs created this tick
    start_deferred: int = 0  # creations refused for now (back in the queue)
    checked: int = 0
    running: int = 0  # jobs seen to start running
    finished: int = 0
    cancelled: int = 0
    resent: int = 0
    errors: int = 0
    gone: int = 0  # ended because Vertex AI no longer knows them or cannot be read
    stalled: int = 0  # job.stalled events logged
    deferred: int = 0  # not checked this tick: the time budget ran out
    notified: int = 0  # overdue file notifications sent


def finished_message(job: JobRecord, snapshot: BatchJob | None) -> tuple[bytes, dict[str, str]]:
    """The internal job-finished message the complete function consumes."""
    body = {
        "attempt_id": job.attempt_id,
        "job_name": job.job_name,
        "source_uri": job.source_uri,
        "part": job.part,
        "attempt": job.attempt,
        "vertex_state": snapshot.state if snapshot else job.vertex_state,
    }
    return json.dumps(body).encode(), {"job": job.job_id or "", "attempt_id": job.attempt_id}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PollSettings(Protocol):
    """What the poll step reads of the settings."""

    @property
    def poll_budget(self) -> timedelta: ...

    @property
    def max_job_age(self) -> timedelta: ...

    @property
    def max_job_age_hours(self) -> float: ...

    @property
    def max_unreadable(self) -> timedelta: ...

    @property
    def pending_alert(self) -> timedelta: ...


@dataclass
class Poller:
    settings: PollSettings
    ledger: JobLedger
    vertex: VertexJobs
    finished_topic: Publisher
    announcer: Announcer
    starter: Starter
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utc_now

    def tick(self) -> PollSummary:
        summary = PollSummary()
        deadline = self.monotonic() + self.settings.poll_budget.total_seconds()
        for job in self.ledger.list_jobs_to_notify():
            if self._announcement_overdue(job):
                self._announce(job, None)
                summary.resent += 1
        waiting = self.ledger.list_waiting_jobs()
        starts = self.starter.start_all(waiting, lambda: self.monotonic() >= deadline)
        summary.started, summary.start_deferred = starts.started, starts.deferred
        in_flight = self.ledger.list_in_flight_jobs()
        for index, job in enumerate(in_flight):
            if self.monotonic() >= deadline:
                summary.deferred = len(in_flight) - index
                log.warning("poll budget spent: %d jobs left for the next tick", summary.deferred)
                break
            with log_context(job=job.job_name, source_uri=job.source_uri):
                try:
                    self._check(job, summary)
                except JobGone as exc:
                    self._end_unseen(job, str(exc), summary)
                except BatchlineError as exc:
                    # One job's trouble must not stop the others; the next tick tries again.
                    summary.errors += 1
                    log.warning("could not check the job: %s", exc)
                    self._note_unreadable(job, str(exc), summary)
        for job in [*waiting, *in_flight]:
            self._watch(job, summary)
        summary.notified = self.announcer.send_overdue()
        self._log_tick(summary, in_flight)
        return summary

    def _check(self, job: JobRecord, summary: PollSummary) -> None:
        name = _job_name(job)
        snapshot = self.vertex.get(name)
        summary.checked += 1
        self.ledger.clear_job_unreadable(job)
        if snapshot.terminal:
            fields = {
                "vertex_state": snapshot.state,
                "output_directory": snapshot.output_directory,
                "error": self._age_reason(job, snapshot) or snapshot.error or None,
                "end_time": snapshot.end_time,
                "start_time": snapshot.start_time,
            }
            if self.ledger.transition_job(job.attempt_id, JobState.FINISHED, **fields):
                summary.finished += 1
                self._log_ended(job, snapshot.state)
                self._announce(job, snapshot)
            return
        if snapshot.running and job.state == JobState.SUBMITTED:
            started = self.ledger.transition_job(
                job.attempt_id,
                JobState.RUNNING,
                vertex_state=snapshot.state,
                start_time=snapshot.start_time,
            )
            summary.running += int(started)
        elif snapshot.state != job.vertex_state and job.state == JobState.SUBMITTED:
            # Kept for the watchdog and `batchline jobs` (PENDING, QUEUED, ...).
            self.ledger.note_vertex_state(job.attempt_id, snapshot.state)
        if self._too_old(job) and snapshot.state != "JOB_STATE_CANCELLING":
            log.error("job older than %s hours: cancelling it", self.settings.max_job_age_hours)
            if self.vertex.cancel(name):
                summary.cancelled += 1

    def _watch(self, job: JobRecord, summary: PollSummary) -> None:
        """One job.stalled event for an attempt that waits too long to run."""
        waiting = job.state in (JobState.QUEUED, JobState.STARTING) or (
            job.state == JobState.SUBMITTED and job.vertex_state in (None, *WAITING_STATES)
        )
        created = job.created_time
        if job.stalled_logged or not waiting or created is None:
            return
        waited = self.now() - created
        if waited < self.settings.pending_alert or not self.ledger.mark_stalled_logged(
            job.attempt_id
        ):
            return
        summary.stalled += 1
        log.error(
            "job has waited %.1f hours without running (%s)",
            waited.total_seconds() / 3600,
            job.vertex_state or job.state,
            extra={
                "event": JOB_STALLED,
                "source_uri": job.source_uri,
                "job": job.label,
                "waited_seconds": round(waited.total_seconds()),
            },
        )

    def _note_unreadable(self, job: JobRecord, reason: str, summary: PollSummary) -> None:
        since = self.ledger.note_job_unreadable(job.attempt_id, reason)
        if self.now() - since > self.settings.max_unreadable:
            hours = (self.now() - since).total_seconds() / 3600
            self._end_unseen(job, f"unreadable for {hours:.1f} hours: {reason}", summary)

    def _end_unseen(self, job: JobRecord, reason: str, summary: PollSummary) -> None:
        """End a job whose real end cannot be seen: its exported rows are still loaded."""
        log.error("giving up on watching the job: %s", reason)
        if self.ledger.transition_job(
            job.attempt_id, JobState.FINISHED, vertex_state=UNKNOWN_STATE, error=reason
        ):
            summary.gone += 1
            self._log_ended(job, UNKNOWN_STATE)
            self._announce(self.ledger.get_job(job.attempt_id) or job, None)

    def _log_ended(self, job: JobRecord, vertex_state: str) -> None:
        log.info(
            "job ended %s",
            vertex_state,
            extra={
                "event": JOB_ENDED,
                "source_uri": job.source_uri,
                "job": job.label,
                "vertex_state": vertex_state,
            },
        )

    def _log_tick(self, summary: PollSummary, in_flight: list[JobRecord]) -> None:
        oldest = min((job.created_time for job in in_flight if job.created_time), default=None)
        age = (self.now() - oldest).total_seconds() if oldest else 0
        log.info(
            "poll tick: %s",
            summary,
            extra={
                "event": POLL_TICK,
                "jobs_in_flight": len(in_flight) - summary.finished - summary.gone,
                "oldest_in_flight_seconds": round(age),
            },
        )

    def _announce(self, job: JobRecord, snapshot: BatchJob | None) -> None:
        data, attributes = finished_message(job, snapshot)
        self.finished_topic.publish(data, attributes)
        self.ledger.mark_finished_notified(job.attempt_id)

    def _announcement_overdue(self, job: JobRecord) -> bool:
        """A finished job whose message was not confirmed within a poll budget: the tick
        that finished it died before confirming. A younger one may still be in the hands of
        an overlapping tick, and resending it would announce the job twice."""
        finished = job.extra.get("finished_time")
        return not isinstance(finished, datetime) or (
            self.now() - finished > self.settings.poll_budget
        )

    def _too_old(self, job: JobRecord) -> bool:
        started = job.extra.get("submitted_time")  # when its job was created, not queued
        return isinstance(started, datetime) and self.now() - started > self.settings.max_job_age

    def _age_reason(self, job: JobRecord, snapshot: BatchJob) -> str:
        if snapshot.state == "JOB_STATE_CANCELLED" and self._too_old(job):
            return AGE_LIMIT_REASON
        return ""


def _job_name(job: JobRecord) -> str:
    if not job.job_name:
        raise BatchlineError(f"{job.label} is {job.state} but has no job recorded")
    return job.job_name
