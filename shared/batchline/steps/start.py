"""Starting queued attempts: a queue instead of retry storms.

The submit step queues each part's first attempt in the ledger and starts what it can; every
poll tick starts the rest, oldest first, while fewer than BATCHLINE_MAX_RUNNING_JOBS jobs are
in flight. Creating a job is not idempotent (Vertex AI has no client-chosen id), so an
attempt's job carries labels naming its file, part and attempt: a start whose attempt died
after creating the job, before recording it, finds that job instead of creating another.

A creation refused for now (429 RESOURCE_EXHAUSTED, capacity, a 503, a brand-new project's
service agents) puts the attempt back in the queue with a backoff (BATCHLINE_START_BACKOFF_
SECONDS, doubling to 30 minutes): no event is retried for hours. A refusal that cannot pass
(an unknown model, a bad request) fails the whole file, which is then notified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from batchline.adapters.ledger import JobLedger, JobRecord, StartOutcome
from batchline.adapters.vertex import VertexJobs
from batchline.domain.batch_jobs import BatchJob
from batchline.domain.errors import PermanentError, TransientError
from batchline.domain.log_context import log_context
from batchline.domain.log_events import JOB_CREATED
from batchline.domain.states import SourceRef
from batchline.steps.announce import Announcer

log = logging.getLogger(__name__)

MAX_START_BACKOFF = timedelta(minutes=30)


class StartSettings(Protocol):
    """What starting jobs reads of the settings."""

    @property
    def max_running_jobs(self) -> int: ...

    @property
    def start_backoff(self) -> timedelta: ...


def job_labels(source: SourceRef, part: int, attempt: int) -> dict[str, str]:
    """Labels that identify an attempt's job: how a retry finds a job it already made."""
    return {
        # Underscores, not hyphens: the keys appear in list filters (labels.KEY="...").
        "batchline_source": source.document_id[:40],
        "batchline_part": str(part),
        "batchline_attempt": str(attempt),
    }


@dataclass
class StartSummary:
    started: int = 0
    deferred: int = 0
    failed: int = 0
    full: bool = False  # the running-jobs cap stopped the starts


@dataclass
class Starter:
    settings: StartSettings
    ledger: JobLedger
    vertex: VertexJobs
    announcer: Announcer

    def start_all(
        self, jobs: Iterable[JobRecord], out_of_time: Callable[[], bool] = lambda: False
    ) -> StartSummary:
        """Start these waiting attempts in order until the cap is reached or time runs out."""
        summary = StartSummary()
        for job in jobs:
            if out_of_time():
                break
            outcome = self.start(job)
            if outcome == "full":
                summary.full = True
                break
            if outcome == "started":
                summary.started += 1
            elif outcome == "deferred":
                summary.deferred += 1
            elif outcome == "failed":
                summary.failed += 1
        return summary

    def start(self, waiting: JobRecord) -> str:
        """Start one attempt's job if it is due and there is room: started, deferred (refused
        for now), failed (refused for good: its file failed), full, or not due."""
        claim = self.ledger.claim_start(waiting.attempt_id, self.settings.max_running_jobs)
        if claim.outcome == StartOutcome.FULL:
            return "full"
        if claim.outcome != StartOutcome.CLAIMED or claim.job is None:
            return "not due"
        job = claim.job
        with log_context(source_uri=job.source_uri, part=job.part, attempt=job.attempt):
            try:
                created = self._create(job)
            except TransientError as exc:
                delay = min(self.settings.start_backoff * 2**job.start_failures, MAX_START_BACKOFF)
                log.warning("job creation refused for now, retrying in %s: %s", delay, exc)
                self.ledger.defer_start(job.attempt_id, str(exc), delay)
                return "deferred"
            except PermanentError as exc:
                self._fail_file(job, str(exc))
                return "failed"
            recorded = self.ledger.record_started(job.attempt_id, created.name)
            if recorded != created.name:
                # A race made a second job for this attempt: only the recorded one counts.
                log.warning("cancelling duplicate job %s (recorded: %s)", created.name, recorded)
                self.vertex.cancel(created.name)
            return "started"

    def _create(self, job: JobRecord) -> BatchJob:
        source = job.source
        labels = job_labels(source, job.part, job.attempt)
        existing = self.vertex.find(labels)
        for extra in existing[1:]:
            log.warning("cancelling duplicate job %s (kept: %s)", extra.name, existing[0].name)
            self.vertex.cancel(extra.name)
        if existing:
            log.info("found the job a previous attempt created: %s", existing[0].name)
            return existing[0]
        model = job.model or ""
        created = self.vertex.create(
            display_name=f"batchline-{source.document_id[:12]}-p{job.part}-a{job.attempt}",
            model=model,
            input_uris=job.input_uris,
            output_prefix=job.output_prefix,
            labels=labels,
        )
        log.info(
            "created %s",
            created.name,
            extra={
                "event": JOB_CREATED,
                "source_uri": job.source_uri,
                "job": created.name,
                "part": job.part,
                "model": model,
            },
        )
        return created

    def _fail_file(self, job: JobRecord, reason: str) -> None:
        source = job.source
        log.error("submission failed: %s", reason)
        for job_name in self.ledger.fail_source(source, reason):
            # Parts already running would be billed for a file reported as failed.
            log.warning("cancelling %s: its file failed to submit", job_name)
            self.vertex.cancel(job_name)
        self.announcer.announce_if_done(source)
