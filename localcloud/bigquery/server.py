"""The HTTP side: BigQuery's REST v2 paths on the local cloud's server, plus faults.

`BigQueryEmulator` runs in-process (tests) or from `python -m localcloud.bigquery`.
Every answer is JSON in BigQuery's shapes; errors use Google's error envelope with
BigQuery's reasons. Injected faults (429/500/502/503) answer the next API requests with
the reasons the client retries on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request

from localcloud.bigquery.conformance import DiscoveryDocument
from localcloud.bigquery.errors import BigQueryError, invalid
from localcloud.bigquery.service import BigQueryService
from localcloud.bigquery.sql import TableName
from localcloud.bigquery.store import Store
from localcloud.bigquery.streaming import DEFAULT_WINDOW_SECONDS
from localcloud.bigquery.uploads import ResumableUploads, parse_multipart_related
from localcloud.bigquery.zetasql_runtime import ZetaSqlRuntime
from localcloud.serving import InjectedError, LocalServer, Reply, Route

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

    def __post_init__(self) -> None:
        if self.status not in _FAULT_DEFAULTS:
            raise ValueError(f"fault status must be one of {sorted(_FAULT_DEFAULTS)}")
        if self.count < 1:
            raise ValueError("fault count must be at least 1")

    def injected(self) -> InjectedError:
        """The entry of the server's fault queue."""
        default_reason, message = _FAULT_DEFAULTS[self.status]
        reason = self.reason or default_reason
        error = BigQueryError(self.status, reason, message)
        return InjectedError(error, self.count, details={"reason": reason})


@dataclass(frozen=True)
class Exchange:
    """One answered request, kept when recording (for conformance checks)."""

    method_id: str | None
    http_method: str
    path: str
    status: int
    body: Any


_API = "/bigquery/v2/projects/<project>"
_UPLOAD = "/upload/bigquery/v2/projects/<project>/jobs"


