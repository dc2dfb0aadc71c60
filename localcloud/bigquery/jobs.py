"""The jobs resource: insert (each job runs to completion inside it), get, cancel.

Running a job is its kind's runner's work (`loads.LoadJobs`, `queries.QueryJobs`); this
module keeps what all jobs share: ids, the 409 for a known job id that exactly-once
loading relies on, the DONE status with errorResult and errors, statistics, storage.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from localcloud.bigquery.errors import (
    BigQueryError,
    JobFailed,
    duplicate,
    invalid,
    not_found,
    unsupported,
)
from localcloud.bigquery.rest import DEFAULT_LOCATION, ResourceContext, millis, with_etag

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")


ErrorProtos = list[dict[str, Any]]


class JobRunner(Protocol):
    """Runs one kind of job (its `configuration` in `job`): fills in the job's statistics,
    returns its warnings (errors that did not fail it), raises JobFailed or BigQueryError
    when it fails."""

    def __call__(self, project: str, job: dict[str, Any], upload: bytes | None) -> ErrorProtos: ...


class Jobs:
    """jobs.insert, jobs.get, jobs.cancel over the store; `runners` by kind (load, query)."""

    def __init__(self, context: ResourceContext, runners: Mapping[str, JobRunner]) -> None:
        self.store = context.store
        self._clock = context.clock
        self._link = context.link
        self._runners = runners

    def insert_job(
        self, project: str, body: Mapping[str, Any], *, upload: bytes | None = None
    ) -> dict[str, Any]:
        """jobs.insert: refuse a known job id (409), run the job, keep it, return it."""
        reference = body.get("jobReference") or {}
        job_id = str(reference.get("jobId") or f"job_{uuid.uuid4().hex}")
        self.check_new_job(project, body)
        configuration = copy.deepcopy(dict(body.get("configuration") or {}))
        kinds = [k for k in ("load", "query", "copy", "extract") if k in configuration]
        if len(kinds) != 1:
            raise invalid(
                "Job configuration must contain exactly one job-specific configuration"
                " object (e.g., query, load, extract, copy)."
            )
        kind = kinds[0]
        if kind in ("copy", "extract"):
            raise unsupported(f"{kind.capitalize()} jobs")
        if upload is not None and kind != "load":
            raise invalid("Only load jobs take uploaded data")
        location = str(reference.get("location") or DEFAULT_LOCATION)
        configuration["jobType"] = kind.upper()
        started = self._clock()
        job: dict[str, Any] = {
            "kind": "bigquery#job",
            "id": f"{project}:{location}.{job_id}",
            "selfLink": self._link(f"projects/{project}/jobs/{job_id}?location={location}"),
            "jobReference": {"projectId": project, "jobId": job_id, "location": location},
            "configuration": configuration,
            "jobCreationReason": {"code": "REQUESTED"},
            "statistics": {"creationTime": millis(started), "startTime": millis(started)},
        }
        status: dict[str, Any] = {"state": "DONE"}
        try:
            warnings = self._runners[kind](project, job, upload)
            if warnings:
                status["errors"] = warnings
        except JobFailed as failure:
            status["errorResult"] = failure.errors[0]
            status["errors"] = failure.errors
        except BigQueryError as error:
            # A dry run creates no job: what would fail it is the request's error.
            if error.code >= 500 or configuration.get("dryRun"):
                raise
            status["errorResult"] = error.error_proto()
            status["errors"] = [error.error_proto()]
        job["status"] = status
        job["statistics"]["endTime"] = millis(self._clock())
        with_etag(job)
        if not configuration.get("dryRun"):
            self.store.put_job(project, job_id, job)
        return job

    def check_new_job(self, project: str, body: Mapping[str, Any]) -> None:
        """409 for a job id that exists: what makes retried loads exactly-once."""
        reference = body.get("jobReference") or {}
        if reference.get("projectId") not in (None, project):
            raise invalid("The project in the job reference does not match the request")
        job_id = reference.get("jobId")
        if job_id is None:
            return
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise invalid(
                f'Invalid job ID "{job_id}". Job IDs must be alphanumeric (plus underscores'
                " and dashes) and must be at most 1024 characters long."
            )
        existing = self.store.get_job(project, job_id)
        if existing is not None:
            location = existing["jobReference"].get("location", DEFAULT_LOCATION)
            raise duplicate(f"Job {project}:{location}.{job_id}")

    def get_job(self, project: str, job_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        job = self.store.get_job(project, job_id)
        if job is None:
            location = params.get("location") or DEFAULT_LOCATION
            raise not_found(f"Job {project}:{location}.{job_id}")
        return job

    def cancel_job(self, project: str, job_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        # Jobs finish inside jobs.insert, so there is never anything left to cancel.
        return {"kind": "bigquery#jobCancelResponse", "job": self.get_job(project, job_id, params)}
