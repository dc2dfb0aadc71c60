"""The background run of one batch job: queue, rows, export of what was completed, final state.

A job waits PENDING (pending_seconds; past max_pending_seconds it expires), then RUNNING: its
rows are answered in input order, spread evenly over running_seconds, and completion_stats
follow them. Whatever ends the job (all rows done, a cancel, an injected end part-way) the rows
completed so far are exported, as the service does ("If the batch prediction job is terminated,
all completed rows are exported"), to <prefix>/prediction-model-<timestamp>/predictions.jsonl,
and completion_stats always add up to the input's lines: successful + failed + incomplete.
A job that completed no row exports nothing and has no output directory.

A job whose input holds lines of an earlier job's output resumes it ("Resume an incomplete
batch inference job"): completed lines are copied unchanged (and count as successful), the
others are answered again, and the output is the merge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.cloud import aiplatform_v1
from google.rpc import status_pb2

from localcloud.vertex.config import JSON_FAULTS, Faults
from localcloud.vertex.echo import RequestEcho, sorted_keys
from localcloud.vertex.errors import (
    ApiError,
    cached_content_row,
    generation_failed_row,
    internal,
    invalid_argument,
    not_found,
    quota_exceeded_row,
)
from localcloud.vertex.gcs import JobStorage, ObjectPath, StorageProblem
from localcloud.vertex.logs import log
from localcloud.vertex.model import BuiltinModel
from localcloud.vertex.rows import InputPlan, ParsedRow, plan_input
from localcloud.vertex.usage import PrefixCache

JobState = aiplatform_v1.JobState
TERMINAL_STATES = frozenset(
    {
        JobState.JOB_STATE_SUCCEEDED,
        JobState.JOB_STATE_FAILED,
        JobState.JOB_STATE_CANCELLED,
        JobState.JOB_STATE_EXPIRED,
        JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
    }
)
MAX_REQUESTS_PER_JOB = 200_000
CODE_CANCELLED = 1
CODE_INVALID_ARGUMENT = 3
CODE_INTERNAL = 13


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class JobRecord:
    """One job and what its background run needs; `job` is guarded by the service lock."""

    project: str  # as the caller named it (id or number): the storage client's project
    location: str
    job_id: str
    job: aiplatform_v1.BatchPredictionJob
    model_id: str
    wake: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False


@dataclass
class RowOutcome:
    line: dict[str, Any]
    succeeded: bool


@dataclass(frozen=True)
class EndPoint:
    """How many of the rows to answer a job completes, and the state it then ends in."""

    rows: int
    state: int
    error: status_pb2.Status | None = None


class JobRunner:
    """Runs jobs in the background; shares the job service's lock and stop signal."""

    def __init__(
        self,
        lock: threading.Lock,
        faults: Callable[[], Faults],
        stopping: threading.Event,
        storage: Callable[[str], JobStorage],
    ) -> None:
        self._lock = lock
        self._faults = faults
        self._stopping = stopping
        self._storage = storage

    def run(self, record: JobRecord) -> None:
        try:
            self._run(record)
        except StorageProblem as problem:
            status = status_pb2.Status(code=CODE_INVALID_ARGUMENT, message=str(problem))
            self._finish(record, JobState.JOB_STATE_FAILED, status)
        except Exception as exc:  # a bug here must not leave the job RUNNING for ever
            log("ERROR", "job crashed", error=exc, job=record.job.name)
            status = status_pb2.Status(code=CODE_INTERNAL, message=str(exc))
            self._finish(record, JobState.JOB_STATE_FAILED, status)

    # ----- the phases -----

    def _run(self, record: JobRecord) -> None:
        faults = self._faults()
        expires = faults.pending_seconds > faults.max_pending_seconds
        if not self._wait(record, min(faults.pending_seconds, faults.max_pending_seconds)):
            if not record.cancel_requested:
                return None  # the emulator is stopping: leave the job as it is
            return self._end_unstarted(record, JobState.JOB_STATE_CANCELLED)
        if expires:
            return self._end_unstarted(record, JobState.JOB_STATE_EXPIRED)
        self._set_state(record, JobState.JOB_STATE_RUNNING, start=True)
        storage = self._storage(record.project)
        plan = plan_input(self._input_lines(record, storage))
        faults = self._faults().for_job(record.job.labels)
        end = _end_point(record, faults, len(plan.to_answer))
        outcomes = self._answer(record, storage, plan, faults, end.rows)
        if outcomes is None:
            return None  # the emulator is stopping: leave the job as it is
        directory = None
        if plan.copied or outcomes:
            directory = self._write_output(record, storage, plan.copied, outcomes)
        with self._lock:
            record.job.completion_stats = _stats(plan, outcomes)
            if directory is not None:
                record.job.output_info = aiplatform_v1.BatchPredictionJob.OutputInfo(
                    gcs_output_directory=directory
                )
        if record.cancel_requested or end.state == JobState.JOB_STATE_CANCELLED:
            return self._finish_cancelled(record)
        return self._finish(record, end.state, end.error)

    def _end_unstarted(self, record: JobRecord, state: int) -> None:
        """A job that never ran (cancelled or expired while pending): no output, all rows
        incomplete."""
        try:
            total = len(self._input_lines(record, self._storage(record.project)))
        except StorageProblem:
            total = 0  # the input cannot be read: nothing to count
        with self._lock:
            record.job.completion_stats = aiplatform_v1.CompletionStats(incomplete_count=total)
        if state == JobState.JOB_STATE_CANCELLED:
            return self._finish_cancelled(record)
        return self._finish(record, state, None)

    def _input_lines(self, record: JobRecord, storage: JobStorage) -> list[str]:
        paths = [
            path for uri in record.job.input_config.gcs_source.uris for path in storage.expand(uri)
        ]
        lines = [
            line for path in paths for line in storage.read_text(path).splitlines() if line.strip()
        ]
        if len(lines) > MAX_REQUESTS_PER_JOB:
            raise StorageProblem(
                f"The input holds {len(lines)} requests; a job takes at most {MAX_REQUESTS_PER_JOB}."
            )
        return lines

    def _answer(
        self,
        record: JobRecord,
        storage: JobStorage,
        plan: InputPlan,
        faults: Faults,
        limit: int,
    ) -> list[RowOutcome] | None:
        """Answer up to `limit` rows, evenly over running_seconds; None if the emulator stops."""
        answering = RowAnswerer(record.model_id, storage, plan.to_answer, faults)
        total = len(plan.to_answer)
        started = time.monotonic()
        outcomes: list[RowOutcome] = []
        for index, row in enumerate(plan.to_answer[:limit]):
            if faults.running_seconds > 0:
                due = started + faults.running_seconds * (index + 1) / total
                remaining = due - time.monotonic()
                if remaining > 0:
                    record.wake.wait(remaining)
            if record.cancel_requested:
                break
            if self._stopping.is_set():
                return None
            outcomes.append(answering.answer(row))
            if faults.running_seconds > 0:  # progress, as the console shows it
                with self._lock:
                    record.job.completion_stats = _stats(plan, outcomes)
        if faults.running_seconds > 0 and len(outcomes) == limit < total:
            # A job ended part-way stops when its next row would have been due.
            record.wake.wait(faults.running_seconds / total)
        return outcomes

    def _write_output(
        self, record: JobRecord, storage: JobStorage, copied: list[str], outcomes: list[RowOutcome]
    ) -> str:
        stamp = utc_now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        prefix = record.job.output_config.gcs_destination.output_uri_prefix.rstrip("/")
        directory = f"{prefix}/prediction-model-{stamp}"
        lines = [*copied, *(json.dumps(o.line, ensure_ascii=False) for o in outcomes)]
        storage.write_text(
            ObjectPath.parse(f"{directory}/predictions.jsonl"),
            "".join(line + "\n" for line in _shuffled(lines, record.job_id)),
        )
        return directory

    # ----- states -----

    def _wait(self, record: JobRecord, seconds: float) -> bool:
        """Sleep `seconds` unless cancelled or stopped; False when the job must stop."""
        if seconds > 0:
            record.wake.wait(seconds)
        return not record.cancel_requested and not self._stopping.is_set()

    def _set_state(self, record: JobRecord, state: int, *, start: bool = False) -> None:
        now = utc_now()
        with self._lock:
            if record.cancel_requested and state not in TERMINAL_STATES:
                return
            record.job.state = JobState(state)
            record.job.update_time = now
            if start:
                record.job.start_time = now

    def _finish_cancelled(self, record: JobRecord) -> None:
        if self._stopping.is_set() and not record.cancel_requested:
            return  # the emulator is stopping: leave the job as it is
        with self._lock:
            if record.job.state != JobState.JOB_STATE_CANCELLING:
                record.job.state = JobState(JobState.JOB_STATE_CANCELLING)
                record.job.update_time = utc_now()
        seconds = self._faults().cancelling_seconds
        if seconds > 0 and not self._stopping.is_set():
            self._stopping.wait(seconds)
        status = status_pb2.Status(code=CODE_CANCELLED, message="CANCELED")
        self._finish(record, JobState.JOB_STATE_CANCELLED, status)

    def _finish(self, record: JobRecord, state: int, error: status_pb2.Status | None) -> None:
        now = utc_now()
        with self._lock:
            record.job.state = JobState(state)
            record.job.end_time = now
            record.job.update_time = now
            if error is not None:
                record.job.error = error
        log("INFO", "job finished", job=record.job.name, state=JobState(state).name)


