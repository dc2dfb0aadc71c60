"""HTTP front of the Vertex AI emulator: the REST routes of batchPredictionJobs, admin, health."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from localcloud.vertex.config import Faults, ModelCatalog, SettingError
from localcloud.vertex.errors import (
    ApiError,
    failed_precondition,
    invalid_argument,
    not_found,
    resource_exhausted,
    unavailable,
)
from localcloud.vertex.jobs import JobService
from localcloud.vertex.logs import log

_PREFIX = r"^/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_JOBS = re.compile(_PREFIX + r"/batchPredictionJobs$")
_JOB = re.compile(_PREFIX + r"/batchPredictionJobs/(?P<job_id>[^/:]+)(?P<verb>:[a-zA-Z]+)?$")
_OPERATION = re.compile(_PREFIX + r"/operations/(?P<operation_id>[^/:]+)$")


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes

    @property
    def numeric_enums(self) -> bool:
        """The REST clients ask for enums as numbers with `$alt=json;enum-encoding=int`."""
        return "enum-encoding=int" in self.query.get("$alt", "")


@dataclass(frozen=True)
class _Answer:
    status: int
    body: str


class VertexEmulator:
    """The Vertex AI batch prediction emulator, in-process; use as a context manager.

    `port=0` takes a free port; `url` is then the address to give clients
    (client_options={"api_endpoint": emulator.url}, transport="rest").
    `faults` and `catalog` default to what the VERTEX_EMULATOR_* environment variables say.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        catalog: ModelCatalog | None = None,
        use_project_numbers: bool = True,
    ) -> None:
        self._initial_faults = faults if faults is not None else Faults.from_env()
        self._faults = self._initial_faults
        self._faults_lock = threading.Lock()
        self.jobs = JobService(
            catalog if catalog is not None else ModelCatalog.from_env(),
            self.current_faults,
            use_project_numbers=use_project_numbers,
        )
        self._host = host
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- life cycle -----

    def start(self) -> VertexEmulator:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._requested_port), _Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        log("INFO", "listening", url=self.url)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self.jobs.shutdown()
        if self._thread is not None:
            self._thread.join(5)
        log("INFO", "stopped")

    def __enter__(self) -> VertexEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # ----- faults -----

    def current_faults(self) -> Faults:
        with self._faults_lock:
            return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings (same names as Faults' fields); returns the new set."""
        with self._faults_lock:
            self._faults = self._faults.updated(changes)
            return self._faults

    def reset(self) -> None:
        """Forget every job and go back to the faults the emulator started with."""
        with self._faults_lock:
            self._faults = self._initial_faults
        self.jobs.reset()

    def _take_injected_error(self, call: str) -> ApiError | None:
        """Use up one injected 429 (first), 503, or (create only) provisioning refusal."""
        with self._faults_lock:
            faults = self._faults
            if getattr(faults, f"{call}_429") > 0:
                self._faults = faults.updated({f"{call}_429": getattr(faults, f"{call}_429") - 1})
                return resource_exhausted(
                    "Quota exceeded for aiplatform.googleapis.com/batch_prediction_jobs "
                    "(injected by the Vertex AI emulator). Please retry later."
                )
            if getattr(faults, f"{call}_503") > 0:
                self._faults = faults.updated({f"{call}_503": getattr(faults, f"{call}_503") - 1})
                return unavailable(
                    "The service is currently unavailable (injected by the Vertex AI emulator)."
                )
            if call == "create" and faults.create_provisioning > 0:
                self._faults = faults.updated(
                    {"create_provisioning": faults.create_provisioning - 1}
                )
                return failed_precondition(
                    "Service agents are being provisioned (https://cloud.google.com/vertex-ai/"
                    "docs/general/access-control#service-agents). Service agents are needed to "
                    "read the Cloud Storage file provided. So please try again in a few minutes."
                )
        return None

    # ----- routing -----

    def handle(self, request: _Request) -> _Answer:
        path = request.path
        if path == "/healthz":
            return _json_answer(200, {"status": "ok"})
        if path.startswith("/admin/"):
            return self._admin(request)
        if match := _JOBS.match(path):
            project, location = match["project"], match["location"]
            if request.method == "POST":
                return self._create(request, project, location)
            if request.method == "GET":
                return self._list(request, project, location)
            return _method_not_allowed(request)
        if match := _JOB.match(path):
            project, location, job_id = match["project"], match["location"], match["job_id"]
            verb = match["verb"]
            if verb == ":cancel" and request.method == "POST":
                self.jobs.cancel(project, location, job_id)
                return _json_answer(200, {})
            if verb is None and request.method == "GET":
                if injected := self._take_injected_error("get"):
                    raise injected
                job = self.jobs.get(project, location, job_id)
                return _message_answer(aiplatform_v1.BatchPredictionJob.pb(job), request)
            if verb is None and request.method == "DELETE":
                return _json_answer(200, self.jobs.delete(project, location, job_id))
            return _method_not_allowed(request)
        if (match := _OPERATION.match(path)) and request.method == "GET":
            operation = self.jobs.get_operation(
                match["project"], match["location"], match["operation_id"]
            )
            return _json_answer(200, operation)
        raise not_found(f"The requested URL {path} was not found on this server.")

    def _create(self, request: _Request, project: str, location: str) -> _Answer:
        if injected := self._take_injected_error("create"):
            raise injected
        job = self.jobs.create(project, location, request.body)
        return _message_answer(aiplatform_v1.BatchPredictionJob.pb(job), request)

    def _list(self, request: _Request, project: str, location: str) -> _Answer:
        try:
            page_size = int(request.query.get("pageSize", request.query.get("page_size", "0")))
        except ValueError:
            raise invalid_argument("pageSize must be an integer.") from None
        jobs, next_token = self.jobs.list_jobs(
            project,
            location,
            request.query.get("filter", ""),
            page_size,
            request.query.get("pageToken", request.query.get("page_token", "")),
        )
        response = aiplatform_v1.ListBatchPredictionJobsResponse(
            batch_prediction_jobs=jobs, next_page_token=next_token
        )
        return _message_answer(aiplatform_v1.ListBatchPredictionJobsResponse.pb(response), request)

    def _admin(self, request: _Request) -> _Answer:
        if request.path == "/admin/faults" and request.method == "GET":
            return _json_answer(200, self.current_faults().as_dict())
        if request.path == "/admin/faults" and request.method == "POST":
            changes = _json_object(request.body)
            try:
                return _json_answer(200, self.set_faults(**changes).as_dict())
            except SettingError as exc:
                raise invalid_argument(str(exc)) from None
        if request.path == "/admin/reset" and request.method == "POST":
            self.reset()
            return _json_answer(200, self.current_faults().as_dict())
        raise not_found(f"No admin route {request.method} {request.path}.")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        raise invalid_argument(f"The body is not JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise invalid_argument("The body must be a JSON object.")
    return value


def _json_answer(status: int, body: dict[str, Any]) -> _Answer:
    return _Answer(status, json.dumps(body))


def _message_answer(message: Any, request: _Request) -> _Answer:
    body = json_format.MessageToJson(
        message, use_integers_for_enums=request.numeric_enums, indent=None
    )
    return _Answer(200, body)


def _method_not_allowed(request: _Request) -> _Answer:
    error = ApiError(405, "UNIMPLEMENTED", f"Method {request.method} is not allowed here.")
    return _json_answer(405, error.body())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalVertexAI/1.0"
    # Headers and body go out in two writes; with Nagle on, keep-alive clients wait 40 ms
    # for a delayed ACK on every call.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        started = time.monotonic()
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        request = _Request(method, urllib.parse.unquote(parsed.path), query, body)
        emulator: VertexEmulator = self.server.emulator  # type: ignore[attr-defined]
        try:
            answer = emulator.handle(request)
        except ApiError as error:
            answer = _json_answer(error.http_code, error.body())
        except Exception as exc:  # the client must get an answer, and the log the traceback
            log("ERROR", "request crashed", error=exc, method=method, path=self.path)
            answer = _json_answer(
                500, {"error": {"code": 500, "message": "Internal error.", "status": "INTERNAL"}}
            )
        # Logged before the answer goes out, so log lines follow the order clients see.
        _log_request(method, self.path, answer.status, started)
        self._send(answer)

    def _send(self, answer: _Answer) -> None:
        payload = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: every request is logged once, as JSON, by _log_request."""


def _log_request(method: str, path: str, status: int, started: float) -> None:
    severity = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    http_request = {
        "requestMethod": method,
        "requestUrl": path,
        "status": status,
        "latency": f"{time.monotonic() - started:.6f}s",
    }
    log(severity, f"{method} {path} {status}", httpRequest=http_request)
