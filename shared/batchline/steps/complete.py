"""The complete step: a finished job's output becomes BigQuery rows, then the notification.

Exactly once per job, however often the job-finished message arrives: the rows go in
through a BigQuery load job whose id derives from the Vertex AI job (BigQuery refuses a
second one), the jobs-table row likewise, and the ledger marks the job loaded last. A crash
anywhere before that mark is repaired by the redelivered message.

Lines the job failed for a reason that may pass, or never answered, are asked again by the
part's next attempt, a resume (batchline.steps.resume), queued in the same ledger transaction
that marks this one loaded, while the part has had fewer than BATCHLINE_MAX_ATTEMPTS. When
the last part of a source is done, or a job had to be given up (its output unreadable, its
load refused), the file's notification goes out once (batchline.steps.announce).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from batchline.adapters.bigquery import Warehouse, load_job_id
from batchline.adapters.ledger import JobLedger, JobRecord, NewAttempt
from batchline.adapters.storage import Storage, split_uri
from batchline.adapters.vertex import JobGone, VertexJobs
from batchline.domain.batch_jobs import UNKNOWN_STATE, BatchJob
from batchline.domain.errors import PermanentError, TransientError
from batchline.domain.events import PubSubMessage
from batchline.domain.linesets import LineSet
from batchline.domain.log_context import log_context
from batchline.domain.log_events import ROWS_LOADED
from batchline.domain.matching import RequestIndex
from batchline.domain.pricing import CostEstimate, ModelPrice, estimate_job_cost, price_for
from batchline.domain.retries import may_pass
from batchline.domain.rows import PredictionRow, PredictionShaper, write_rows
from batchline.domain.staging import (
    read_index,
    rows_name,
    staged_index_name,
    staged_requests,
    staged_requests_name,
)
from batchline.domain.states import JobState
from batchline.domain.totals import JobTotals
from batchline.steps.announce import Announcer
from batchline.steps.resume import ResumeWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompleteResult:
    outcome: str  # loaded | failed | duplicate
    job_name: str
    rows: int = 0
    notified: bool = False


class CompleteSettings(Protocol):
    """What the complete step reads of the settings."""

    @property
    def work_bucket(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def prices(self) -> Mapping[str, ModelPrice]: ...

    @property
    def max_attempts(self) -> int: ...


@dataclass
class Completer:
    settings: CompleteSettings
    ledger: JobLedger
    storage: Storage
    vertex: VertexJobs
    warehouse: Warehouse
    announcer: Announcer
    resumes: ResumeWriter

    def handle(self, message: PubSubMessage) -> CompleteResult:
        job = self._job_of(message)
        with log_context(job=job.job_name, source_uri=job.source_uri, part=job.part):
            return self._complete(job)

    def give_up(self, message: PubSubMessage, reason: str) -> CompleteResult:
        """The job-finished message was retried past its age limit: record the job as
        failed (its file is notified) instead of trying its load again."""
        job = self._job_of(message)
        with log_context(job=job.job_name, source_uri=job.source_uri, part=job.part):
            log.error("giving up on loading the job's rows: %s", reason)
            error = f"its rows could not be loaded: {reason}"
            moved = self.ledger.transition_job(job.attempt_id, JobState.FAILED, error=error)
            return self._result("failed" if moved else "duplicate", job)

    def _job_of(self, message: PubSubMessage) -> JobRecord:
        body = message.json()
        attempt_id = body.get("attempt_id") if isinstance(body, dict) else None
        if not isinstance(attempt_id, str) or not attempt_id:
            raise PermanentError(f"message {message.message_id} names no attempt_id")
        job = self.ledger.get_job(attempt_id)
        if job is None or not job.job_name:
            raise PermanentError(f"attempt {attempt_id} has no job in the ledger")
        return job

    def _complete(self, job: JobRecord) -> CompleteResult:
        if job.state in (JobState.LOADED, JobState.FAILED):
            log.info("duplicate job-finished message: the job is already %s", job.state)
            return self._result("duplicate", job)
        if not self.ledger.claim_job_load(job.attempt_id):
            current = self.ledger.get_job(job.attempt_id)
            if current is not None and current.state in (JobState.LOADED, JobState.FAILED):
                return self._result("duplicate", job)
            raise TransientError(f"{job.label} is {job.state} or being loaded elsewhere")
        try:
            snapshot = self._snapshot(job)
            totals, rows, resume = self._load_rows(job, snapshot)
            self.warehouse.load_job_rows(
                [self._job_row(job, snapshot, totals)], load_job_id("job", snapshot.id)
            )
        except TransientError:
            self.ledger.release_job_load(job.attempt_id)  # the retry may start at once
            raise
        except PermanentError as exc:
            # Retrying cannot help: record the job as failed so that the file is reported.
            log.error("cannot load the job's rows: %s", exc)
            self.ledger.transition_job(job.attempt_id, JobState.FAILED, error=str(exc))
            return self._result("failed", job)
        if self.ledger.mark_job_loaded(job.attempt_id, totals, resume, rows_loaded=rows) and resume:
            log.info(
                "queued attempt %d at %d lines of part %d",
                resume.attempt,
                totals.retried_failed + totals.retried_missing,
                job.part,
            )
        log.info(
            "loaded %d rows: %d succeeded, %d failed, %d blocked, %d missing",
            rows,
            totals.succeeded,
            totals.failed,
            totals.blocked,
            totals.missing,
            extra={
                "event": ROWS_LOADED,
                "source_uri": job.source_uri,
                "job": job.job_name,
                "model": job.model or self.settings.model,
                "rows_succeeded": totals.succeeded,
                "rows_failed": totals.failed,
                "rows_blocked": totals.blocked,
                "rows_missing": totals.missing,
                "estimated_cost_usd": self._cost(job, totals).usd,
            },
        )
        return self._result("loaded", job, rows)

    def _snapshot(self, job: JobRecord) -> BatchJob:
        """The job as Vertex AI has it; for a job it no longer knows (deleted outside
        Batchline), what the ledger recorded of it, so that its exported rows still load."""
        name = job.job_name or ""
        try:
            return self.vertex.get(name)
        except JobGone as exc:
            log.warning("loading what the ledger knows of a job Vertex AI lost: %s", exc)
            directory = job.extra.get("output_directory")
            return BatchJob(
                name=name,
                state=job.vertex_state or UNKNOWN_STATE,
                model=job.model or "",
                output_directory=directory if isinstance(directory, str) else "",
                error=job.error or str(exc),
            )

    def _result(self, outcome: str, job: JobRecord, rows: int = 0) -> CompleteResult:
        """The outcome, after sending the file's notification if this made it final (or
        an earlier delivery died before sending it)."""
        notified = self.announcer.announce_if_done(job.source)
        return CompleteResult(outcome, job.label, rows=rows, notified=notified)

    def _load_rows(
        self, job: JobRecord, snapshot: BatchJob
    ) -> tuple[JobTotals, int, NewAttempt | None]:
        """Shape and load the job's rows; the totals, the rows loaded, and the part's next
        attempt when lines are left to ask again."""
        work = self.settings.work_bucket
        source_id = job.source.document_id
        expected, keys = read_index(self.storage.lines(work, job.index_name))

        def match_untagged() -> RequestIndex:
            # Only for rows whose line tag did not come back (labels off, or dropped): the
            # part's staged requests, those this attempt was asked only.
            log.info("matching output lines without their line tag on their requests")
            asked = LineSet.of(expected)
            staged = staged_requests(
                self.storage.lines(work, staged_requests_name(source_id, job.part)),
                self.storage.lines(work, staged_index_name(source_id, job.part)),
            )
            return RequestIndex.from_input_lines(line for line in staged if line.number in asked)

        shaper = PredictionShaper(
            job_id=snapshot.id,
            source_uri=job.source_uri,
            attempt=job.attempt,
            model=job.model,
            keys=keys,
            expected_lines=expected,
            request_index=match_untagged,
            fallback_time=snapshot.end_time,
            long_context_threshold=self._long_context_threshold(job),
        )
        rows_object = rows_name(source_id, job.part, job.attempt)
        failed = self.resumes.failed_lines(job)

        def keep_for_resume(row: PredictionRow, raw: bytes) -> None:
            line = row["input_line"]
            if line is not None and row["status"] == "FAILED" and may_pass(row["error"]):
                failed.add(line, raw)

        try:
            with self.storage.writer(work, rows_object, "application/jsonl") as sink:
                write_rows(shaper, self._output_lines(job, snapshot), sink, keep_for_resume)
        finally:
            failed.close()
        totals = shaper.finish()
        loaded = self.warehouse.load_predictions(
            f"gs://{work}/{rows_object}", load_job_id("rows", snapshot.id)
        )
        if loaded != totals.rows:
            # The load job of an earlier delivery read an older rows file: never expected,
            # since shaping is deterministic; say so loudly rather than hide it.
            log.error("loaded %d rows where %d were shaped", loaded, totals.rows)
        resume = None
        if job.attempt < self.settings.max_attempts:
            missing = list(shaper.missing_lines())
            resume = self.resumes.next_attempt(job, failed, missing, keys)
            if resume is not None:
                totals.retried_failed, totals.retried_missing = (
                    resume.asks_failed,
                    resume.asks_missing,
                )
        return totals, loaded, resume

    def _output_lines(self, job: JobRecord, snapshot: BatchJob) -> Iterator[bytes]:
        """Every line of every *.jsonl file the job wrote (sharded names included): in its
        output directory, or anywhere under its output prefix when the directory is not
        known (a job Vertex AI lost)."""
        directory = snapshot.output_directory
        if not directory and snapshot.state == UNKNOWN_STATE:
            directory = job.output_prefix
        if not directory:
            log.warning("the job wrote no output directory (state %s)", snapshot.state)
            return
        bucket, prefix = split_uri(directory.rstrip("/") + "/")
        for name in self.storage.names(bucket, prefix, ".jsonl"):
            yield from self.storage.lines(bucket, name)

    def _long_context_threshold(self, job: JobRecord) -> int | None:
        # The totals keep the tokens of requests above it apart: they cost more per token.
        price = price_for(job.model or self.settings.model, self.settings.prices)
        return price.long_context_threshold if price is not None else None

    def _cost(self, job: JobRecord, totals: JobTotals) -> CostEstimate:
        return estimate_job_cost(job.model or self.settings.model, totals, self.settings.prices)

    def _job_row(self, job: JobRecord, snapshot: BatchJob, totals: JobTotals) -> dict[str, Any]:
        model = job.model or self.settings.model
        cost = self._cost(job, totals)
        return {
            "job_id": snapshot.id,
            "job_name": job.job_name,
            "source_uri": job.source_uri,
            "part": job.part,
            "attempt": job.attempt,
            "model": model,
            "state": snapshot.state,
            "error": snapshot.error or job.error or None,
            "total_count": totals.total,
            "succeeded_count": totals.succeeded,
            "failed_count": totals.failed,
            "blocked_count": totals.blocked,
            "missing_count": totals.missing,
            "duplicate_count": totals.duplicates,
            "unmatched_count": totals.unmatched,
            "retried_count": totals.retried_failed + totals.retried_missing,
            "prompt_tokens": totals.prompt_tokens,
            "output_tokens": totals.output_tokens,
            "thoughts_tokens": totals.thoughts_tokens,
            "total_tokens": totals.total_tokens,
            "estimated_cost_usd": cost.usd,
            "create_time": _iso(snapshot.create_time),
            "start_time": _iso(snapshot.start_time),
            "end_time": _iso(snapshot.end_time),
            "loaded_time": _iso(datetime.now(UTC)),
            "output_directory": snapshot.output_directory or None,
            "cached_tokens": totals.cached_tokens,
            "tool_use_prompt_tokens": totals.tool_use_prompt_tokens,
            "long_context_requests": totals.long_context_requests,
            "long_context_prompt_tokens": totals.long_context_prompt_tokens,
            "estimated_input_cost_usd": cost.input_usd,
            "estimated_cached_input_cost_usd": cost.cached_input_usd,
            "estimated_output_cost_usd": cost.output_usd,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None
