"""Batch prediction jobs: validation at create, the store, and the background run of each job."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.rpc import status_pb2

from localcloud.vertex.config import Faults, ModelCatalog
from localcloud.vertex.errors import (
    ApiError,
    failed_precondition,
    internal,
    invalid_argument,
    not_found,
)
from localcloud.vertex.filters import parse_filter
from localcloud.vertex.gcs import JobStorage, ObjectPath, StorageProblem
from localcloud.vertex.logs import log
from localcloud.vertex.model import BuiltinModel
from localcloud.vertex.rows import ParsedRow, echo_with_nulls, parse_line, part_keys_of

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
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_MODEL = re.compile(
    r"^(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"publishers/google/models/(?P<model_id>[^/@]+)(?:@[^/]+)?$"
)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_OUTPUT_ONLY_FIELDS = (
    "name",
    "model_version_id",
    "output_info",
    "state",
    "error",
    "partial_failures",
    "resources_consumed",
    "completion_stats",
    "create_time",
    "start_time",
    "end_time",
    "update_time",
    "satisfies_pzs",
    "satisfies_pzi",
)
_CODE_CANCELLED = 1
_CODE_INVALID_ARGUMENT = 3
_CODE_INTERNAL = 13


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def project_number(project: str) -> str:
    """The service names resources with the project number; a project id maps to a fixed one."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)


@dataclass
class JobRecord:
    """One job and what its background run needs; `job` is guarded by the service lock."""

    project: str  # as the caller named it (id or number): the storage client's project
    location: str
    job_id: str
    job: aiplatform_v1.BatchPredictionJob
    wake: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False


@dataclass
class RowOutcome:
    line: dict[str, Any]
    succeeded: bool


