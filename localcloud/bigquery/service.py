"""The BigQuery v2 resources and their rules, independent of HTTP.

Each public method is one REST method: it takes the path parts, the query parameters and
the JSON body, and returns the JSON resource BigQuery would, or raises BigQueryError.
Jobs run to completion inside jobs.insert, so every job a client sees is already DONE.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import duckdb

from localcloud.bigquery.errors import (
    BigQueryError,
    duplicate,
    invalid,
    invalid_query,
    not_found,
    unsupported,
)
from localcloud.bigquery.loads import (
    UPLOAD_LOCATION,
    SourceFile,
    check_rows,
    json_lines,
    read_gcs_sources,
    too_many_errors,
)
from localcloud.bigquery.schema import (
    Field,
    RowError,
    TimestampFormat,
    coerce_row,
    duckdb_type,
    encode_row,
    fields_from_duckdb,
    infer_fields,
    parse_fields,
    quote_identifier,
    same_shape,
)
from localcloud.bigquery.sql import Statement, TableName, translate
from localcloud.bigquery.store import Store

DEFAULT_LOCATION = "US"
# Anonymous query result tables live this long, as in BigQuery.
QUERY_RESULTS_TTL = dt.timedelta(hours=24)
# Rows per page when the caller sets no maxResults (BigQuery pages by ~10 MB).
_DEFAULT_PAGE_ROWS = 100_000

_DATASET_ID = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")
_TABLE_ID_FORBIDDEN = re.compile(r"[./$`\\\x00-\x1f]")

_DATASET_OUTPUT_ONLY = frozenset(
    {"kind", "id", "etag", "selfLink", "creationTime", "lastModifiedTime", "type"}
)
_TABLE_OUTPUT_ONLY = frozenset(
    {
        "kind",
        "id",
        "etag",
        "selfLink",
        "creationTime",
        "lastModifiedTime",
        "location",
        "type",
        "numRows",
        "numBytes",
        "numLongTermBytes",
        "numPhysicalBytes",
        "numPartitions",
        "streamingBuffer",
    }
)
_UNSUPPORTED_TABLE_KINDS = (
    "view",
    "materializedView",
    "externalDataConfiguration",
    "snapshotDefinition",
    "cloneDefinition",
    "model",
)
_TABLE_LIST_FIELDS = (
    "friendlyName",
    "labels",
    "expirationTime",
    "timePartitioning",
    "rangePartitioning",
    "clustering",
    "requirePartitionFilter",
)
_PARTITION_TYPES = ("DAY", "HOUR", "MONTH", "YEAR")
_PARTITION_COLUMN_TYPES = ("TIMESTAMP", "DATE", "DATETIME")
_UNCLUSTERABLE_TYPES = ("RECORD", "JSON", "FLOAT", "BYTES", "TIME")
_CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")
_WRITE_DISPOSITIONS = ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY")
_ERROR_STATUS_BY_REASON = {"notFound": 404, "duplicate": 409, "accessDenied": 403}
_QUERY_REQUEST_TO_CONFIG = (
    "query",
    "useLegacySql",
    "defaultDataset",
    "queryParameters",
    "parameterMode",
    "useQueryCache",
    "maximumBytesBilled",
    "preserveNulls",
    "connectionProperties",
    "createSession",
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _millis(moment: dt.datetime) -> str:
    """BigQuery's times: milliseconds since the epoch, as an int64 string."""
    return str(int(moment.timestamp() * 1000))


def _with_etag(resource: dict[str, Any]) -> dict[str, Any]:
    resource.pop("etag", None)
    digest = hashlib.md5(json.dumps(resource, sort_keys=True).encode(), usedforsecurity=False)
    resource["etag"] = base64.b64encode(digest.digest()).decode("ascii")
    return resource


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise invalid(f"Invalid value for {name}: {raw}") from exc
    if value < 0:
        raise invalid(f"Invalid value for {name}: {raw}")
    return value


