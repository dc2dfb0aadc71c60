"""The complete step: a finished job's output becomes BigQuery rows, then the notification.

Exactly once per job, however often the job-finished message arrives: the rows go in
through a BigQuery load job whose id derives from the Vertex AI job (BigQuery refuses a
second one), the jobs-table row likewise, and the ledger marks the job loaded last. A crash
anywhere before that mark is repaired by the redelivered message. When the last part of a
source is loaded, the public notification goes out, and the ledger records that it did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from batchline.errors import PermanentError, TransientError
from batchline.events import PubSubMessage
from batchline.gcs import Storage, split_uri
from batchline.ledger import JobLedger, JobRecord, SourceRecord
from batchline.ledger_states import JobState, SourceState
from batchline.logs import log_context
from batchline.notifications import JOB_FAILED, JOB_SUCCEEDED, Notification, Publisher
from batchline.pricing import estimate_job_cost
from batchline.rows import JobTotals, PredictionShaper, row_to_json
from batchline.schemas import JOBS_TABLE, PREDICTIONS_TABLE
from batchline.settings import Settings
from batchline.staging import read_index, rows_name, staged_index_name
from batchline.vertex import BatchJob, VertexJobs
from batchline.warehouse import Warehouse, load_job_id

log = logging.getLogger(__name__)

SUCCEEDED_STATES = frozenset({"JOB_STATE_SUCCEEDED"})


@dataclass(frozen=True)
class CompleteResult:
    outcome: str  # loaded | duplicate
    job_name: str
    rows: int = 0
    notified: bool = False


@dataclass
class Completer:
    settings: Settings
    ledger: JobLedger
    storage: Storage
    vertex: VertexJobs
    warehouse: Warehouse
    notifications: Publisher

    def handle(self, message: PubSubMessage) -> CompleteResult:
        body = message.json()
        job_name = body.get("job_name") if isinstance(body, dict) else None
        if not isinstance(job_name, str) or not job_name:
            raise PermanentError(f"message {message.message_id} names no job_name")
        with log_context(job=job_name, message_id=message.message_id):
            job = self.ledger.get_job(job_name)
            if job is None:
                raise PermanentError(f"{job_name} is not in the ledger")
            with log_context(source=job.source.uri, part=job.part):
                return self._complete(job)

    def _complete(self, job: JobRecord) -> CompleteResult:
        if job.state == JobState.LOADED:
            log.info("duplicate job-finished message: rows already loaded")
            return CompleteResult("duplicate", job.job_name, notified=self._notify_source(job))
        if not self.ledger.claim_job_load(job.job_name):
            current = self.ledger.get_job(job.job_name)
            if current is not None and current.state == JobState.LOADED:
                return CompleteResult("duplicate", job.job_name, notified=self._notify_source(job))
            raise TransientError(f"{job.job_name} is {job.state} or being loaded elsewhere")
        snapshot = self.vertex.get(job.job_name)
        totals, rows = self._load_rows(job, snapshot)
        self.warehouse.load_job_rows(
            [self._job_row(job, snapshot, totals)], load_job_id("job", snapshot.id)
        )
        self.ledger.mark_job_loaded(job.job_name, totals, rows_loaded=rows)
        log.info(
            "loaded %d rows: %d succeeded, %d failed, %d blocked, %d missing",
            rows,
            totals.succeeded,
            totals.failed,
            totals.blocked,
            totals.missing,
        )
        return CompleteResult("loaded", job.job_name, rows=rows, notified=self._notify_source(job))

    def _load_rows(self, job: JobRecord, snapshot: BatchJob) -> tuple[JobTotals, int]:
        work = self.settings.work_bucket
        source_id = job.source.document_id
        lines, keys = read_index(self.storage.lines(work, staged_index_name(source_id, job.part)))
        shaper = PredictionShaper(
            job_id=snapshot.id,
            source_uri=job.source.uri,
            model=job.model,
            keys=keys,
            expected_lines=lines,
            fallback_time=snapshot.end_time,
        )
        rows_object = rows_name(source_id, job.part)
        with self.storage.writer(work, rows_object, "application/jsonl") as sink:
            for row in shaper.shape_lines(self._output_lines(snapshot)):
                sink.write(row_to_json(row).encode("utf-8") + b"\n")
        totals = shaper.finish()
        loaded = self.warehouse.load_predictions(
            f"gs://{work}/{rows_object}", load_job_id("rows", snapshot.id)
        )
        if loaded != totals.rows:
            # The load job of an earlier delivery read an older rows file: never expected,
            # since shaping is deterministic; say so loudly rather than hide it.
            log.error("loaded %d rows where %d were shaped", loaded, totals.rows)
        return totals, loaded

    def _output_lines(self, snapshot: BatchJob) -> Iterator[bytes]:
        """Every line of every *.jsonl file the job wrote (sharded names included)."""
        if not snapshot.output_directory:
            log.warning("the job wrote no output directory (state %s)", snapshot.state)
            return
        bucket, prefix = split_uri(snapshot.output_directory.rstrip("/") + "/")
        for name in self.storage.names(bucket, prefix, ".jsonl"):
            yield from self.storage.lines(bucket, name)

    def _job_row(self, job: JobRecord, snapshot: BatchJob, totals: JobTotals) -> dict[str, Any]:
        model = job.model or self.settings.model
        cost = estimate_job_cost(model, totals, self.settings.prices)
        return {
            "job_id": snapshot.id,
            "job_name": job.job_name,
            "source_uri": job.source.uri,
            "part": job.part,
            "model": model,
            "state": snapshot.state,
            "error": snapshot.error or job.error or None,
            "total_count": totals.total,
            "succeeded_count": totals.succeeded,
            "failed_count": totals.failed,
            "blocked_count": totals.blocked,
            "missing_count": totals.missing,
            "duplicate_count": totals.duplicates,
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
        }

    def _notify_source(self, job: JobRecord) -> bool:
        """Publish the source's notification if all its parts are loaded and it was not
        published yet; True when this call published it."""
        source = self.ledger.get_source(job.source)
        if source is None or source.state != SourceState.LOADED or source.notified_time:
            return False
        jobs = self.ledger.list_jobs_for_source(job.source)
        notification = self._notification(source, jobs)
        self.notifications.notify(notification)
        self.ledger.mark_source_notified(job.source)
        # `event` is what the log-based alert on failed jobs counts (terraform/monitoring.tf).
        level = logging.ERROR if notification.event == JOB_FAILED else logging.INFO
        log.log(level, "notified %s", notification.event, extra={"event": notification.event})
        return True

    def _notification(self, source: SourceRecord, jobs: Sequence[JobRecord]) -> Notification:
        totals = JobTotals()
        for part in jobs:
            totals = totals.merged(part.totals or JobTotals())
        # Every part of a source runs on the model chosen for the file.
        model = next((part.model for part in jobs if part.model), self.settings.model)
        cost = estimate_job_cost(model, totals, self.settings.prices)
        states = [str(part.vertex_state or "") for part in jobs]
        event = JOB_SUCCEEDED if all(s in SUCCEEDED_STATES for s in states) else JOB_FAILED
        body = {
            "job_ids": [part.job_id for part in jobs],
            "jobs": [
                {
                    "job_id": part.job_id,
                    "part": part.part,
                    "state": part.vertex_state,
                    "error": part.error,
                }
                for part in jobs
            ],
            "model": model,
            "counts": {
                "total": totals.total,
                "succeeded": totals.succeeded,
                "failed": totals.failed,
                "blocked": totals.blocked,
                "missing": totals.missing,
            },
            "tokens": {
                "prompt": totals.prompt_tokens,
                "output": totals.output_tokens,
                "thoughts": totals.thoughts_tokens,
                "total": totals.total_tokens,
            },
            "estimated_cost_usd": cost.usd,
            "table": self.warehouse.table(PREDICTIONS_TABLE),
            "jobs_table": self.warehouse.table(JOBS_TABLE),
            "received_time": source.created_time,
            "loaded_time": source.loaded_time,
        }
        return Notification(
            event, source.source.bucket, source.source.name, source.source.generation, body
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None
