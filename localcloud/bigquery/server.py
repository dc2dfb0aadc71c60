"""The HTTP side: BigQuery's REST v2 paths on a Werkzeug server, plus health and admin.

`BigQueryEmulator` runs in-process (tests) or from `python -m localcloud.bigquery`.
Every answer is JSON in BigQuery's shapes; errors use Google's error envelope. Injected
faults (429/503) answer the next API requests with the reasons the client retries on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from localcloud.bigquery.conformance import DiscoveryDocument
from localcloud.bigquery.errors import BigQueryError, invalid
from localcloud.bigquery.service import BigQueryService
from localcloud.bigquery.sql import TableName
from localcloud.bigquery.store import Store
from localcloud.bigquery.uploads import ResumableUploads, parse_multipart_related

_LOG = logging.getLogger("localcloud.bigquery")

# What BigQuery answers when it sheds load; google.cloud.bigquery.retry retries these reasons.
_FAULT_DEFAULTS: dict[int, tuple[str, str]] = {
    429: (
        "rateLimitExceeded",
        "Exceeded rate limits: too many api requests per user per method for this user_method",
    ),
    500: ("backendError", "Backend error. Retrying may solve the problem."),
    502: ("badGateway", "Bad gateway"),
    503: ("backendError", "Error encountered during execution. Retrying may solve the problem."),
}


@dataclass(frozen=True)
class Fault:
    """`count` answers with HTTP `status` (429, 500, 502 or 503) for the next API requests."""

    status: int
    count: int = 1
    reason: str | None = None

    def error(self) -> BigQueryError:
        default_reason, message = _FAULT_DEFAULTS[self.status]
        return BigQueryError(self.status, self.reason or default_reason, message)


class FaultInjector:
    """A queue of injected failures, consumed one per API request."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._pending: deque[list[Any]] = deque()
        self._lock = threading.Lock()
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        if fault.status not in _FAULT_DEFAULTS:
            raise ValueError(f"fault status must be one of {sorted(_FAULT_DEFAULTS)}")
        if fault.count < 1:
            raise ValueError("fault count must be at least 1")
        with self._lock:
            self._pending.append([fault, fault.count])

    def take(self) -> BigQueryError | None:
        with self._lock:
            if not self._pending:
                return None
            entry = self._pending[0]
            entry[1] -= 1
            if entry[1] == 0:
                self._pending.popleft()
            fault: Fault = entry[0]
            return fault.error()

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"status": fault.status, "count": left, "reason": fault.error().reason}
                for fault, left in self._pending
            ]


@dataclass(frozen=True)
class Exchange:
    """One answered request, kept when recording (for conformance checks)."""

    method_id: str | None
    http_method: str
    path: str
    status: int
    body: Any


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log: the app logs one JSON line."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


_API = "/bigquery/v2/projects/<project>"
_UPLOAD = "/upload/bigquery/v2/projects/<project>/jobs"
_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", f"{_API}/datasets", "bigquery.datasets.list"),
    ("POST", f"{_API}/datasets", "bigquery.datasets.insert"),
    ("GET", f"{_API}/datasets/<dataset>", "bigquery.datasets.get"),
    ("PATCH", f"{_API}/datasets/<dataset>", "bigquery.datasets.patch"),
    ("DELETE", f"{_API}/datasets/<dataset>", "bigquery.datasets.delete"),
    ("GET", f"{_API}/datasets/<dataset>/tables", "bigquery.tables.list"),
    ("POST", f"{_API}/datasets/<dataset>/tables", "bigquery.tables.insert"),
    ("GET", f"{_API}/datasets/<dataset>/tables/<table>", "bigquery.tables.get"),
    ("PATCH", f"{_API}/datasets/<dataset>/tables/<table>", "bigquery.tables.patch"),
    ("DELETE", f"{_API}/datasets/<dataset>/tables/<table>", "bigquery.tables.delete"),
    ("GET", f"{_API}/datasets/<dataset>/tables/<table>/data", "bigquery.tabledata.list"),
    ("POST", f"{_API}/datasets/<dataset>/tables/<table>/insertAll", "bigquery.tabledata.insertAll"),
    ("POST", f"{_API}/jobs", "bigquery.jobs.insert"),
    ("GET", f"{_API}/jobs/<job>", "bigquery.jobs.get"),
    ("POST", f"{_API}/jobs/<job>/cancel", "bigquery.jobs.cancel"),
    ("POST", f"{_API}/queries", "bigquery.jobs.query"),
    ("GET", f"{_API}/queries/<job>", "bigquery.jobs.getQueryResults"),
    ("POST", _UPLOAD, "upload.start"),
    ("PUT", _UPLOAD, "upload.chunk"),
    ("GET", "/healthz", "healthz"),
    ("GET", "/admin/faults", "admin.faults.list"),
    ("POST", "/admin/faults", "admin.faults.add"),
    ("DELETE", "/admin/faults", "admin.faults.clear"),
)


