"""Queries: query jobs (GoogleSQL through sqlglot on DuckDB) and their results.

`QueryJobs` runs the query of a job (SELECT into an anonymous or a destination table,
INSERT/UPDATE/DELETE/MERGE, dry runs); `QueryResults` serves jobs.query and
jobs.getQueryResults, the two methods that answer with rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from localcloud.bigquery.datasets import Datasets
from localcloud.bigquery.errors import (
    BigQueryError,
    duplicate,
    invalid,
    invalid_query,
    not_found,
    unsupported,
)
from localcloud.bigquery.jobs import ErrorProtos, Jobs
from localcloud.bigquery.prepare import Prepared, bytes_processed, prepare_statement
from localcloud.bigquery.rest import (
    CREATE_DISPOSITIONS,
    DEFAULT_PAGE_ROWS,
    WRITE_DISPOSITIONS,
    ResourceContext,
    disposition,
    int_param,
    millis,
    same_schema,
    with_etag,
)
from localcloud.bigquery.row_values import TimestampFormat, encode_row
from localcloud.bigquery.schema import Field, duckdb_type, parse_fields, quote_identifier
from localcloud.bigquery.sql import Statement, TableName
from localcloud.bigquery.store import Store
from localcloud.bigquery.tables import Tables, table_fields

# Anonymous query result tables live this long, as in BigQuery.
QUERY_RESULTS_TTL = dt.timedelta(hours=24)
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


class QueryJobs:
    """The runner of query jobs."""

    def __init__(self, context: ResourceContext, datasets: Datasets, tables: Tables) -> None:
        self.store = context.store
        self._clock = context.clock
        self._streaming = context.streaming
        self._datasets = datasets
        self._tables = tables

    def __call__(self, project: str, job: dict[str, Any], upload: bytes | None) -> ErrorProtos:
        job_id = job["jobReference"]["jobId"]
        configuration = job["configuration"]
        config = configuration["query"]
        query = config.get("query")
        if not isinstance(query, str) or not query.strip():
            raise invalid_query("Syntax error: Unexpected end of script")
        if config.get("useLegacySql") is True:
            raise unsupported("Legacy SQL (set useLegacySql to false)")
        location = job["jobReference"]["location"]
        prepared = self._prepare(project, config, location)
        statement = prepared.statement
        processed = str(bytes_processed(self.store, prepared, location))
        statistics: dict[str, Any] = {
            "totalBytesProcessed": processed,
            "totalBytesBilled": "0",
            "totalSlotMs": "0",
            "cacheHit": False,
            "statementType": statement.statement_type,
        }
        if statement.referenced:
            statistics["referencedTables"] = [name.reference for name in statement.referenced]
        job["statistics"]["totalBytesProcessed"] = processed
        job["statistics"]["query"] = statistics
        fields = prepared.analysis.fields

        if configuration.get("dryRun"):
            self._bind(statement)
            if statement.statement_type == "SELECT":
                self._check_result_names(fields)
                statistics["schema"] = {"fields": [f.api_repr() for f in fields]}
            return []
        statistics["totalBytesBilled"] = str(_billed(int(processed), len(prepared.objects)))
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
        destination = self._run_select(project, job_id, config, statement, fields)
        config["destinationTable"] = destination.reference
        statistics["schema"] = {"fields": [f.api_repr() for f in fields]}
        return []

    def _prepare(self, project: str, config: Mapping[str, Any], location: str) -> Prepared:
        default = config.get("defaultDataset") or None
        default_dataset = (
            (str(default.get("projectId") or project), str(default["datasetId"]))
            if default and default.get("datasetId")
            else None
        )
        return prepare_statement(
            self.store,
            str(config["query"]),
            project=project,
            default_dataset=default_dataset,
            parameters=config.get("queryParameters") or [],
            location=location,
        )

    def _bind(self, statement: Statement) -> None:
        """What a dry run checks beyond the analysis: that the translation would run."""
        try:
            self.store.execute(f"EXPLAIN {statement.sql}").fetchall()
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc

    def _check_result_names(self, fields: Sequence[Field]) -> None:
        lowered = [field.name.lower() for field in fields]
        duplicates = sorted({name for name in lowered if lowered.count(name) > 1})
        if duplicates:
            raise invalid_query(
                "Duplicate column names in the result are not supported. Found duplicate(s): "
                + ", ".join(duplicates)
            )

    def _run_dml(self, statement: Statement) -> int:
        target = statement.target
        if (
            statement.statement_type in ("UPDATE", "DELETE", "MERGE")
            and target is not None
            and self._streaming.buffered(target) is not None
        ):
            raise invalid_query(
                f"UPDATE or DELETE statement over table {target.project}.{target.dataset}"
                f".{target.table} would affect rows in the streaming buffer, which is not"
                " supported"
            )
        try:
            with self.store.transaction():
                if statement.match_check and self.store.execute(statement.match_check).fetchone():
                    raise invalid_query(
                        "UPDATE/MERGE must match at most one source row for each target row"
                    )
                row = self.store.execute(statement.sql).fetchone()
                if statement.target is not None:
                    resource = self.store.get_table(statement.target)
                    if resource is not None:
                        self._tables.touch_table(statement.target, resource)
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc
        return int(row[0]) if row else 0

    def _run_select(
        self,
        project: str,
        job_id: str,
        config: Mapping[str, Any],
        statement: Statement,
        fields: tuple[Field, ...],
    ) -> TableName:
        explicit = config.get("destinationTable")
        if explicit:
            destination = TableName(
                str(explicit.get("projectId") or project),
                str(explicit["datasetId"]),
                str(explicit["tableId"]),
            )
            write = disposition(config, "writeDisposition", "WRITE_EMPTY", WRITE_DISPOSITIONS)
            create = disposition(
                config, "createDisposition", "CREATE_IF_NEEDED", CREATE_DISPOSITIONS
            )
            dataset = self._datasets.get_dataset(destination.project, destination.dataset)
        else:
            destination = self._anonymous_table(project, job_id)
            write, create = "WRITE_TRUNCATE", "CREATE_IF_NEEDED"
            dataset = self._anonymous_dataset(project)
        try:
            with self.store.transaction():
                relation = self.store.relation(statement.sql)
                self._check_result_names(fields)
                if len(relation.columns) != len(fields):
                    raise unsupported("This query (its DuckDB translation has other columns)")
                existing = self.store.get_table(destination)
                if existing is None:
                    if create == "CREATE_NEVER":
                        raise not_found(f"Table {destination.api_id}")
                    resource = self._tables.create_job_destination(
                        destination, fields, config, dataset
                    )
                else:
                    resource = existing
                    if write == "WRITE_EMPTY" and self.store.count_rows(destination):
                        raise duplicate(f"Table {destination.api_id}")
                    if write == "WRITE_TRUNCATE":
                        resource["schema"] = {"fields": [f.api_repr() for f in fields]}
                        self.store.replace_data_table(destination, fields)
                    elif not same_schema(fields, table_fields(existing)):
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
                _refuse_null_elements(self.store, destination, fields)
                self._tables.touch_table(destination, resource)
        except duckdb.Error as exc:
            raise invalid_query(_duckdb_message(exc)) from exc
        return destination

    def _anonymous_dataset(self, project: str) -> dict[str, Any]:
        """The hidden dataset holding query results, like BigQuery's `_<hash>` datasets."""
        dataset_id = "_" + hashlib.sha1(project.encode(), usedforsecurity=False).hexdigest()
        existing = self.store.get_dataset(project, dataset_id)
        if existing is not None:
            return existing
        return self._datasets.insert_dataset(
            project, {"datasetReference": {"datasetId": dataset_id}}
        )

    def _anonymous_table(self, project: str, job_id: str) -> TableName:
        dataset_id = self._anonymous_dataset(project)["datasetReference"]["datasetId"]
        digest = hashlib.sha1(f"{project}:{job_id}".encode(), usedforsecurity=False).hexdigest()
        return TableName(project, dataset_id, f"anon{digest}")

    def _expire_query_results(self, project: str) -> None:
        dataset_id = self._anonymous_dataset(project)["datasetReference"]["datasetId"]
        cutoff = int(millis(self._clock() - QUERY_RESULTS_TTL))
        for resource in self.store.list_tables(project, dataset_id):
            if int(resource["creationTime"]) < cutoff:
                self.store.delete_table(
                    TableName(project, dataset_id, resource["tableReference"]["tableId"])
                )