class RowAnswerer:
    """Answers the rows of one job: the model, its implicit cache, the echo, the files."""

    def __init__(
        self, model_id: str, storage: JobStorage, rows: list[ParsedRow], faults: Faults
    ) -> None:
        self._model = BuiltinModel(model_id, faults.block_marker)
        self._cache = PrefixCache()
        self._echo = RequestEcho(
            rows,
            mode=faults.request_echo,
            drop_labels=faults.drop_request_labels,
            unique_value_limit=faults.label_unique_value_limit,
        )
        self._storage = storage
        self._file_sizes: dict[str, int | None] = {}
        self._faults = faults

    def answer(self, row: ParsedRow) -> RowOutcome:
        now = utc_now()
        processed_time = now.isoformat(timespec="milliseconds")
        echoed = self._echo.of(row)
        request = row.request
        if request is None:
            return _failed(echoed, processed_time, row.error or invalid_argument("Bad row."))
        sizes: dict[str, int] = {}
        for content in [*request.contents, request.system_instruction]:
            for part in content.parts:
                uri = part.file_data.file_uri
                if not uri:
                    continue
                if uri not in self._file_sizes:
                    self._file_sizes[uri] = self._storage.size_of(uri)
                size = self._file_sizes[uri]
                if size is None:
                    return _failed(echoed, processed_time, _unreadable(uri))
                sizes[uri] = size
        if request.cached_content:  # explicit context caching is not supported in batch
            return _failed(echoed, processed_time, cached_content_row(request.cached_content))
        if _row_fails(row, self._faults.row_failure_rate):
            return _failed(echoed, processed_time, self._injected_failure())
        json_fault = self._json_fault(row)
        response = self._model.generate(request, sizes, now, self._cache, json_fault=json_fault)
        line = {
            "status": "",
            "processed_time": processed_time,
            "request": echoed,
            "response": sorted_keys(response),
        }
        return RowOutcome(line, True)

    def _json_fault(self, row: ParsedRow) -> str | None:
        """How this row's JSON answer goes wrong (Faults.json_fault), or None."""
        share = _row_share(row, "json")
        if share >= self._faults.json_fault_rate:
            return None
        if self._faults.json_fault != "mixed":
            return self._faults.json_fault
        kinds = JSON_FAULTS[:-1]
        return kinds[int(share / self._faults.json_fault_rate * len(kinds)) % len(kinds)]

    def _injected_failure(self) -> ApiError:
        if self._faults.row_failure_code == 429:
            return quota_exceeded_row(self._model.model_id)
        return generation_failed_row(internal("Internal error encountered."))


