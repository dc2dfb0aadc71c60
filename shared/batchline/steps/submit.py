"""The submit step: an uploaded requests file becomes Vertex AI batch prediction jobs.

Exactly once per object generation, however often the event arrives:
1. the generation is claimed in the ledger (a duplicate event stops here);
2. the file is validated as a stream; a bad file gets a report beside it (text and JSON),
   the ledger says rejected, a `file.rejected` notification goes out, and no job is made;
3. a good file is staged in the work bucket (normalised, tagged, split within one job's
   limits) and its cost estimated (batchline.domain.estimate); over a cost limit
   (batchline.domain.budget) it is held: the ledger says held, a report beside it says why, a
   `file.held` notification carries the estimate and the limit, and no job is made until
   `batchline release` (batchline.steps.release);
4. otherwise each part's first attempt is queued in the ledger, and as many as the
   running-jobs cap allows are started at once (batchline.steps.start); poll ticks start the
   rest. A refusal that may pass leaves the part queued: the event is acknowledged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Protocol

from batchline.adapters.ledger import JobLedger, NewAttempt, QueueOutcome, SourceRecord
from batchline.adapters.storage import ObjectGone, Storage, abort
from batchline.adapters.vertex import VertexJobs
from batchline.domain.budget import BudgetLimits, Hold
from batchline.domain.errors import TransientError
from batchline.domain.estimate import estimate_file
from batchline.domain.events import Event, StorageObject
from batchline.domain.limits import JobLimits
from batchline.domain.log_context import log_context
from batchline.domain.log_events import FILE_RECEIVED
from batchline.domain.pricing import ModelPrice
from batchline.domain.reports import report_names
from batchline.domain.staging import (
    Stager,
    output_prefix_name,
    staged_index_name,
    staged_requests_name,
)
from batchline.domain.states import JobState, SourceRef, SourceState
from batchline.domain.validation import FileReport, validate_stream
from batchline.steps.announce import Announcer
from batchline.steps.start import Starter

log = logging.getLogger(__name__)

REQUESTS_SUFFIX = ".jsonl"
MODEL_METADATA_KEY = "model"
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9.@_-]{0,127}")
JSONL = "application/jsonl"


@dataclass(frozen=True)
class SubmitResult:
    outcome: str  # ignored | duplicate | rejected | held | submitted | failed
    source_uri: str = ""
    jobs: list[str] = field(default_factory=list)
    report_uri: str = ""
    detail: str = ""


class SubmitSettings(Protocol):
    """What the submit step reads of the settings (batchline.runtime.settings.Settings has it all)."""

    @property
    def input_bucket(self) -> str: ...

    @property
    def work_bucket(self) -> str: ...

    @property
    def reports_prefix(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def job_limits(self) -> JobLimits: ...

    @property
    def row_labels(self) -> bool: ...

    @property
    def prices(self) -> Mapping[str, ModelPrice]: ...

    @property
    def max_file_cost_usd(self) -> float | None: ...

    @property
    def daily_budget_usd(self) -> float | None: ...


def first_attempt(work_bucket: str, source: SourceRef, part: int) -> NewAttempt:
    """A part's first attempt: its staged input, its index, where its output goes."""
    source_id = source.document_id
    return NewAttempt(
        part=part,
        attempt=1,
        input_uris=(f"gs://{work_bucket}/{staged_requests_name(source_id, part)}",),
        index_name=staged_index_name(source_id, part),
        output_prefix=f"gs://{work_bucket}/{output_prefix_name(source_id, part, 1)}",
    )