class QueryResults:
    """jobs.query and jobs.getQueryResults."""

    def __init__(self, context: ResourceContext, jobs: Jobs) -> None:
        self.store = context.store
        self._jobs = jobs
        self._query_requests: dict[tuple[str, str], str] = {}

    def query(self, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """jobs.query: run the statement as a job and answer with its first page."""
        request_id = body.get("requestId")
        job_id = self._query_requests.get((project, str(request_id))) if request_id else None
        if job_id is not None:
            job = self._jobs.get_job(project, job_id, {})
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
            job = self._jobs.insert_job(project, job_body)
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
                limit=DEFAULT_PAGE_ROWS if limit is None else int(limit),
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
        job = self._jobs.get_job(project, job_id, params)
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
        start = int_param(params, "startIndex", 0) or int_param(params, "pageToken", 0)
        response.update(
            self._results_page(
                job,
                start=start,
                limit=int_param(params, "maxResults", DEFAULT_PAGE_ROWS),
                timestamps=TimestampFormat.from_options(
                    params.get("formatOptions.useInt64Timestamp"),
                    params.get("formatOptions.timestampOutputFormat"),
                ),
            )
        )
        return with_etag(response)

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


def _refuse_null_elements(store: Store, table: TableName, fields: Sequence[Field]) -> None:
    """BigQuery cannot write an ARRAY holding a NULL: the query fails, naming the column."""
    for field in fields:
        if not field.repeated:
            continue
        column = quote_identifier(field.name)
        found = store.execute(
            f"SELECT 1 FROM {table.duckdb_name} WHERE list_count({column}) < len({column}) LIMIT 1"
        ).fetchone()
        if found:
            raise invalid_query(
                f"Array cannot have a null element; error in writing field {field.name}"
            )


def _billed(processed: int, tables: int) -> int:
    """On-demand billing: rounded up to the MB, at least 10 MB per table referenced."""
    if processed == 0 and tables == 0:
        return 0
    megabyte = 1024 * 1024
    rounded = -(-processed // megabyte) * megabyte
    return max(rounded, 10 * megabyte * max(tables, 1))


def _duckdb_message(exc: duckdb.Error) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    # The emulator's own run-time errors (division by zero...) are raised with DuckDB's
    # error(): its message is BigQuery's, without DuckDB's prefix.
    prefix = "Invalid Input Error: "
    return text[len(prefix) :] if text.startswith(prefix) else text