class BigQueryEmulator:
    """A BigQuery REST v2 emulator on DuckDB.

    In memory unless `database_path` names a DuckDB file; port 0 picks a free port.
    `faults` are answered first; `record_exchanges` keeps every answer in `exchanges`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        database_path: str | None = None,
        *,
        faults: Iterable[Fault] = (),
        insert_id_window_seconds: float = 60.0,
        record_exchanges: bool = False,
        validate_requests: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.database_path = database_path
        self.faults = FaultInjector(faults)
        self.exchanges: list[Exchange] = []
        self._insert_id_window_seconds = insert_id_window_seconds
        self._record = record_exchanges
        self._validate_requests = validate_requests
        self._exchanges_lock = threading.Lock()
        self._uploads = ResumableUploads()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._service: BigQueryService | None = None
        self._url_map = Map(
            [Rule(path, methods=[method], endpoint=endpoint) for method, path, endpoint in _ROUTES]
        )
        self._handlers: dict[str, Callable[..., _Reply]] = {
            "bigquery.datasets.list": self._list_datasets,
            "bigquery.datasets.insert": self._insert_dataset,
            "bigquery.datasets.get": self._get_dataset,
            "bigquery.datasets.patch": self._patch_dataset,
            "bigquery.datasets.delete": self._delete_dataset,
            "bigquery.tables.list": self._list_tables,
            "bigquery.tables.insert": self._insert_table,
            "bigquery.tables.get": self._get_table,
            "bigquery.tables.patch": self._patch_table,
            "bigquery.tables.delete": self._delete_table,
            "bigquery.tabledata.list": self._list_rows,
            "bigquery.tabledata.insertAll": self._insert_all,
            "bigquery.jobs.insert": self._insert_job,
            "bigquery.jobs.get": self._get_job,
            "bigquery.jobs.cancel": self._cancel_job,
            "bigquery.jobs.query": self._query,
            "bigquery.jobs.getQueryResults": self._get_query_results,
            "upload.start": self._start_upload,
            "upload.chunk": self._upload_chunk,
            "healthz": lambda request: _Reply(200, {"status": "ok"}),
            "admin.faults.list": lambda request: _Reply(200, {"pending": self.faults.pending()}),
            "admin.faults.add": self._add_faults,
            "admin.faults.clear": self._clear_faults,
        }

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def service(self) -> BigQueryService:
        if self._service is None:
            raise RuntimeError("the emulator is not started")
        return self._service

    def start(self) -> BigQueryEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        self._store = Store(self.database_path)
        self._server = make_server(
            self.host, self.port, self, threaded=True, request_handler=_QuietHandler
        )
        self._service = BigQueryService(
            self._store,
            base_url=self.url,
            insert_id_window_seconds=self._insert_id_window_seconds,
        )
        server = self._server
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick.
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="bigquery-emulator",
            daemon=True,
        )
        self._thread.start()
        _LOG.info(
            "BigQuery emulator listening on %s",
            self.url,
            extra={"url": self.url, "database": self.database_path or ":memory:"},
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._store is not None:
            self._store.close()
        _LOG.info("BigQuery emulator stopped", extra={"url": self.url})
        self._server = None
        self._thread = None
        self._store = None
        self._service = None

    def __enter__(self) -> BigQueryEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def inject_faults(self, status: int, count: int = 1, reason: str | None = None) -> None:
        """Answer the next `count` API requests with `status` (same as POST /admin/faults)."""
        self.faults.add(Fault(status, count, reason))

    def take_exchanges(self) -> list[Exchange]:
        """The recorded exchanges so far, forgetting them."""
        with self._exchanges_lock:
            taken, self.exchanges = self.exchanges, []
        return taken

    # -- WSGI --------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        endpoint: str | None = None
        try:
            endpoint, arguments = self._url_map.bind_to_environ(environ).match()
            if self._is_api(endpoint):
                fault = self.faults.take()
                if fault is not None:
                    raise fault
            reply = self._dispatch(str(endpoint), request, arguments)
        except BigQueryError as error:
            reply = _Reply(error.code, error.response_body())
        except HTTPException as error:
            reason = "notFound" if error.code == 404 else "invalid"
            message = f"{request.method} {request.path}: {error.name}"
            reply = _Reply(
                error.code or 400, BigQueryError(error.code or 400, reason, message).response_body()
            )
        except Exception as error:
            # A bug in the emulator, not a BigQuery answer: a reason the client does not
            # retry, so a test fails at once instead of retrying for ten minutes.
            _LOG.exception("emulator error on %s %s", request.method, request.path)
            reply = _Reply(
                500,
                BigQueryError(500, "emulatorError", f"Emulator error: {error!r}").response_body(),
            )
        response = Response(status=reply.status, headers=reply.headers or {})
        if reply.body is not None:
            response.set_data(json.dumps(reply.body))
            response.content_type = "application/json; charset=UTF-8"
        self._log(request, reply.status, endpoint, started)
        if self._record and self._is_api(endpoint):
            method_id = "bigquery.jobs.insert" if str(endpoint).startswith("upload.") else endpoint
            with self._exchanges_lock:
                self.exchanges.append(
                    Exchange(method_id, request.method, request.full_path, reply.status, reply.body)
                )
        return response(environ, start_response)

    @staticmethod
    def _is_api(endpoint: str | None) -> bool:
        return endpoint is not None and (
            endpoint.startswith("bigquery.") or endpoint.startswith("upload.")
        )

    def _dispatch(self, endpoint: str, request: Request, arguments: Mapping[str, str]) -> _Reply:
        handler = self._handlers[endpoint]
        if not self._is_api(endpoint):
            return handler(request)
        # One request at a time against DuckDB: simple, and consistent reads.
        with self.service.store.lock:
            return handler(request, **arguments)

    def _log(self, request: Request, status: int, endpoint: str | None, started: float) -> None:
        latency = time.perf_counter() - started
        _LOG.info(
            "%s %s %d %.1fms",
            request.method,
            request.full_path.rstrip("?"),
            status,
            latency * 1000,
            extra={
                "httpRequest": {
                    "requestMethod": request.method,
                    "requestUrl": request.full_path.rstrip("?"),
                    "status": status,
                    "latency": f"{latency:.6f}s",
                },
                "bigqueryMethod": endpoint,
            },
        )

    def _body(self, request: Request, method_id: str) -> dict[str, Any]:
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise invalid(f"Invalid JSON payload received. {exc}") from exc
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        self._check_request(body, method_id)
        return body

    def _check_request(self, body: Mapping[str, Any], method_id: str) -> None:
        """Unknown field names are refused, as Google's JSON parser refuses them."""
        if not self._validate_requests:
            return
        document = DiscoveryDocument.bundled()
        schema = document.request_schema(method_id)
        if schema is None:
            return
        problems = document.check(body, schema, names_only=True)
        if problems:
            raise invalid(f"Invalid JSON payload received. Unknown name: {problems[0]}")

    # -- handlers ----------------------------------------------------------------------

    def _list_datasets(self, request: Request, project: str) -> _Reply:
        return _Reply(200, self.service.list_datasets(project, request.args.to_dict()))

    def _insert_dataset(self, request: Request, project: str) -> _Reply:
        body = self._body(request, "bigquery.datasets.insert")
        return _Reply(200, self.service.insert_dataset(project, body))

    def _get_dataset(self, request: Request, project: str, dataset: str) -> _Reply:
        return _Reply(200, self.service.get_dataset(project, dataset))

    def _patch_dataset(self, request: Request, project: str, dataset: str) -> _Reply:
        body = self._body(request, "bigquery.datasets.patch")
        resource = self.service.patch_dataset(
            project, dataset, body, request.headers.get("If-Match")
        )
        return _Reply(200, resource)

    def _delete_dataset(self, request: Request, project: str, dataset: str) -> _Reply:
        delete_contents = request.args.get("deleteContents", "").lower() == "true"
        self.service.delete_dataset(project, dataset, delete_contents)
        return _Reply(204)

    def _list_tables(self, request: Request, project: str, dataset: str) -> _Reply:
        return _Reply(200, self.service.list_tables(project, dataset, request.args.to_dict()))

    def _insert_table(self, request: Request, project: str, dataset: str) -> _Reply:
        body = self._body(request, "bigquery.tables.insert")
        return _Reply(200, self.service.insert_table(project, dataset, body))

    def _get_table(self, request: Request, project: str, dataset: str, table: str) -> _Reply:
        return _Reply(200, self.service.get_table(TableName(project, dataset, table)))

    def _patch_table(self, request: Request, project: str, dataset: str, table: str) -> _Reply:
        body = self._body(request, "bigquery.tables.patch")
        resource = self.service.patch_table(
            TableName(project, dataset, table), body, request.headers.get("If-Match")
        )
        return _Reply(200, resource)

    def _delete_table(self, request: Request, project: str, dataset: str, table: str) -> _Reply:
        self.service.delete_table(TableName(project, dataset, table))
        return _Reply(204)

    def _list_rows(self, request: Request, project: str, dataset: str, table: str) -> _Reply:
        rows = self.service.list_rows(TableName(project, dataset, table), request.args.to_dict())
        return _Reply(200, rows)

    def _insert_all(self, request: Request, project: str, dataset: str, table: str) -> _Reply:
        body = self._body(request, "bigquery.tabledata.insertAll")
        return _Reply(200, self.service.insert_all(TableName(project, dataset, table), body))

    def _insert_job(self, request: Request, project: str) -> _Reply:
        body = self._body(request, "bigquery.jobs.insert")
        return _Reply(200, self.service.insert_job(project, body))

    def _get_job(self, request: Request, project: str, job: str) -> _Reply:
        return _Reply(200, self.service.get_job(project, job, request.args.to_dict()))

    def _cancel_job(self, request: Request, project: str, job: str) -> _Reply:
        return _Reply(200, self.service.cancel_job(project, job, request.args.to_dict()))

    def _query(self, request: Request, project: str) -> _Reply:
        body = self._body(request, "bigquery.jobs.query")
        return _Reply(200, self.service.query(project, body))

    def _get_query_results(self, request: Request, project: str, job: str) -> _Reply:
        results = self.service.get_query_results(project, job, request.args.to_dict())
        return _Reply(200, results)

    def _start_upload(self, request: Request, project: str) -> _Reply:
        upload_type = request.args.get("uploadType", "")
        if upload_type == "multipart":
            metadata, media = parse_multipart_related(
                request.headers.get("Content-Type", ""), request.get_data()
            )
            self._check_request(metadata, "bigquery.jobs.insert")
            return _Reply(200, self.service.insert_job(project, metadata, upload=media))
        if upload_type == "resumable":
            if request.args.get("upload_id"):
                return self._upload_chunk(request, project)
            metadata = self._body(request, "bigquery.jobs.insert")
            if "load" not in (metadata.get("configuration") or {}):
                raise invalid("Only load jobs take uploaded data")
            # A known job id is refused before any data is sent, as BigQuery does.
            self.service.check_new_job(project, metadata)
            upload_id = self._uploads.open(project, metadata)
            location = (
                f"{self.url}/upload/bigquery/v2/projects/{project}/jobs"
                f"?uploadType=resumable&upload_id={upload_id}"
            )
            return _Reply(200, None, {"Location": location})
        raise invalid(f"Invalid uploadType: {upload_type!r} (expected multipart or resumable)")

    def _upload_chunk(self, request: Request, project: str) -> _Reply:
        upload_id = request.args.get("upload_id", "")
        outcome = self._uploads.add_chunk(
            upload_id, request.headers.get("Content-Range"), request.get_data()
        )
        if not outcome.complete:
            headers = {"Range": f"bytes=0-{outcome.received - 1}"} if outcome.received else {}
            return _Reply(308, None, headers)
        self._uploads.close(upload_id)
        session = outcome.session
        job = self.service.insert_job(
            session.project, session.metadata, upload=bytes(session.received)
        )
        return _Reply(200, job)

    def _add_faults(self, request: Request) -> _Reply:
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw.strip() else {}
            fault = Fault(int(body["status"]), int(body.get("count", 1)), body.get("reason"))
            self.faults.add(fault)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise invalid(
                'POST /admin/faults takes {"status": 429|500|502|503, "count": N, "reason"?}:'
                f" {exc}"
            ) from exc
        return _Reply(200, {"pending": self.faults.pending()})

    def _clear_faults(self, request: Request) -> _Reply:
        self.faults.clear()
        return _Reply(200, {"pending": []})