class BigQueryEmulator(LocalServer):
    """A BigQuery REST v2 emulator on DuckDB.

    In memory unless `database_path` names a DuckDB file; port 0 picks a free port.
    `faults` are answered first; `record_exchanges` keeps every answer in `exchanges`.
    """

    name = "bigquery"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        database_path: str | None = None,
        *,
        faults: Iterable[Fault] = (),
        insert_id_window_seconds: float = 60.0,
        streaming_buffer_seconds: float = DEFAULT_WINDOW_SECONDS,
        analyzer_cache_dir: str | Path | None = None,
        record_exchanges: bool = False,
        validate_requests: bool = True,
    ) -> None:
        super().__init__(host, port, faults=[fault.injected() for fault in faults])
        self.database_path = database_path
        self.exchanges: list[Exchange] = []
        self._insert_id_window_seconds = insert_id_window_seconds
        self._streaming_buffer_seconds = streaming_buffer_seconds
        self._analyzer_cache_dir = Path(analyzer_cache_dir) if analyzer_cache_dir else None
        self._record = record_exchanges
        self._validate_requests = validate_requests
        self._exchanges_lock = threading.Lock()
        self._uploads = ResumableUploads()
        self._service: BigQueryService | None = None

    def routes(self) -> Iterable[Route]:
        # Endpoints are the discovery document's method ids: conformance checks use them.
        table = f"{_API}/datasets/<dataset>/tables/<table>"
        return (
            Route(("GET",), f"{_API}/datasets", "bigquery.datasets.list", self._list_datasets),
            Route(("POST",), f"{_API}/datasets", "bigquery.datasets.insert", self._insert_dataset),
            Route(
                ("GET",), f"{_API}/datasets/<dataset>", "bigquery.datasets.get", self._get_dataset
            ),
            Route(
                ("PATCH",),
                f"{_API}/datasets/<dataset>",
                "bigquery.datasets.patch",
                self._patch_dataset,
            ),
            Route(
                ("DELETE",),
                f"{_API}/datasets/<dataset>",
                "bigquery.datasets.delete",
                self._delete_dataset,
            ),
            Route(
                ("GET",),
                f"{_API}/datasets/<dataset>/tables",
                "bigquery.tables.list",
                self._list_tables,
            ),
            Route(
                ("POST",),
                f"{_API}/datasets/<dataset>/tables",
                "bigquery.tables.insert",
                self._insert_table,
            ),
            Route(("GET",), table, "bigquery.tables.get", self._get_table),
            Route(("PATCH",), table, "bigquery.tables.patch", self._patch_table),
            Route(("DELETE",), table, "bigquery.tables.delete", self._delete_table),
            Route(("GET",), f"{table}/data", "bigquery.tabledata.list", self._list_rows),
            Route(
                ("POST",), f"{table}/insertAll", "bigquery.tabledata.insertAll", self._insert_all
            ),
            Route(("POST",), f"{_API}/jobs", "bigquery.jobs.insert", self._insert_job),
            Route(("GET",), f"{_API}/jobs/<job>", "bigquery.jobs.get", self._get_job),
            Route(("POST",), f"{_API}/jobs/<job>/cancel", "bigquery.jobs.cancel", self._cancel_job),
            Route(("POST",), f"{_API}/queries", "bigquery.jobs.query", self._query),
            Route(
                ("GET",),
                f"{_API}/queries/<job>",
                "bigquery.jobs.getQueryResults",
                self._get_query_results,
            ),
            Route(
                ("POST",),
                "/admin/streaming/flush",
                "admin.streaming.flush",
                self._flush_streaming,
                api=False,
            ),
            Route(("POST",), _UPLOAD, "upload.start", self._start_upload),
            Route(("PUT",), _UPLOAD, "upload.chunk", self._upload_chunk),
        )

    # -- the server's hooks ----------------------------------------------------------

    def error(self, status: int, message: str) -> BigQueryError:
        reason = {404: "notFound", 409: "duplicate"}.get(status, "invalid")
        return BigQueryError(status, reason, message)

    def crashed(self, request: Request, exc: Exception) -> BigQueryError:
        # A bug in the emulator, not a BigQuery answer: a reason the client does not
        # retry, so a test fails at once instead of retrying for ten minutes.
        return BigQueryError(500, "emulatorError", f"Emulator error: {exc!r}")

    def on_start(self) -> None:
        # The analyzer compiles (or loads its cached build) in the background: the server is
        # ready at once, and only a query that comes before the compile is done waits.
        ZetaSqlRuntime.shared(self._analyzer_cache_dir).start()
        store = Store(self.database_path)
        self._service = BigQueryService(
            store,
            base_url=self.url,
            insert_id_window_seconds=self._insert_id_window_seconds,
            streaming_buffer_seconds=self._streaming_buffer_seconds,
        )

    def on_stop(self) -> None:
        if self._service is not None:
            self._service.store.close()
        self._service = None

    def listening_fields(self) -> dict[str, Any]:
        return {"database": self.database_path or ":memory:"}

    def dispatch(self, route: Route, request: Request, arguments: Mapping[str, Any]) -> Reply:
        if not route.api:
            return route.handler(request, **arguments)
        # One request at a time against DuckDB: simple, and consistent reads.
        with self.service.store.lock:
            return route.handler(request, **arguments)

    def answered(self, route: Route, request: Request, reply: Reply) -> None:
        if not (self._record and route.api):
            return
        method_id = (
            "bigquery.jobs.insert" if route.endpoint.startswith("upload.") else route.endpoint
        )
        exchange = Exchange(method_id, request.method, request.full_path, reply.status, reply.body)
        with self._exchanges_lock:
            self.exchanges.append(exchange)

    def add_faults(self, body: Mapping[str, Any]) -> None:
        try:
            fault = Fault(int(body["status"]), int(body.get("count", 1)), body.get("reason"))
        except (KeyError, TypeError, ValueError) as exc:
            raise invalid(
                'POST /admin/faults takes {"status": 429|500|502|503, "count": N, "reason"?}:'
                f" {exc}"
            ) from exc
        self.faults.add(fault.injected())

    # -- in-process use --------------------------------------------------------------

    @property
    def service(self) -> BigQueryService:
        if self._service is None:
            raise RuntimeError("the emulator is not started")
        return self._service

    def inject_faults(self, status: int, count: int = 1, reason: str | None = None) -> None:
        """Answer the next `count` API requests with `status` (same as POST /admin/faults)."""
        self.faults.add(Fault(status, count, reason).injected())

    def flush_streaming_buffer(self, table: str | None = None) -> None:
        """Store every row waiting in the streaming buffer now (of `project.dataset.table`,
        or of every table): what BigQuery does once the buffer's window has passed."""
        with self.service.store.lock:
            self.service.streaming.flush(_table_name(table) if table else None)

    def _flush_streaming(self, request: Request) -> Reply:
        table = self.json_object(request).get("table")
        self.flush_streaming_buffer(str(table) if table else None)
        return Reply(200, {"flushed": table or "all"})

    def take_exchanges(self) -> list[Exchange]:
        """The recorded exchanges so far, forgetting them."""
        with self._exchanges_lock:
            taken, self.exchanges = self.exchanges, []
        return taken

    def _body(self, request: Request, method_id: str) -> dict[str, Any]:
        body = self.json_object(request)
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

    def _list_datasets(self, request: Request, project: str) -> Reply:
        return Reply(200, self.service.list_datasets(project, request.args.to_dict()))

    def _insert_dataset(self, request: Request, project: str) -> Reply:
        body = self._body(request, "bigquery.datasets.insert")
        return Reply(200, self.service.insert_dataset(project, body))

    def _get_dataset(self, request: Request, project: str, dataset: str) -> Reply:
        return Reply(200, self.service.get_dataset(project, dataset))

    def _patch_dataset(self, request: Request, project: str, dataset: str) -> Reply:
        body = self._body(request, "bigquery.datasets.patch")
        resource = self.service.patch_dataset(
            project, dataset, body, request.headers.get("If-Match")
        )
        return Reply(200, resource)

    def _delete_dataset(self, request: Request, project: str, dataset: str) -> Reply:
        delete_contents = request.args.get("deleteContents", "").lower() == "true"
        self.service.delete_dataset(project, dataset, delete_contents)
        return Reply(204)

    def _list_tables(self, request: Request, project: str, dataset: str) -> Reply:
        return Reply(200, self.service.list_tables(project, dataset, request.args.to_dict()))

    def _insert_table(self, request: Request, project: str, dataset: str) -> Reply:
        body = self._body(request, "bigquery.tables.insert")
        return Reply(200, self.service.insert_table(project, dataset, body))

    def _get_table(self, request: Request, project: str, dataset: str, table: str) -> Reply:
        return Reply(200, self.service.get_table(TableName(project, dataset, table)))

    def _patch_table(self, request: Request, project: str, dataset: str, table: str) -> Reply:
        body = self._body(request, "bigquery.tables.patch")
        resource = self.service.patch_table(
            TableName(project, dataset, table), body, request.headers.get("If-Match")
        )
        return Reply(200, resource)

    def _delete_table(self, request: Request, project: str, dataset: str, table: str) -> Reply:
        self.service.delete_table(TableName(project, dataset, table))
        return Reply(204)

    def _list_rows(self, request: Request, project: str, dataset: str, table: str) -> Reply:
        rows = self.service.list_rows(TableName(project, dataset, table), request.args.to_dict())
        return Reply(200, rows)

    def _insert_all(self, request: Request, project: str, dataset: str, table: str) -> Reply:
        body = self._body(request, "bigquery.tabledata.insertAll")
        return Reply(200, self.service.insert_all(TableName(project, dataset, table), body))

    def _insert_job(self, request: Request, project: str) -> Reply:
        body = self._body(request, "bigquery.jobs.insert")
        return Reply(200, self.service.insert_job(project, body))

    def _get_job(self, request: Request, project: str, job: str) -> Reply:
        return Reply(200, self.service.get_job(project, job, request.args.to_dict()))

    def _cancel_job(self, request: Request, project: str, job: str) -> Reply:
        return Reply(200, self.service.cancel_job(project, job, request.args.to_dict()))

    def _query(self, request: Request, project: str) -> Reply:
        body = self._body(request, "bigquery.jobs.query")
        return Reply(200, self.service.query(project, body))

    def _get_query_results(self, request: Request, project: str, job: str) -> Reply:
        results = self.service.get_query_results(project, job, request.args.to_dict())
        return Reply(200, results)

    def _start_upload(self, request: Request, project: str) -> Reply:
        upload_type = request.args.get("uploadType", "")
        if upload_type == "multipart":
            metadata, media = parse_multipart_related(
                request.headers.get("Content-Type", ""), request.get_data()
            )
            self._check_request(metadata, "bigquery.jobs.insert")
            return Reply(200, self.service.insert_job(project, metadata, upload=media))
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
            return Reply(200, None, {"Location": location})
        raise invalid(f"Invalid uploadType: {upload_type!r} (expected multipart or resumable)")

    def _upload_chunk(self, request: Request, project: str) -> Reply:
        upload_id = request.args.get("upload_id", "")
        outcome = self._uploads.add_chunk(
            upload_id, request.headers.get("Content-Range"), request.get_data()
        )
        if not outcome.complete:
            headers = {"Range": f"bytes=0-{outcome.received - 1}"} if outcome.received else {}
            return Reply(308, None, headers)
        self._uploads.close(upload_id)
        session = outcome.session
        job = self.service.insert_job(
            session.project, session.metadata, upload=bytes(session.received)
        )
        return Reply(200, job)


def _table_name(text: str) -> TableName:
    parts = text.replace(":", ".").split(".")
    if len(parts) != 3 or not all(parts):
        raise invalid(f"Expected a table as project.dataset.table, got {text!r}")
    return TableName(*parts)