@dataclass
class Submitter:
    settings: SubmitSettings
    ledger: JobLedger
    storage: Storage
    vertex: VertexJobs
    announcer: Announcer
    starter: Starter

    def skip_reason(self, obj: StorageObject) -> str:
        """Why an object is not a requests file to submit ("" when it is one)."""
        if obj.bucket != self.settings.input_bucket:
            return f"not the input bucket {self.settings.input_bucket}"
        if obj.name.startswith(self.settings.reports_prefix):
            return "a validation report Batchline wrote"
        if not obj.name.lower().endswith(REQUESTS_SUFFIX):
            return f"not a {REQUESTS_SUFFIX} file"
        return ""

    def handle(self, obj: StorageObject, event: Event) -> SubmitResult:
        with log_context(bucket=obj.bucket, object=obj.name, generation=obj.generation):
            reason = self.skip_reason(obj)
            if reason:
                log.info("ignored upload: %s", reason)
                return SubmitResult("ignored", obj.uri, detail=reason)
            source = SourceRef(obj.bucket, obj.name, obj.generation)
            claim = self.ledger.claim_source(source)
            if not claim.claimed:
                if claim.record.state == SourceState.RECEIVED:
                    raise TransientError(f"{obj.uri} is being submitted by another attempt")
                log.info("duplicate upload event: source already %s", claim.record.state)
                if claim.record.state == SourceState.HELD:
                    self._report_hold_again(obj, claim.record)
                # An attempt that died between the final state and the notification.
                self.announcer.announce_if_done(source)
                return SubmitResult("duplicate", obj.uri, detail=str(claim.record.state))
            if claim.record.attempt == 1:
                log.info(
                    "received %s", obj.uri, extra={"event": FILE_RECEIVED, "source_uri": obj.uri}
                )
            try:
                return self._submit(obj, source)
            except Exception:
                # This attempt survived the failure: let the event's retry start at once.
                self.ledger.release_claim(source)
                raise

    def give_up(self, obj: StorageObject, reason: str) -> SubmitResult:
        """The upload's event was retried past its age limit: record the file as failed, with
        the reason, and notify (unless it got further than that meanwhile)."""
        with log_context(bucket=obj.bucket, object=obj.name, generation=obj.generation):
            if self.skip_reason(obj):
                return SubmitResult("ignored", obj.uri)
            source = SourceRef(obj.bucket, obj.name, obj.generation)
            record = self.ledger.get_source(source) or self.ledger.claim_source(source).record
            if record.state != SourceState.RECEIVED:
                self.announcer.announce_if_done(source)
                return SubmitResult("duplicate", obj.uri, detail=str(record.state))
            return self._fail(obj, source, f"the file could not be submitted: {reason}")

    def _submit(self, obj: StorageObject, source: SourceRef) -> SubmitResult:
        try:
            return self._validate_and_submit(obj, source)
        except ObjectGone as exc:
            return self._fail(
                obj,
                source,
                f"{exc}: the file was deleted or replaced before Batchline read it "
                "(upload it again to submit it)",
            )

    def _validate_and_submit(self, obj: StorageObject, source: SourceRef) -> SubmitResult:
        model = obj.metadata.get(MODEL_METADATA_KEY) or self.settings.model
        if not _MODEL_ID.fullmatch(model):
            return self._fail(obj, source, f"object metadata model={model!r} is not a model id")
        report, parts = self._validate_and_stage(obj, source)
        if not report.valid:
            return self._reject(obj, source, report)
        log.info("validated %d requests; staged %d parts", report.requests, len(parts))
        report.estimate = estimate_file(report.inputs, model, self.settings.prices)
        names = report_names(self.settings.reports_prefix, source)
        outcome, hold = self.ledger.queue_parts_within_budget(
            source,
            [self._first_attempt(source, part) for part in parts],
            model,
            limits=BudgetLimits(self.settings.max_file_cost_usd, self.settings.daily_budget_usd),
            estimate=report.estimate.to_json(),
            report_uri=f"gs://{obj.bucket}/{names.text}",
        )
        if outcome == QueueOutcome.HELD and hold is not None:
            return self._hold(obj, source, report, hold)
        if outcome == QueueOutcome.ALREADY:
            log.info("another attempt moved the file on first; nothing more to do here")
            return SubmitResult("duplicate", obj.uri, detail="moved on by another attempt")
        # Start what the running-jobs cap allows now; poll ticks start the rest.
        waiting = [
            job for job in self.ledger.list_jobs_for_source(source) if job.state == JobState.QUEUED
        ]
        started = self.starter.start_all(waiting)
        log.info("queued %d parts; started %d now", len(parts), started.started)
        # A start refused for good failed the file; its notification may be due.
        self.announcer.announce_if_done(source)
        return SubmitResult("submitted", obj.uri)

    def _first_attempt(self, source: SourceRef, part: int) -> NewAttempt:
        return first_attempt(self.settings.work_bucket, source, part)

    def _hold(
        self, obj: StorageObject, source: SourceRef, report: FileReport, hold: Hold
    ) -> SubmitResult:
        """The ledger holds the file: say why beside it, then notify (file.held)."""
        report_uri = self._write_held_report(obj, source, hold, report.text(), report.to_json())
        self.announcer.announce_if_done(source)
        log.warning("held: %s; report at %s", hold.reason, report_uri)
        return SubmitResult("held", obj.uri, report_uri=report_uri, detail=hold.reason)

    def _report_hold_again(self, obj: StorageObject, record: SourceRecord) -> None:
        """A redelivered event of a held file: an attempt that died between holding it and
        writing why left no report; write it from what the ledger kept."""
        names = report_names(self.settings.reports_prefix, record.source)
        hold = Hold.from_json(record.hold)
        if hold is None or all(
            self.storage.exists(obj.bucket, n) for n in (names.text, names.json)
        ):
            return
        estimate = record.estimate or {}
        header = f"gs://{obj.bucket}/{obj.name}: valid: {estimate.get('requests', '?')} requests"
        self._write_held_report(obj, record.source, hold, header, {"estimate": estimate})

    def _write_held_report(
        self,
        obj: StorageObject,
        source: SourceRef,
        hold: Hold,
        text: str,
        details: Mapping[str, object],
    ) -> str:
        import json

        names = report_names(self.settings.reports_prefix, source)
        release = f"batchline release gs://{obj.bucket}/{obj.name}#{obj.generation}"
        shown = f"gs://{obj.bucket}/{obj.name}"  # as the validation report names the file
        why = f"{shown}: held, not submitted: {hold.reason}; to submit it: {release}"
        report_uri = self.storage.write_text(
            obj.bucket, names.text, text + "\n" + why + "\n", "text/plain"
        )
        body = {"source_uri": obj.uri, **details, "held": hold.to_json()}
        self.storage.write_text(
            obj.bucket, names.json, json.dumps(body, indent=2), "application/json"
        )
        return report_uri

    def _read(self, obj: StorageObject) -> IO[bytes]:
        return self.storage.reader(obj.bucket, obj.name, obj.generation)

    def _reject(self, obj: StorageObject, source: SourceRef, report: FileReport) -> SubmitResult:
        import json

        names = report_names(self.settings.reports_prefix, source)
        report_uri = self.storage.write_text(
            obj.bucket, names.text, report.text() + "\n", "text/plain"
        )
        self.storage.write_text(
            obj.bucket,
            names.json,
            json.dumps({"source_uri": obj.uri, **report.to_json()}, indent=2),
            "application/json",
        )
        first = [issue.render(report.name) for issue in report.errors[:5]]
        self.ledger.mark_rejected(source, report_uri, report.error_count, first)
        self.announcer.announce_if_done(source)
        log.warning("rejected: %d errors; report at %s", report.error_count, report_uri)
        return SubmitResult("rejected", obj.uri, report_uri=report_uri)

    def _fail(self, obj: StorageObject, source: SourceRef, reason: str) -> SubmitResult:
        log.error("submission failed: %s", reason)
        for job_name in self.ledger.fail_source(source, reason):
            # Parts already running would be billed for a file reported as failed.
            log.warning("cancelling %s: its file failed to submit", job_name)
            self.vertex.cancel(job_name)
        self.announcer.announce_if_done(source)
        return SubmitResult("failed", obj.uri, detail=reason)

    def _validate_and_stage(
        self, obj: StorageObject, source: SourceRef
    ) -> tuple[FileReport, list[int]]:
        """Validate the file and stage it in the same read. A file that turns out invalid
        stops the staging at its first error and leaves no staged part behind."""
        work, source_id = self.settings.work_bucket, source.document_id

        def open_part(part: int) -> tuple[IO[bytes], IO[bytes]]:
            return (
                self.storage.writer(work, staged_requests_name(source_id, part), JSONL),
                self.storage.writer(work, staged_index_name(source_id, part), JSONL),
            )

        stager = Stager(open_part, self.settings.job_limits, tag_lines=self.settings.row_labels)
        try:
            with self._read(obj) as stream:
                report = validate_stream(
                    stream,
                    f"gs://{obj.bucket}/{obj.name}",
                    on_request=stager.add,
                    on_first_error=stager.stop,
                    limits=self.settings.job_limits,
                )
        except BaseException:
            self._discard(stager, source_id)
            raise
        if not report.valid:
            self._discard(stager, source_id)
            return report, []
        return report, [part.number for part in stager.close()]

    def _discard(self, stager: Stager, source_id: str) -> None:
        """No half-written part may replace a good one, nor a bad file leave parts behind."""
        stager.abort(abort)
        work = self.settings.work_bucket
        for part in stager.closed:
            self.storage.delete(work, staged_requests_name(source_id, part.number))
            self.storage.delete(work, staged_index_name(source_id, part.number))