def _end_point(record: JobRecord, faults: Faults, total: int) -> EndPoint:
    if faults.fail_jobs or record.job.labels.get(faults.fail_label) == "true":
        message = "Internal error occurred (injected by the Vertex AI emulator)."
        return EndPoint(
            total // 2,
            JobState.JOB_STATE_FAILED,
            status_pb2.Status(code=CODE_INTERNAL, message=message),
        )
    if not faults.end_early_state:
        return EndPoint(total, JobState.JOB_STATE_SUCCEEDED)
    rows = faults.end_early_after_rows or int(total * faults.end_early_after_fraction)
    state = JobState[f"JOB_STATE_{faults.end_early_state}"]
    error = None
    if state == JobState.JOB_STATE_FAILED:
        message = f"Internal error occurred (the job was ended after {min(rows, total)} rows)."
        error = status_pb2.Status(code=CODE_INTERNAL, message=message)
    return EndPoint(min(rows, total), state, error)


def _stats(plan: InputPlan, outcomes: list[RowOutcome]) -> aiplatform_v1.CompletionStats:
    succeeded = sum(outcome.succeeded for outcome in outcomes)
    return aiplatform_v1.CompletionStats(
        successful_count=len(plan.copied) + succeeded,
        failed_count=len(outcomes) - succeeded,
        incomplete_count=plan.total - len(plan.copied) - len(outcomes),
    )


def _failed(echoed: Any, processed_time: str, error: ApiError) -> RowOutcome:
    line = {"status": error.row_status(), "processed_time": processed_time, "request": echoed}
    return RowOutcome(line, False)


def _unreadable(uri: str) -> ApiError:
    if uri.startswith("gs://"):
        return not_found(
            f"Cannot read {uri}: the object does not exist or the Vertex AI service agent "
            "has no access to it."
        )
    return invalid_argument(
        f"Cannot fetch content from the provided URL {uri}. Please ensure the URL is valid "
        "and accessible by Vertex AI."
    )


def _row_fails(row: ParsedRow, rate: float) -> bool:
    if rate <= 0:
        return False
    return _row_share(row) < rate


def _row_share(row: ParsedRow, salt: str = "") -> float:
    """A number in [0, 1) fixed by the input line: the same file picks the same rows."""
    key = (
        f"{row.line_number}:{row.raw_line}"
        if not salt
        else f"{salt}:{row.line_number}:{row.raw_line}"
    )
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _shuffled(lines: list[str], seed: str) -> list[str]:
    """Output order differs from input order, as in the service; fixed for a given job id."""
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    if len(shuffled) > 1 and shuffled == lines:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled
