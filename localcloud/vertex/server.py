"""HTTP front of the Vertex AI emulator: the REST routes of batchPredictionJobs, and admin.

The server is the local cloud's `LocalServer` (health, request logs, life cycle). The fault
settings (`Faults`) hold the injected-error counters (create_429, create_503, get_429,
get_503, create_provisioning); they live as entries of the server's fault queue, so that
a counter is what is left of its entry and every call uses up one, 429s first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Request

from localcloud.serving import InjectedError, LocalServer, Reply, Route
from localcloud.vertex.config import Faults, ModelCatalog, SettingError
from localcloud.vertex.errors import (
    ApiError,
    failed_precondition,
    invalid_argument,
    resource_exhausted,
    unavailable,
)
from localcloud.vertex.jobs import JobService

CREATE = "batchPredictionJobs.create"
GET = "batchPredictionJobs.get"

_EXHAUSTED = resource_exhausted(
    "Quota exceeded for aiplatform.googleapis.com/batch_prediction_jobs "
    "(injected by the Vertex AI emulator). Please retry later."
)
_UNAVAILABLE = unavailable(
    "The service is currently unavailable (injected by the Vertex AI emulator)."
)
# The Faults counters that are injected errors, in the order a call uses them up.
_INJECTED: tuple[tuple[str, str, ApiError], ...] = (
    ("create_429", CREATE, _EXHAUSTED),
    ("create_503", CREATE, _UNAVAILABLE),
    (
        "create_provisioning",
        CREATE,
        failed_precondition(
            "Service agents are being provisioned (https://cloud.google.com/vertex-ai/"
            "docs/general/access-control#service-agents). Service agents are needed to "
            "read the Cloud Storage file provided. So please try again in a few minutes."
        ),
    ),
    ("get_429", GET, _EXHAUSTED),
    ("get_503", GET, _UNAVAILABLE),
)
_SETTING = "setting"  # the detail naming the Faults counter an entry stands for

_PREFIX = "/<any(v1, v1beta1):version>/projects/<project>/locations/<location>"
_JOB = f"{_PREFIX}/batchPredictionJobs/<resource_id:job_id>"


class _ResourceId(BaseConverter):
    """A job or operation id: one path segment, up to a `:verb`."""

    regex = r"[^/:]+"


class _Verb(BaseConverter):
    regex = r"[a-zA-Z]+"


class VertexEmulator(LocalServer):
    """The Vertex AI batch prediction emulator, in-process; use as a context manager.

    `port=0` takes a free port; `url` is then the address to give clients
    (client_options={"api_endpoint": emulator.url}, transport="rest").
    `faults` and `catalog` default to what the VERTEX_EMULATOR_* environment variables say.
    """

    name = "vertex"
    converters: ClassVar[Mapping[str, type[BaseConverter]]] = {
        "resource_id": _ResourceId,
        "verb": _Verb,
    }

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        catalog: ModelCatalog | None = None,
        use_project_numbers: bool = True,
    ) -> None:
        super().__init__(host, port)
        self._initial_faults = faults if faults is not None else Faults.from_env()
        self._settings = self._initial_faults
        self._use_faults(self._initial_faults)
        self.jobs = JobService(
            catalog if catalog is not None else ModelCatalog.from_env(),
            self.current_faults,
            use_project_numbers=use_project_numbers,
        )

    def routes(self) -> Iterable[Route]:
        return (
            Route(("POST",), f"{_PREFIX}/batchPredictionJobs", CREATE, self._create),
            Route(
                ("GET",), f"{_PREFIX}/batchPredictionJobs", "batchPredictionJobs.list", self._list
            ),
            Route(("GET",), _JOB, GET, self._get),
            Route(("DELETE",), _JOB, "batchPredictionJobs.delete", self._delete),
            Route(("POST",), f"{_JOB}:cancel", "batchPredictionJobs.cancel", self._cancel),
            # Any other verb, or a method a verb does not take.
            Route(None, f"{_JOB}:<verb:verb>", "batchPredictionJobs.verb", self._no_such_method),
            Route(
                ("GET",),
                f"{_PREFIX}/operations/<resource_id:operation_id>",
                "operations.get",
                self._get_operation,
            ),
            Route(("POST",), "/admin/reset", "admin.reset", self._reset, api=False),
        )

    def error(self, status: int, message: str) -> ApiError:
        return ApiError.of_status(status, message)

    def on_stop(self) -> None:
        self.jobs.shutdown()

    # ----- faults -----

    def current_faults(self) -> Faults:
        """The fault settings now; the injected-error counters are what their entries have left."""
        with self.faults.lock:
            left = dict.fromkeys((name for name, _, _ in _INJECTED), 0)
            for entry in self.faults.entries():
                if _SETTING in entry.details:
                    left[entry.details[_SETTING]] += entry.count
            return self._settings.updated(left)

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings (same names as Faults' fields); returns the new set."""
        with self.faults.lock:
            faults = self.current_faults().updated(changes)
            self._use_faults(faults)
            return faults

    def reset(self) -> None:
        """Forget every job and go back to the faults the emulator started with."""
        self._use_faults(self._initial_faults)
        self.jobs.reset()

    def _use_faults(self, faults: Faults) -> None:
        with self.faults.lock:
            self._settings = faults
            entries = [
                InjectedError(error, count, frozenset({endpoint}), {_SETTING: name})
                for name, endpoint, error in _INJECTED
                if (count := getattr(faults, name)) > 0
            ]
            self.faults.replace(lambda entry: _SETTING in entry.details, entries)

    def faults_view(self) -> Any:
        return self.current_faults().as_dict()

    def add_faults(self, body: Mapping[str, Any]) -> None:
        """POST /admin/faults: a JSON object of Faults fields to change."""
        try:
            self.set_faults(**body)
        except SettingError as exc:
            raise invalid_argument(str(exc)) from None

    # ----- the API -----

    def _create(self, request: Request, version: str, project: str, location: str) -> Reply:
        job = self.jobs.create(project, location, request.get_data())
        return _message_reply(aiplatform_v1.BatchPredictionJob.pb(job), request)

    def _list(self, request: Request, version: str, project: str, location: str) -> Reply:
        query = request.args
        try:
            page_size = int(query.get("pageSize", query.get("page_size", "0")))
        except ValueError:
            raise invalid_argument("pageSize must be an integer.") from None
        jobs, next_token = self.jobs.list_jobs(
            project,
            location,
            query.get("filter", ""),
            page_size,
            query.get("pageToken", query.get("page_token", "")),
        )
        response = aiplatform_v1.ListBatchPredictionJobsResponse(
            batch_prediction_jobs=jobs, next_page_token=next_token
        )
        return _message_reply(aiplatform_v1.ListBatchPredictionJobsResponse.pb(response), request)

    def _get(
        self, request: Request, version: str, project: str, location: str, job_id: str
    ) -> Reply:
        job = self.jobs.get(project, location, job_id)
        return _message_reply(aiplatform_v1.BatchPredictionJob.pb(job), request)

    def _delete(
        self, request: Request, version: str, project: str, location: str, job_id: str
    ) -> Reply:
        return Reply(200, self.jobs.delete(project, location, job_id))

    def _cancel(
        self, request: Request, version: str, project: str, location: str, job_id: str
    ) -> Reply:
        self.jobs.cancel(project, location, job_id)
        return Reply(200, {})

    def _no_such_method(self, request: Request, **path: str) -> Reply:
        raise self.error(405, f"Method {request.method} is not allowed here.")

    def _get_operation(
        self, request: Request, version: str, project: str, location: str, operation_id: str
    ) -> Reply:
        return Reply(200, self.jobs.get_operation(project, location, operation_id))

    def _reset(self, request: Request) -> Reply:
        self.reset()
        return Reply(200, self.faults_view())


def _message_reply(message: Any, request: Request) -> Reply:
    """A message as json_format writes it; the REST clients ask for enums as numbers with
    `$alt=json;enum-encoding=int`."""
    numeric_enums = "enum-encoding=int" in request.args.get("$alt", "")
    return Reply(200, json_format.MessageToDict(message, use_integers_for_enums=numeric_enums))