def normalize_schema_fields(resources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Field resources as BigQuery echoes them: legacy type names, mode always set."""
    normalized = []
    for resource in resources:
        item = dict(resource)
        field = parse_fields(
            [
                {
                    "name": item["name"],
                    "type": item["type"],
                    "mode": item.get("mode"),
                    "fields": item.get("fields"),
                }
            ]
        )[0]
        item["type"] = field.type
        item["mode"] = field.mode
        if item.get("fields"):
            item["fields"] = normalize_schema_fields(item["fields"])
        normalized.append(item)
    return normalized


def table_fields(resource: Mapping[str, Any]) -> tuple[Field, ...]:
    return parse_fields((resource.get("schema") or {}).get("fields") or [])


class InsertIdCache:
    """insertIds seen per table within a time window: BigQuery's best-effort de-duplication."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._seen: dict[str, dict[str, float]] = {}

    def check_and_remember(self, table_key: str, insert_id: str) -> bool:
        """True if `insert_id` was seen for the table within the window; remembers it."""
        now = self._clock()
        seen = self._seen.setdefault(table_key, {})
        for stale in [key for key, at in seen.items() if now - at > self._window]:
            del seen[stale]
        if insert_id in seen:
            return True
        seen[insert_id] = now
        return False

    def forget_table(self, table_key: str) -> None:
        self._seen.pop(table_key, None)


class JobFailed(Exception):
    """A job that ran and failed: its ErrorProtos, the first being the errorResult."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(errors[0].get("message", ""))
        self.errors = list(errors)


class BigQueryService:
    """Datasets, tables, table data and jobs over a Store."""

    def __init__(
        self,
        store: Store,
        *,
        base_url: str = "",
        insert_id_window_seconds: float = 60.0,
        read_sources: Callable[[Sequence[str], str], list[SourceFile]] = read_gcs_sources,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.base_url = base_url
        self._read_sources = read_sources
        self._clock = clock
        self._insert_ids = InsertIdCache(insert_id_window_seconds)
        self._query_requests: dict[tuple[str, str], str] = {}

    def _link(self, path: str) -> str:
        return f"{self.base_url}/bigquery/v2/{path}"

    # -- datasets ----------------------------------------------------------------------

    def insert_dataset(self, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
        reference = body.get("datasetReference") or {}
        dataset_id = reference.get("datasetId")
        if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
            raise invalid(
                f'Invalid dataset ID "{dataset_id}". Dataset IDs must be alphanumeric'
                " (plus underscores) and must be at most 1024 characters long."
            )
        if reference.get("projectId") not in (None, project):
            raise invalid("The project in the dataset reference does not match the request")
        if self.store.get_dataset(project, dataset_id) is not None:
            raise duplicate(f"Dataset {project}:{dataset_id}")
        now = _millis(self._clock())
        resource = {k: v for k, v in body.items() if k not in _DATASET_OUTPUT_ONLY}
        resource.update(
            kind="bigquery#dataset",
            id=f"{project}:{dataset_id}",
            selfLink=self._link(f"projects/{project}/datasets/{dataset_id}"),
            datasetReference={"datasetId": dataset_id, "projectId": project},
            location=body.get("location") or DEFAULT_LOCATION,
            type="DEFAULT",
            creationTime=now,
            lastModifiedTime=now,
        )
        _with_etag(resource)
        self.store.put_dataset(project, dataset_id, resource)
        return resource

    def get_dataset(self, project: str, dataset_id: str) -> dict[str, Any]:
        resource = self.store.get_dataset(project, dataset_id)
        if resource is None:
            raise not_found(f"Dataset {project}:{dataset_id}")
        return resource

    def patch_dataset(
        self, project: str, dataset_id: str, body: Mapping[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        resource = self.get_dataset(project, dataset_id)
        _check_etag(resource, if_match)
        _merge_patch(resource, body, _DATASET_OUTPUT_ONLY | {"datasetReference", "location"})
        resource["lastModifiedTime"] = _millis(self._clock())
        _with_etag(resource)
        self.store.put_dataset(project, dataset_id, resource)
        return resource

    def delete_dataset(self, project: str, dataset_id: str, delete_contents: bool) -> None:
        self.get_dataset(project, dataset_id)
        tables = self.store.list_tables(project, dataset_id)
        if tables and not delete_contents:
            raise BigQueryError(
                400, "resourceInUse", f"Dataset {project}:{dataset_id} is still in use"
            )
        for table in tables:
            self._insert_ids.forget_table(
                f"{project}:{dataset_id}.{table['tableReference']['tableId']}"
            )
        self.store.delete_dataset(project, dataset_id)

    def list_datasets(self, project: str, params: Mapping[str, str]) -> dict[str, Any]:
        show_hidden = str(params.get("all", "")).lower() == "true"
        datasets = [
            {
                "kind": "bigquery#dataset",
                "id": resource["id"],
                "datasetReference": resource["datasetReference"],
                "location": resource["location"],
                **{k: resource[k] for k in ("labels", "friendlyName") if k in resource},
            }
            for resource in self.store.list_datasets(project)
            if show_hidden or not resource["datasetReference"]["datasetId"].startswith("_")
        ]
        page, token = _paginate(datasets, params)
        body: dict[str, Any] = {"kind": "bigquery#datasetList"}
        if page:
            body["datasets"] = page
        if token:
            body["nextPageToken"] = token
        return _with_etag(body)

    # -- tables ------------------------------------------------------------------------

    def insert_table(
        self, project: str, dataset_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        dataset = self.get_dataset(project, dataset_id)
        reference = body.get("tableReference") or {}
        table_id = reference.get("tableId")
        _check_table_id(table_id)
        if reference.get("projectId") not in (None, project) or reference.get("datasetId") not in (
            None,
            dataset_id,
        ):
            raise invalid("The table reference does not match the request path")
        for kind in _UNSUPPORTED_TABLE_KINDS:
            if body.get(kind):
                raise unsupported(f"Tables with {kind}")
        name = TableName(project, dataset_id, str(table_id))
        if self.store.get_table(name) is not None:
            raise duplicate(f"Table {name.api_id}")
        fields = table_fields(body)
        resource = self._new_table_resource(name, body, dataset)
        _check_partitioning(resource, fields)
        with self.store.transaction():
            self.store.create_data_table(name, fields)
            self.store.put_table(name, resource)
        return self._present_table(name, resource)

    def get_table(self, name: TableName) -> dict[str, Any]:
        return self._present_table(name, self._require_table(name))

    def patch_table(
        self, name: TableName, body: Mapping[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        resource = self._require_table(name)
        _check_etag(resource, if_match)
        reference = body.get("tableReference")
        if reference and reference.get("tableId") not in (None, name.table):
            raise invalid("The table reference cannot be changed")
        with self.store.transaction():
            if "schema" in body:
                new_fields = table_fields(body)
                self._evolve_schema(name, table_fields(resource), new_fields)
            _merge_patch(resource, body, _TABLE_OUTPUT_ONLY | {"tableReference"})
            if "schema" in body:
                resource["schema"] = {
                    **(body.get("schema") or {}),
                    "fields": normalize_schema_fields(
                        (body.get("schema") or {}).get("fields") or []
                    ),
                }
            _check_partitioning(resource, table_fields(resource))
            resource["lastModifiedTime"] = _millis(self._clock())
            _with_etag(resource)
            self.store.put_table(name, resource)
        return self._present_table(name, resource)

    def delete_table(self, name: TableName) -> None:
        self._require_table(name)
        self._insert_ids.forget_table(name.api_id)
        self.store.delete_table(name)

    def list_tables(
        self, project: str, dataset_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        self.get_dataset(project, dataset_id)
        items = [
            {
                "kind": "bigquery#table",
                "id": resource["id"],
                "tableReference": resource["tableReference"],
                "type": resource["type"],
                "creationTime": resource["creationTime"],
                **{k: resource[k] for k in _TABLE_LIST_FIELDS if k in resource},
            }
            for resource in self.store.list_tables(project, dataset_id)
        ]
        page, token = _paginate(items, params)
        body: dict[str, Any] = {"kind": "bigquery#tableList", "totalItems": len(items)}
        if page:
            body["tables"] = page
        if token:
            body["nextPageToken"] = token
        return _with_etag(body)

    def _require_table(self, name: TableName) -> dict[str, Any]:
        resource = self.store.get_table(name)
        if resource is None:
            if self.store.get_dataset(name.project, name.dataset) is None:
                raise not_found(f"Dataset {name.project}:{name.dataset}")
            raise not_found(f"Table {name.api_id}")
        return resource

    def _present_table(self, name: TableName, resource: Mapping[str, Any]) -> dict[str, Any]:
        presented = copy.deepcopy(dict(resource))
        presented["numRows"] = str(self.store.count_rows(name))
        return presented

    def _new_table_resource(
        self,
        name: TableName,
        body: Mapping[str, Any],
        dataset: Mapping[str, Any],
    ) -> dict[str, Any]:
        now = _millis(self._clock())
        resource = {k: copy.deepcopy(v) for k, v in body.items() if k not in _TABLE_OUTPUT_ONLY}
        resource.update(
            kind="bigquery#table",
            id=name.api_id,
            selfLink=self._link(
                f"projects/{name.project}/datasets/{name.dataset}/tables/{name.table}"
            ),
            tableReference=name.reference,
            type="TABLE",
            location=dataset.get("location", DEFAULT_LOCATION),
            creationTime=now,
            lastModifiedTime=now,
        )
        if (body.get("schema") or {}).get("fields"):
            resource["schema"] = {
                **body["schema"],
                "fields": normalize_schema_fields(body["schema"]["fields"]),
            }
        else:
            resource.pop("schema", None)
        if "timePartitioning" in resource:
            resource["timePartitioning"] = {"type": "DAY", **resource["timePartitioning"]}
        return _with_etag(resource)

    def _touch_table(self, name: TableName, resource: dict[str, Any]) -> None:
        resource["lastModifiedTime"] = _millis(self._clock())
        _with_etag(resource)
        self.store.put_table(name, resource)

    def _evolve_schema(self, name: TableName, old: Sequence[Field], new: Sequence[Field]) -> None:
        """Apply a schema patch: BigQuery only adds NULLABLE/REPEATED columns or relaxes."""
        if not self.store.has_data_table(name):
            self.store.create_data_table(name, new)
            return
        old_by_name = {field.name.lower(): field for field in old}
        new_names = {field.name.lower() for field in new}
        mismatch = f"Provided Schema does not match Table {name.api_id}."
        for field in old:
            if field.name.lower() not in new_names:
                raise invalid(f"{mismatch} Field {field.name} is missing in new schema")
        for field in new:
            before = old_by_name.get(field.name.lower())
            if before is None:
                if field.required:
                    raise invalid(f"{mismatch} Cannot add required field {field.name}")
                self.store.add_column(name, field)
                continue
            if before.type != field.type:
                raise invalid(
                    f"{mismatch} Field {field.name} has changed type from {before.type}"
                    f" to {field.type}"
                )
            if before.fields and not _same_schema(before.fields, field.fields):
                raise unsupported("Changing the fields inside a RECORD")
            if before.mode != field.mode:
                if before.mode == "REQUIRED" and field.mode == "NULLABLE":
                    self.store.drop_not_null(name, before.name)
                else:
                    raise invalid(
                        f"{mismatch} Field {field.name} has changed mode from {before.mode}"
                        f" to {field.mode}"
                    )

    # -- table data --------------------------------------------------------------------

    def list_rows(self, name: TableName, params: Mapping[str, str]) -> dict[str, Any]:
        resource = self._require_table(name)
        fields = table_fields(resource)
        selected = params.get("selectedFields")
        if selected:
            wanted = [part.strip().lower() for part in str(selected).split(",") if part.strip()]
            by_name = {field.name.lower(): field for field in fields}
            unknown = [part for part in wanted if part not in by_name]
            if unknown:
                raise invalid(f"Invalid selected field: {unknown[0]}")
            fields = tuple(by_name[part] for part in wanted)
        start = _int_param(params, "startIndex", 0) or _int_param(params, "pageToken", 0)
        limit = _int_param(params, "maxResults", _DEFAULT_PAGE_ROWS)
        timestamps = TimestampFormat.from_options(
            params.get("formatOptions.useInt64Timestamp"),
            params.get("formatOptions.timestampOutputFormat"),
        )
        total = self.store.count_rows(name)
        body: dict[str, Any] = {"kind": "bigquery#tableDataList", "totalRows": str(total)}
        rows = self.store.read_rows(name, [field.name for field in fields], start, limit)
        if rows:
            body["rows"] = [encode_row(row, fields, timestamps) for row in rows]
        if start + len(rows) < total and limit > 0:
            body["pageToken"] = str(start + len(rows))
        return _with_etag(body)

    def insert_all(self, name: TableName, body: Mapping[str, Any]) -> dict[str, Any]:
        resource = self._require_table(name)
        fields = table_fields(resource)
        if not fields:
            raise invalid(f"The destination table {name.api_id} has no schema.")
        if body.get("templateSuffix"):
            raise unsupported("insertAll with templateSuffix")
        rows = body.get("rows") or []
        if not rows:
            raise invalid("No rows present in the request.")
        ignore_unknown = bool(body.get("ignoreUnknownValues"))
        accepted: list[tuple[str | None, tuple[Any, ...]]] = []
        row_errors: dict[int, list[dict[str, Any]]] = {}
        for index, row in enumerate(rows):
            try:
                values = coerce_row(
                    (row or {}).get("json") or {},
                    fields,
                    ignore_unknown_values=ignore_unknown,
                    json_text_in_strings=True,
                )
            except RowError as exc:
                row_errors[index] = [
                    {
                        "reason": "invalid",
                        "location": exc.location,
                        "debugInfo": "",
                        "message": exc.message,
                    }
                ]
                continue
            accepted.append(((row or {}).get("insertId"), values))
        response: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
        if row_errors and not body.get("skipInvalidRows"):
            # Without skipInvalidRows the request is all or nothing; good rows are "stopped".
            stopped = [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]
            response["insertErrors"] = [
                {"index": index, "errors": row_errors.get(index, stopped)}
                for index in range(len(rows))
            ]
            return response
        fresh = [
            values
            for insert_id, values in accepted
            if not (insert_id and self._insert_ids.check_and_remember(name.api_id, str(insert_id)))
        ]
        self.store.insert_rows(name, fields, fresh)
        if row_errors:
            response["insertErrors"] = [
                {"index": index, "errors": errors} for index, errors in sorted(row_errors.items())
            ]
        return response

    # -- jobs --------------------------------------------------------------------------

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
            "statistics": {"creationTime": _millis(started), "startTime": _millis(started)},
        }
        status: dict[str, Any] = {"state": "DONE"}
        try:
            if kind == "load":
                warnings = self._run_load(project, configuration["load"], upload, job)
            else:
                warnings = self._run_query(project, job_id, configuration, job)
            if warnings:
                status["errors"] = warnings
        except JobFailed as failure:
            status["errorResult"] = failure.errors[0]
            status["errors"] = failure.errors
        except BigQueryError as error:
            if error.code >= 500:
                raise
            status["errorResult"] = error.error_proto()
            status["errors"] = [error.error_proto()]
        job["status"] = status
        job["statistics"]["endTime"] = _millis(self._clock())
        _with_etag(job)
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

    # -- load jobs ---------------------------------------------------------------------

    def _run_load(
        self,
        project: str,
        config: dict[str, Any],
        upload: bytes | None,
        job: dict[str, Any],
    ) -> list[dict[str, Any]]:
        source_format = str(config.get("sourceFormat") or "CSV").upper()
        if source_format != "NEWLINE_DELIMITED_JSON":
            raise unsupported(f"Load jobs with sourceFormat {source_format}")
        destination = config.get("destinationTable") or {}
        if not destination.get("datasetId") or not destination.get("tableId"):
            raise invalid("Load configuration must specify a destination table")
        name = TableName(
            str(destination.get("projectId") or project),
            str(destination["datasetId"]),
            str(destination["tableId"]),
        )
        create = _disposition(config, "createDisposition", "CREATE_IF_NEEDED", _CREATE_DISPOSITIONS)
        write = _disposition(config, "writeDisposition", "WRITE_APPEND", _WRITE_DISPOSITIONS)
        if upload is None:
            uris = [str(uri) for uri in config.get("sourceUris") or []]
            if not uris:
                raise invalid("Load configuration must specify source URIs")
            sources = self._read_sources(uris, project)
            location = uris[0]
        else:
            sources = [SourceFile(UPLOAD_LOCATION, upload)]
            location = UPLOAD_LOCATION

        dataset = self.get_dataset(name.project, name.dataset)
        existing = self.store.get_table(name)
        lines = list(json_lines(sources))
        given = table_fields(config)
        autodetected: tuple[Field, ...] = ()
        if config.get("autodetect"):
            autodetected = infer_fields(line.value for line in lines if line.value is not None)
        replace_schema = False
        if existing is None:
            if create == "CREATE_NEVER":
                raise not_found(f"Table {name.api_id}")
            fields = given or autodetected
        else:
            fields = table_fields(existing)
            if given and not _same_schema(given, fields):
                if write != "WRITE_TRUNCATE" and fields:
                    raise invalid(
                        f"Provided Schema does not match Table {name.api_id}. Use"
                        " WRITE_TRUNCATE to replace the schema."
                    )
                fields, replace_schema = given, True
            elif not fields:
                fields, replace_schema = autodetected, True
            if write == "WRITE_EMPTY" and self.store.count_rows(name):
                raise duplicate(f"Table {name.api_id}")
        if not fields:
            raise invalid("No schema specified on job or table.")

        checked = check_rows(
            lines, fields, ignore_unknown_values=bool(config.get("ignoreUnknownValues"))
        )
        max_bad = int(config.get("maxBadRecords") or 0)
        if checked.bad_count > max_bad:
            raise JobFailed(
                [too_many_errors(checked, location, max_bad).error_proto(), *checked.errors]
            )

        with self.store.transaction():
            if existing is None:
                table_body = {
                    "tableReference": name.reference,
                    "schema": {"fields": [field.api_repr() for field in fields]},
                    **{
                        key: config[key]
                        for key in ("timePartitioning", "rangePartitioning", "clustering")
                        if key in config
                    },
                    **(config.get("destinationTableProperties") or {}),
                }
                table_body.pop("expirationTime", None)
                resource = self._new_table_resource(name, table_body, dataset)
                _check_partitioning(resource, fields)
                self.store.create_data_table(name, fields)
            else:
                resource = existing
                if replace_schema:
                    resource["schema"] = {"fields": [field.api_repr() for field in fields]}
                    self.store.replace_data_table(name, fields)
                elif write == "WRITE_TRUNCATE":
                    self.store.delete_rows(name)
            self.store.insert_rows(name, fields, checked.rows)
            self._touch_table(name, resource)

        job["statistics"]["load"] = {
            "inputFiles": str(len(sources)),
            "inputFileBytes": str(sum(len(source.data) for source in sources)),
            "outputRows": str(len(checked.rows)),
            "badRecords": str(checked.bad_count),
        }
        return checked.errors

    # -- query jobs --------------------------------------------------------------------

    def _run_query(
        self,
        project: str,
        job_id: str,
        configuration: dict[str, Any],
        job: dict[str, Any],
    ) -> list[dict[str, Any]]:
        config = configuration["query"]
        query = config.get("query")
        if not isinstance(query, str) or not query.strip():
            raise invalid_query("Syntax error: Unexpected end of script")
        if config.get("useLegacySql") is True:
            raise unsupported("Legacy SQL (set useLegacySql to false)")
        location = job["jobReference"]["location"]
        statement = self._translate(project, config, location)
        statistics: dict[str, Any] = {
            "totalBytesProcessed": "0",
            "totalBytesBilled": "0",
            "totalSlotMs": "0",
            "cacheHit": False,
            "statementType": statement.statement_type,
        }
        if statement.referenced:
            statistics["referencedTables"] = [name.reference for name in statement.referenced]
        job["statistics"]["totalBytesProcessed"] = "0"
        job["statistics"]["query"] = statistics

        if configuration.get("dryRun"):
            relation = self._bind(statement)
            if statement.statement_type == "SELECT":
                fields = self._result_fields(relation)
                statistics["schema"] = {"fields": [f.api_repr() for f in fields]}
            return []
        if statement.statement_type != "SELECT":
            affected = self._run_dml(statement)
            statistics["numDmlAffectedRows"] = str(affected)
            counter = {
                "INSERT": "insertedRowCount",
                "UPDATE": "updatedRowCount",
                "DELETE": "deletedRowCount",
            }.get(statement.statement_type)
            if counter:
                statistics["dmlStats"] = {counter: str(affected)}
            return []

        self._expire_query_results(project)
        destination, fields = self._run_select(project, job_id, config, statement)
        config["destinationTable"] = destination.reference
        statistics["schema"] = {"fields": [f.api_repr() for f in fields]}
        return []

    def _translate(self, project: str, config: Mapping[str, Any], location: str) -> Statement:
        default = config.get("defaultDataset") or None
        default_dataset = (
            (str(default.get("projectId") or project), str(default["datasetId"]))
            if default and default.get("datasetId")
            else None
        )

        def check_table(name: TableName) -> None:
            if self.store.get_table(name) is None:
                if self.store.get_dataset(name.project, name.dataset) is None:
                    raise not_found(
                        f"Dataset {name.project}:{name.dataset} was not found in location"
                        f" {location}"
                    )
                raise not_found(f"Table {name.api_id} was not found in location {location}")

        return translate(
            query=str(config["query"]),
            project=project,
            default_dataset=default_dataset,
            parameters=config.get("queryParameters") or [],
            check_table=check_table,
        )

    def _bind(self, statement: Statement) -> duckdb.DuckDBPyRelation:
        try:
            if statement.statement_type == "SELECT":
                return self.store.relation(statement.sql)
            return self.store.relation(f"EXPLAIN {statement.sql}")
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc

    def _result_fields(self, relation: duckdb.DuckDBPyRelation) -> tuple[Field, ...]:
        names = [str(column) for column in relation.columns]
        lowered = [name.lower() for name in names]
        duplicates = sorted({name for name in lowered if lowered.count(name) > 1})
        if duplicates:
            raise invalid_query(
                "Duplicate column names in the result are not supported. Found duplicate(s): "
                + ", ".join(duplicates)
            )
        return fields_from_duckdb(names, relation.types)

    def _run_dml(self, statement: Statement) -> int:
        try:
            with self.store.transaction():
                row = self.store.execute(statement.sql).fetchone()
                if statement.target is not None:
                    resource = self.store.get_table(statement.target)
                    if resource is not None:
                        self._touch_table(statement.target, resource)
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc
        return int(row[0]) if row else 0

    def _run_select(
        self,
        project: str,
        job_id: str,
        config: Mapping[str, Any],
        statement: Statement,
    ) -> tuple[TableName, tuple[Field, ...]]:
        explicit = config.get("destinationTable")
        if explicit:
            destination = TableName(
                str(explicit.get("projectId") or project),
                str(explicit["datasetId"]),
                str(explicit["tableId"]),
            )
            write = _disposition(config, "writeDisposition", "WRITE_EMPTY", _WRITE_DISPOSITIONS)
            create = _disposition(
                config, "createDisposition", "CREATE_IF_NEEDED", _CREATE_DISPOSITIONS
            )
            dataset = self.get_dataset(destination.project, destination.dataset)
        else:
            destination = self._anonymous_table(project, job_id)
            write, create = "WRITE_TRUNCATE", "CREATE_IF_NEEDED"
            dataset = self._anonymous_dataset(project)
        try:
            with self.store.transaction():
                relation = self.store.relation(statement.sql)
                fields = self._result_fields(relation)
                existing = self.store.get_table(destination)
                if existing is None:
                    if create == "CREATE_NEVER":
                        raise not_found(f"Table {destination.api_id}")
                    table_body = {
                        "tableReference": destination.reference,
                        "schema": {"fields": [f.api_repr() for f in fields]},
                        **{
                            key: config[key]
                            for key in ("timePartitioning", "rangePartitioning", "clustering")
                            if key in config
                        },
                    }
                    resource = self._new_table_resource(destination, table_body, dataset)
                    _check_partitioning(resource, fields)
                    self.store.create_data_table(destination, fields)
                else:
                    resource = existing
                    if write == "WRITE_EMPTY" and self.store.count_rows(destination):
                        raise duplicate(f"Table {destination.api_id}")
                    if write == "WRITE_TRUNCATE":
                        resource["schema"] = {"fields": [f.api_repr() for f in fields]}
                        self.store.replace_data_table(destination, fields)
                    elif not _same_schema(fields, table_fields(existing)):
                        raise invalid(f"Provided Schema does not match Table {destination.api_id}.")
                columns = ", ".join(quote_identifier(f.name) for f in fields)
                casts = ", ".join(
                    f"CAST(#{index} AS {duckdb_type(field)})"
                    for index, field in enumerate(fields, start=1)
                )
                self.store.execute(
                    f"INSERT INTO {destination.duckdb_name} ({columns})"
                    f" SELECT {casts} FROM ({statement.sql}) AS _query"
                )
                self._touch_table(destination, resource)
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc
        return destination, fields

    def _anonymous_dataset(self, project: str) -> dict[str, Any]:
        """The hidden dataset holding query results, like BigQuery's `_<hash>` datasets."""
        dataset_id = "_" + hashlib.sha1(project.encode(), usedforsecurity=False).hexdigest()
        existing = self.store.get_dataset(project, dataset_id)
        if existing is not None:
            return existing
        return self.insert_dataset(project, {"datasetReference": {"datasetId": dataset_id}})

    def _anonymous_table(self, project: str, job_id: str) -> TableName:
        dataset_id = self._anonymous_dataset(project)["datasetReference"]["datasetId"]
        digest = hashlib.sha1(f"{project}:{job_id}".encode(), usedforsecurity=False).hexdigest()
        return TableName(project, dataset_id, f"anon{digest}")

    def _expire_query_results(self, project: str) -> None:
        dataset_id = self._anonymous_dataset(project)["datasetReference"]["datasetId"]
        cutoff = int(_millis(self._clock() - QUERY_RESULTS_TTL))
        for resource in self.store.list_tables(project, dataset_id):
            if int(resource["creationTime"]) < cutoff:
                self.store.delete_table(
                    TableName(project, dataset_id, resource["tableReference"]["tableId"])
                )

    # -- query results -----------------------------------------------------------------

    def query(self, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """jobs.query: run the statement as a job and answer with its first page."""
        request_id = body.get("requestId")
        job_id = self._query_requests.get((project, str(request_id))) if request_id else None
        if job_id is not None:
            job = self.get_job(project, job_id, {})
        else:
            config = {k: body[k] for k in _QUERY_REQUEST_TO_CONFIG if k in body}
            configuration: dict[str, Any] = {"query": config}
            for key in ("dryRun", "labels", "jobTimeoutMs", "maxSlots", "reservation"):
                if key in body:
                    configuration[key] = body[key]
            job_body = {
                "jobReference": {"projectId": project, "location": body.get("location")},
                "configuration": configuration,
            }
            job = self.insert_job(project, job_body)
            if request_id:
                self._query_requests[(project, str(request_id))] = job["jobReference"]["jobId"]
        _raise_job_error(job)
        format_options = body.get("formatOptions") or {}
        response: dict[str, Any] = {
            "kind": "bigquery#queryResponse",
            "jobReference": job["jobReference"],
            "location": job["jobReference"]["location"],
            "queryId": job["jobReference"]["jobId"],
            "jobComplete": True,
            "jobCreationReason": {"code": "REQUESTED"},
            "creationTime": job["statistics"]["creationTime"],
            "startTime": job["statistics"]["startTime"],
            "endTime": job["statistics"]["endTime"],
            "totalSlotMs": "0",
            "totalBytesBilled": "0",
        }
        limit = body.get("maxResults")
        response.update(
            self._results_page(
                job,
                start=0,
                limit=_DEFAULT_PAGE_ROWS if limit is None else int(limit),
                timestamps=TimestampFormat.from_options(
                    format_options.get("useInt64Timestamp"),
                    format_options.get("timestampOutputFormat"),
                ),
            )
        )
        statement_type = job["statistics"]["query"].get("statementType")
        if statement_type:
            response["statementType"] = statement_type
        if "dmlStats" in job["statistics"]["query"]:
            response["dmlStats"] = job["statistics"]["query"]["dmlStats"]
        return response

    def get_query_results(
        self, project: str, job_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        job = self.get_job(project, job_id, params)
        if job["configuration"].get("jobType") != "QUERY":
            raise invalid(
                f"Job {project}:{job['jobReference']['location']}.{job_id} is not a query"
            )
        _raise_job_error(job)
        response: dict[str, Any] = {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
        }
        start = _int_param(params, "startIndex", 0) or _int_param(params, "pageToken", 0)
        response.update(
            self._results_page(
                job,
                start=start,
                limit=_int_param(params, "maxResults", _DEFAULT_PAGE_ROWS),
                timestamps=TimestampFormat.from_options(
                    params.get("formatOptions.useInt64Timestamp"),
                    params.get("formatOptions.timestampOutputFormat"),
                ),
            )
        )
        return _with_etag(response)

    def _results_page(
        self, job: Mapping[str, Any], *, start: int, limit: int, timestamps: TimestampFormat
    ) -> dict[str, Any]:
        statistics = job["statistics"]["query"]
        page: dict[str, Any] = {
            "totalBytesProcessed": statistics.get("totalBytesProcessed", "0"),
            "cacheHit": False,
        }
        if "numDmlAffectedRows" in statistics:
            page["numDmlAffectedRows"] = statistics["numDmlAffectedRows"]
            page["totalRows"] = "0"
            return page
        schema = statistics.get("schema")
        if schema is None:
            page["totalRows"] = "0"
            return page
        page["schema"] = schema
        destination = job["configuration"]["query"].get("destinationTable")
        if destination is None:
            page["totalRows"] = "0"
            return page
        name = TableName(destination["projectId"], destination["datasetId"], destination["tableId"])
        if self.store.get_table(name) is None:
            raise not_found(f"Table {name.api_id} (the query results have expired)")
        fields = parse_fields(schema["fields"])
        total = self.store.count_rows(name)
        rows = self.store.read_rows(name, [field.name for field in fields], start, limit)
        page["totalRows"] = str(total)
        if rows:
            page["rows"] = [encode_row(row, fields, timestamps) for row in rows]
        if start + len(rows) < total and limit > 0:
            page["pageToken"] = str(start + len(rows))
        return page


# ---------------------------------------------------------------------------
# helpers


def _raise_job_error(job: Mapping[str, Any]) -> None:
    """jobs.query and getQueryResults answer a failed job with its error as HTTP error."""
    error = job.get("status", {}).get("errorResult")
    if error:
        reason = str(error.get("reason", "invalid"))
        raise BigQueryError(
            _ERROR_STATUS_BY_REASON.get(reason, 400),
            reason,
            str(error.get("message", "")),
            location=error.get("location"),
        )


def _duckdb_message(exc: duckdb.Error) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _disposition(config: Mapping[str, Any], key: str, default: str, allowed: Sequence[str]) -> str:
    value = str(config.get(key) or default).upper()
    if value not in allowed:
        raise invalid(f"Invalid value for {key}: {config.get(key)}")
    return value


def _same_schema(left: Sequence[Field], right: Sequence[Field]) -> bool:
    return len(left) == len(right) and all(
        same_shape(a, b) for a, b in zip(left, right, strict=True)
    )


def _check_table_id(table_id: Any) -> None:
    if (
        not isinstance(table_id, str)
        or not table_id
        or len(table_id.encode()) > 1024
        or _TABLE_ID_FORBIDDEN.search(table_id)
    ):
        raise invalid(f'Invalid table ID "{table_id}".')


def _check_etag(resource: Mapping[str, Any], if_match: str | None) -> None:
    if if_match and if_match not in ("*", resource.get("etag")):
        raise BigQueryError(412, "conditionNotMet", "Precondition check failed.")


def _merge_patch(resource: dict[str, Any], body: Mapping[str, Any], fixed: Iterable[str]) -> None:
    """PATCH semantics: given fields replace, null clears, `labels` merge key by key."""
    frozen = set(fixed)
    for key, value in body.items():
        if key in frozen:
            continue
        if key == "labels" and isinstance(value, Mapping):
            labels = dict(resource.get("labels") or {})
            for label, label_value in value.items():
                if label_value is None:
                    labels.pop(label, None)
                else:
                    labels[label] = label_value
            resource["labels"] = labels
        elif value is None:
            resource.pop(key, None)
        else:
            resource[key] = copy.deepcopy(value)


def _check_partitioning(resource: Mapping[str, Any], fields: Sequence[Field]) -> None:
    """Partitioning and clustering are only kept, but refused where BigQuery refuses them."""
    by_name = {field.name.lower(): field for field in fields}
    partitioning = resource.get("timePartitioning")
    if partitioning:
        kind = str(partitioning.get("type") or "DAY")
        if kind not in _PARTITION_TYPES:
            raise invalid(f"Invalid value for timePartitioning.type: {kind}")
        column = partitioning.get("field")
        if column:
            field = by_name.get(str(column).lower())
            if field is None or field.repeated:
                raise invalid(
                    f"The field specified for partitioning cannot be found in the schema: {column}"
                )
            if field.type not in _PARTITION_COLUMN_TYPES:
                raise invalid(
                    "The field specified for time partitioning can only be of type TIMESTAMP,"
                    f" DATE or DATETIME. The type found is: {field.type}."
                )
    clustering = (resource.get("clustering") or {}).get("fields") or []
    if len(clustering) > 4:
        raise invalid("Too many clustering fields: at most 4 are allowed")
    for column in clustering:
        field = by_name.get(str(column).lower())
        if field is None or field.repeated:
            raise invalid(
                f"The field specified for clustering cannot be found in the schema. Invalid field: {column}."
            )
        if field.type in _UNCLUSTERABLE_TYPES:
            raise invalid(
                f"Field {column} is of type {field.type} which is not supported for clustering"
            )


def _paginate(
    items: Sequence[dict[str, Any]], params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    start = _int_param(params, "pageToken", 0)
    limit = _int_param(params, "maxResults", 1000) or 1000
    page = list(items[start : start + limit])
    token = str(start + limit) if start + limit < len(items) else None
    return page, token
