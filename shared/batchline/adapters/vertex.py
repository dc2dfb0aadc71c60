"""Vertex AI batch prediction jobs through aiplatform_v1.JobServiceClient.

Creating a job is not idempotent (the service has no client-chosen id): callers look for
an existing job by its labels before creating one. Reads are retried here on the codes
the service uses for transient trouble; what still fails is raised as TransientError,
and refusals that a retry cannot fix (a bad request, an unknown model) as PermanentError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from batchline.adapters.deferred_package import enter_deferred
from batchline.domain.batch_jobs import BatchJob
from batchline.domain.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

READ_TIMEOUT_SECONDS = 30.0


def _defer_aiplatform_packages() -> None:
    """aiplatform_v1's own `__init__` (and its types') imports all of Vertex AI (see
    deferred_package); the job service and the types it uses are a tenth of it."""
    enter_deferred("google.cloud.aiplatform_v1")
    enter_deferred("google.cloud.aiplatform_v1.types")


def job_service_client_class() -> type[JobServiceClient]:
    """aiplatform_v1's JobServiceClient, imported without the package's other services."""
    _defer_aiplatform_packages()
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

    return JobServiceClient


class JobGone(PermanentError):
    """Vertex AI does not know the job (404): it was deleted, outside Batchline."""


def model_resource(model: str) -> str:
    """A model id or resource name as the publisher model resource the job takes."""
    if "/" in model:
        return model
    return f"publishers/google/models/{model}"


def _retry() -> Any:
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.TooManyRequests,
            exceptions.ServiceUnavailable,
            exceptions.InternalServerError,
            exceptions.DeadlineExceeded,
        ),
        initial=0.5,
        maximum=8.0,
        timeout=READ_TIMEOUT_SECONDS,
    )


def error_status(exc: Exception) -> str:
    """The canonical status of a REST error ("INVALID_ARGUMENT", "FAILED_PRECONDITION", ...).

    Over REST the client picks the exception class from the HTTP code alone, so every 400
    is a BadRequest; the status that tells them apart is in the error body.
    """
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"] if response is not None else ""
    except (ValueError, KeyError, TypeError, AttributeError):
        status = ""
    return str(status)


@contextmanager
def _classified(action: str) -> Iterator[None]:
    """Google API errors as Batchline's transient or permanent errors."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.BadRequest as exc:
        # FAILED_PRECONDITION at create is a brand-new project's "service agents are being
        # provisioned": it clears with time. Any other 400 is the request's own fault.
        if error_status(exc) == "FAILED_PRECONDITION":
            raise TransientError(f"{action}: {exc}") from exc
        raise PermanentError(f"{action}: {exc.message}") from exc
    except (exceptions.NotFound, exceptions.OutOfRange) as exc:
        raise PermanentError(f"{action}: {exc.message}") from exc
    except exceptions.GoogleAPIError as exc:
        # Quota, unavailability, permissions being granted: all can clear with time, so the
        # event is delivered again.
        raise TransientError(f"{action}: {exc}") from exc


def _snapshot(job: Any) -> BatchJob:
    return BatchJob(
        name=job.name,
        state=job.state.name,
        model=job.model,
        labels=dict(job.labels),
        output_directory=job.output_info.gcs_output_directory,
        error=job.error.message if job.error and job.error.code else "",
        create_time=job.create_time or None,
        start_time=job.start_time or None,
        end_time=job.end_time or None,
    )


class VertexJobs:
    """The batch prediction jobs of one project and region."""

    def __init__(self, client: Any, parent: str) -> None:
        self._client = client
        self._parent = parent

    def create(
        self,
        *,
        display_name: str,
        model: str,
        input_uris: Sequence[str],
        output_prefix: str,
        labels: Mapping[str, str],
    ) -> BatchJob:
        _defer_aiplatform_packages()
        from google.cloud.aiplatform_v1.types.batch_prediction_job import BatchPredictionJob

        job = BatchPredictionJob(
            display_name=display_name,
            model=model_resource(model),
            input_config={"instances_format": "jsonl", "gcs_source": {"uris": list(input_uris)}},
            output_config={
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": output_prefix},
            },
            labels=dict(labels),
        )
        with _classified(f"creating batch job {display_name}"):
            created = self._client.create_batch_prediction_job(
                parent=self._parent, batch_prediction_job=job, timeout=READ_TIMEOUT_SECONDS
            )
        return _snapshot(created)

    def get(self, name: str) -> BatchJob:
        """The job as it stands; JobGone when the service has no such job."""
        from google.api_core import exceptions

        try:
            with _classified(f"reading {name}"):
                job = self._client.get_batch_prediction_job(
                    name=name, retry=_retry(), timeout=READ_TIMEOUT_SECONDS
                )
        except PermanentError as exc:
            if isinstance(exc.__cause__, exceptions.NotFound):
                raise JobGone(f"{name} is gone: Vertex AI answered 404 NOT_FOUND") from exc
            raise
        return _snapshot(job)

    def find(self, labels: Mapping[str, str]) -> list[BatchJob]:
        """Jobs carrying all these labels, oldest first."""
        expression = " AND ".join(f'labels.{key}="{value}"' for key, value in labels.items())
        with _classified(f"listing jobs with {expression}"):
            pages = self._client.list_batch_prediction_jobs(
                request={"parent": self._parent, "filter": expression},
                retry=_retry(),
                timeout=READ_TIMEOUT_SECONDS,
            )
            found = [_snapshot(job) for job in pages]
        return sorted(found, key=lambda job: (job.create_time is None, job.create_time, job.name))

    def cancel(self, name: str) -> bool:
        """Ask the service to cancel; False when the job had already ended."""
        from google.api_core import exceptions

        with _classified(f"cancelling {name}"):
            try:
                self._client.cancel_batch_prediction_job(
                    name=name, retry=_retry(), timeout=READ_TIMEOUT_SECONDS
                )
            except exceptions.BadRequest as exc:
                if error_status(exc) == "FAILED_PRECONDITION":  # it had already ended
                    return False
                raise
        return True