class JobService:
    """The batchPredictionJobs collection of every project and location, in memory."""

    def __init__(
        self,
        catalog: ModelCatalog,
        faults: Callable[[], Faults],
        *,
        use_project_numbers: bool = True,
    ) -> None:
        self._catalog = catalog
        self._faults = faults
        self._use_project_numbers = use_project_numbers
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str], JobRecord] = {}
        self._operations: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._storages: dict[str, JobStorage] = {}
        self._threads: list[threading.Thread] = []
        self._rng = random.Random()
        self._stopping = threading.Event()

    # ----- the API -----

    def create(self, project: str, location: str, body: bytes) -> aiplatform_v1.BatchPredictionJob:
        job = _parse_job(body)
        self._validate(job, location)
        now = utc_now()
        with self._lock:
            job_id = str(self._rng.randrange(10**18, 10**19))
            job.name = (
                f"projects/{self._owner(project)}/locations/{location}/batchPredictionJobs/{job_id}"
            )
            job.state = JobState(JobState.JOB_STATE_PENDING)
            job.create_time = now
            job.update_time = now
            record = JobRecord(project, location, job_id, job)
            self._jobs[self._key(project, location, job_id)] = record
            snapshot = _copy(job)
            thread = threading.Thread(
                target=self._run, args=(record,), name=f"vertex-job-{job_id}", daemon=True
            )
            self._threads = [*(alive for alive in self._threads if alive.is_alive()), thread]
        thread.start()
        log("INFO", "job created", job=job.name)
        return snapshot

    def get(self, project: str, location: str, job_id: str) -> aiplatform_v1.BatchPredictionJob:
        with self._lock:
            return _copy(self._record(project, location, job_id).job)

    def list_jobs(
        self, project: str, location: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[aiplatform_v1.BatchPredictionJob], str]:
        matches = parse_filter(filter_text)
        if page_size < 0:
            raise invalid_argument("page_size must not be negative.")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        offset = _decode_page_token(page_token, filter_text)
        owner = self._owner(project)
        with self._lock:
            selected = [
                _copy(record.job)
                for (record_owner, record_location, _), record in self._jobs.items()
                if record_owner == owner and record_location == location and matches(record.job)
            ]
        page = selected[offset : offset + size]
        more = offset + size < len(selected)
        return page, _encode_page_token(offset + size, filter_text) if more else ""

    def cancel(self, project: str, location: str, job_id: str) -> None:
        with self._lock:
            record = self._record(project, location, job_id)
            state = record.job.state
            if state in TERMINAL_STATES:
                raise failed_precondition(
                    f"Cannot cancel BatchPredictionJob {record.job.name} in state {JobState(state).name}."
                )
            if not record.cancel_requested:
                record.cancel_requested = True
                record.job.state = JobState(JobState.JOB_STATE_CANCELLING)
                record.job.update_time = utc_now()
            record.wake.set()

    def delete(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        now = utc_now()
        with self._lock:
            key = self._key(project, location, job_id)
            record = self._record(project, location, job_id)
            if record.job.state not in TERMINAL_STATES:
                raise failed_precondition(
                    f"BatchPredictionJob {record.job.name} is in state {JobState(record.job.state).name} "
                    "and cannot be deleted; cancel it first."
                )
            del self._jobs[key]
            operation_id = str(self._rng.randrange(10**18, 10**19))
            metadata = aiplatform_v1.DeleteOperationMetadata(
                generic_metadata=aiplatform_v1.GenericOperationMetadata(
                    create_time=now, update_time=now
                )
            )
            name = f"projects/{self._owner(project)}/locations/{location}/operations/{operation_id}"
            operation = {
                "name": name,
                "metadata": {
                    "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
                    **json_format.MessageToDict(aiplatform_v1.DeleteOperationMetadata.pb(metadata)),
                },
                "done": True,
                "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
            }
            self._operations[self._key(project, location, operation_id)] = operation
        return operation

    def get_operation(self, project: str, location: str, operation_id: str) -> dict[str, Any]:
        with self._lock:
            operation = self._operations.get(self._key(project, location, operation_id))
        if operation is None:
            raise not_found(f"Operation {operation_id} does not exist.")
        return operation

    def reset(self) -> None:
        """Forget every job and operation (running ones are cancelled first)."""
        with self._lock:
            records = list(self._jobs.values())
            self._jobs.clear()
            self._operations.clear()
        for record in records:
            record.cancel_requested = True
            record.wake.set()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        with self._lock:
            for record in self._jobs.values():
                record.wake.set()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    # ----- lookups -----

    def _owner(self, project: str) -> str:
        return project_number(project) if self._use_project_numbers else project

    def _key(self, project: str, location: str, resource_id: str) -> tuple[str, str, str]:
        return (self._owner(project), location, resource_id)

    def _record(self, project: str, location: str, job_id: str) -> JobRecord:
        if not job_id.isdigit():
            raise invalid_argument(f"Invalid BatchPredictionJob id: {job_id}.")
        record = self._jobs.get(self._key(project, location, job_id))
        if record is None:
            name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"
            raise not_found(f"The BatchPredictionJob {name} does not exist.")
        return record

    def _storage(self, project: str) -> JobStorage:
        with self._lock:
            storage = self._storages.get(project)
            if storage is None:
                storage = self._storages[project] = JobStorage(project)
            return storage

    # ----- validation at create -----

    def _validate(self, job: aiplatform_v1.BatchPredictionJob, location: str) -> None:
        if not job.display_name:
            raise invalid_argument("BatchPredictionJob.display_name is required.")
        if not job.model:
            raise invalid_argument("BatchPredictionJob.model is required.")
        model = _MODEL.match(job.model)
        if model is None:
            raise invalid_argument(
                f"Invalid model {job.model}: batch prediction takes a publisher model, "
                "publishers/google/models/MODEL_ID."
            )
        if model["location"] not in (None, location):
            raise invalid_argument(
                f"Model {job.model} is not in location {location} of the job's parent."
            )
        if not self._catalog.accepts(model["model_id"]):
            raise invalid_argument(f"Do not support publisher model {model['model_id']}")
        inputs = job.input_config
        if inputs.instances_format != "jsonl":
            raise invalid_argument(
                f'Unsupported input_config.instances_format "{inputs.instances_format}": '
                'this emulator reads "jsonl" from Cloud Storage.'
            )
        if not inputs.gcs_source.uris:
            raise invalid_argument("input_config.gcs_source.uris is required.")
        for uri in inputs.gcs_source.uris:
            if not uri.startswith("gs://") or len(uri) <= len("gs://"):
                raise invalid_argument(f"Input URI {uri} is not a Cloud Storage URI (gs://...).")
        outputs = job.output_config
        if outputs.predictions_format != "jsonl":
            raise invalid_argument(
                f'Unsupported output_config.predictions_format "{outputs.predictions_format}": '
                'this emulator writes "jsonl" to Cloud Storage.'
            )
        prefix = outputs.gcs_destination.output_uri_prefix
        if not prefix:
            raise invalid_argument("output_config.gcs_destination.output_uri_prefix is required.")
        if not prefix.startswith("gs://") or len(prefix.rstrip("/")) <= len("gs://"):
            raise invalid_argument(f"Output URI prefix {prefix} is not a Cloud Storage URI.")
        if len(job.labels) > 64:
            raise invalid_argument("A job may have at most 64 labels.")
        for key, value in job.labels.items():
            if not _LABEL_KEY.match(key):
                raise invalid_argument(
                    f'Label key "{key}" is invalid: 1 to 63 characters, lowercase letters, '
                    "digits, underscores and dashes, starting with a lowercase letter."
                )
            if not _LABEL_VALUE.match(value):
                raise invalid_argument(
                    f'Label value "{value}" of key "{key}" is invalid: up to 63 characters, '
                    "lowercase letters, digits, underscores and dashes."
                )

    # ----- the background run -----

    def _run(self, record: JobRecord) -> None:
        try:
            self._run_phases(record)
        except StorageProblem as problem:
            self._finish(
                record, JobState.JOB_STATE_FAILED, _status(_CODE_INVALID_ARGUMENT, problem)
            )
        except Exception as exc:  # a bug here must not leave the job RUNNING for ever
            log("ERROR", "job crashed", error=exc, job=record.job.name)
            self._finish(record, JobState.JOB_STATE_FAILED, _status(_CODE_INTERNAL, exc))

    def _run_phases(self, record: JobRecord) -> None:
        if not self._wait(record, self._faults().pending_seconds):
            return self._finish_cancelled(record)
        self._set_state(record, JobState.JOB_STATE_RUNNING, start=True)
        storage = self._storage(record.project)
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
        if not self._wait(record, self._faults().running_seconds):
            return self._finish_cancelled(record, incomplete=len(lines))
        faults = self._faults()
        fail_job = faults.fail_jobs or record.job.labels.get(faults.fail_label) == "true"
        parsed = [parse_line(number, line) for number, line in enumerate(lines, start=1)]
        attempted = parsed[: len(parsed) // 2] if fail_job else parsed
        outcomes = self._predict(record, storage, attempted, faults)
        directory = self._write_output(record, storage, outcomes)
        stats = aiplatform_v1.CompletionStats(
            successful_count=sum(outcome.succeeded for outcome in outcomes),
            failed_count=sum(not outcome.succeeded for outcome in outcomes),
            incomplete_count=len(parsed) - len(outcomes),
        )
        with self._lock:
            record.job.completion_stats = stats
            record.job.output_info = aiplatform_v1.BatchPredictionJob.OutputInfo(
                gcs_output_directory=directory
            )
        if record.cancel_requested:
            return self._finish_cancelled(record)
        if fail_job:
            error = internal("Internal error occurred (injected by the Vertex AI emulator).")
            return self._finish(record, JobState.JOB_STATE_FAILED, _status(_CODE_INTERNAL, error))
        return self._finish(record, JobState.JOB_STATE_SUCCEEDED, None)

    def _predict(
        self, record: JobRecord, storage: JobStorage, rows: list[ParsedRow], faults: Faults
    ) -> list[RowOutcome]:
        model = BuiltinModel(_model_id(record.job.model), faults.block_marker)
        part_keys: set[str] = set()
        for row in rows:
            canonical = row.canonical_request()
            if canonical is not None:
                part_keys |= part_keys_of(canonical)
        file_sizes: dict[str, int | None] = {}
        outcomes = []
        for row in rows:
            outcomes.append(
                _row_outcome(row, model, storage, file_sizes, faults, frozenset(part_keys))
            )
        return outcomes

    def _write_output(
        self, record: JobRecord, storage: JobStorage, outcomes: list[RowOutcome]
    ) -> str:
        stamp = utc_now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        prefix = record.job.output_config.gcs_destination.output_uri_prefix.rstrip("/")
        directory = f"{prefix}/prediction-model-{stamp}"
        lines = [json.dumps(outcome.line, ensure_ascii=False) for outcome in outcomes]
        storage.write_text(
            ObjectPath.parse(f"{directory}/predictions.jsonl"),
            "".join(line + "\n" for line in _shuffled(lines, record.job_id)),
        )
        return directory

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

    def _finish_cancelled(self, record: JobRecord, incomplete: int | None = None) -> None:
        if self._stopping.is_set() and not record.cancel_requested:
            return  # the emulator is stopping: leave the job as it is
        seconds = self._faults().cancelling_seconds
        if seconds > 0 and not self._stopping.is_set():
            self._stopping.wait(seconds)
        if incomplete is not None:
            with self._lock:
                record.job.completion_stats = aiplatform_v1.CompletionStats(
                    successful_count=0, failed_count=0, incomplete_count=incomplete
                )
        status = status_pb2.Status(code=_CODE_CANCELLED, message="CANCELED")
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


def _model_id(model: str) -> str:
    match = _MODEL.match(model)
    if match is None:  # validated at create
        raise ValueError(model)
    return match["model_id"]


def _row_outcome(
    row: ParsedRow,
    model: BuiltinModel,
    storage: JobStorage,
    file_sizes: dict[str, int | None],
    faults: Faults,
    part_keys: frozenset[str],
) -> RowOutcome:
    now = utc_now()
    processed_time = now.isoformat(timespec="milliseconds")
    canonical = row.canonical_request()
    if row.request is None or canonical is None:
        echoed: Any = row.raw_request if row.raw_request is not None else row.raw_line
        return _failed_row(row, echoed, processed_time, row.error or invalid_argument("Bad row."))
    echoed = echo_with_nulls(canonical, part_keys)
    sizes: dict[str, int] = {}
    for content in [*row.request.contents, row.request.system_instruction]:
        for part in content.parts:
            uri = part.file_data.file_uri
            if not uri:
                continue
            if uri not in file_sizes:
                file_sizes[uri] = storage.size_of(uri)
            size = file_sizes[uri]
            if size is None:
                return _failed_row(row, echoed, processed_time, _unreadable(uri))
            sizes[uri] = size
    if _row_fails(row, faults.row_failure_rate):
        error = internal("Internal error encountered (injected by the Vertex AI emulator).")
        return _failed_row(row, echoed, processed_time, error)
    response = model.generate(row.request, sizes, now)
    line = {"status": "", "processed_time": processed_time, "request": echoed, "response": response}
    return RowOutcome(line, True)


def _failed_row(row: ParsedRow, echoed: Any, processed_time: str, error: ApiError) -> RowOutcome:
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
    digest = hashlib.sha256(f"{row.line_number}:{row.raw_line}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _shuffled(lines: list[str], seed: str) -> list[str]:
    """Output order differs from input order, as in the service; fixed for a given job id."""
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    if len(shuffled) > 1 and shuffled == lines:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled


def _parse_job(body: bytes) -> aiplatform_v1.BatchPredictionJob:
    message = aiplatform_v1.BatchPredictionJob.pb()()
    try:
        json_format.Parse(body or b"{}", message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None
    for name in _OUTPUT_ONLY_FIELDS:
        message.ClearField(name)
    return cast(aiplatform_v1.BatchPredictionJob, aiplatform_v1.BatchPredictionJob.wrap(message))


def _copy(job: aiplatform_v1.BatchPredictionJob) -> aiplatform_v1.BatchPredictionJob:
    """A snapshot that the background run cannot change while it is being sent."""
    message = aiplatform_v1.BatchPredictionJob.pb()()
    message.CopyFrom(aiplatform_v1.BatchPredictionJob.pb(job))
    return cast(aiplatform_v1.BatchPredictionJob, aiplatform_v1.BatchPredictionJob.wrap(message))


def _status(code: int, problem: Exception) -> status_pb2.Status:
    message = problem.message if isinstance(problem, ApiError) else str(problem)
    return status_pb2.Status(code=code, message=message)


def _encode_page_token(offset: int, filter_text: str) -> str:
    payload = json.dumps({"offset": offset, "filter": filter_text}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def _decode_page_token(token: str, filter_text: str) -> int:
    if not token:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(payload["offset"])
        same_filter = payload["filter"] == filter_text
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid_argument(f"Invalid page_token {token}.") from None
    if not same_filter or offset < 0:
        raise invalid_argument("The page_token was made for a different filter.")
    return offset
