"""Batch prediction jobs: validation at create, the store, get, list, cancel and delete."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import threading
from collections.abc import Callable
from typing import Any, cast

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from localcloud.vertex.config import Faults, ModelCatalog
from localcloud.vertex.errors import failed_precondition, invalid_argument, not_found
from localcloud.vertex.filters import parse_filter
from localcloud.vertex.gcs import JobStorage
from localcloud.vertex.logs import log
from localcloud.vertex.runner import TERMINAL_STATES, JobRecord, JobRunner, JobState, utc_now

__all__ = ["TERMINAL_STATES", "JobService", "project_number"]

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


def project_number(project: str) -> str:
    """The service names resources with the project number; a project id maps to a fixed one."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)


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
        self._runner = JobRunner(self._lock, faults, self._stopping, self._storage)

    # ----- the API -----

    def create(self, project: str, location: str, body: bytes) -> aiplatform_v1.BatchPredictionJob:
        job = _parse_job(body)
        model_id = self._validate(job, location)
        now = utc_now()
        with self._lock:
            job_id = str(self._rng.randrange(10**18, 10**19))
            job.name = (
                f"projects/{self._owner(project)}/locations/{location}/batchPredictionJobs/{job_id}"
            )
            job.state = JobState(JobState.JOB_STATE_PENDING)
            job.create_time = now
            job.update_time = now
            record = JobRecord(project, location, job_id, job, model_id)
            self._jobs[self._key(project, location, job_id)] = record
            snapshot = _copy(job)
            thread = threading.Thread(
                target=self._runner.run, args=(record,), name=f"vertex-job-{job_id}", daemon=True
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

    def _validate(self, job: aiplatform_v1.BatchPredictionJob, location: str) -> str:
        """Refuses a job the service would refuse; returns its model id."""
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
        return str(model["model_id"])


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
