"""Load jobs: their input (files from Cloud Storage or an upload, NDJSON rows) and the run.

gs:// objects are read with google-cloud-storage from the Cloud Storage emulator named by
STORAGE_EMULATOR_HOST; without it a gs:// load fails (this emulator never reaches Google).
Rows are checked against the schema as BigQuery checks them, with its error wording.
`LoadJobs` runs a load job: the destination's create and write dispositions, the schema
(given, the table's, or autodetected), maxBadRecords, and all rows or none.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcloud.bigquery.datasets import Datasets
from localcloud.bigquery.errors import (
    BigQueryError,
    JobFailed,
    duplicate,
    invalid,
    not_found,
    unsupported,
)
from localcloud.bigquery.jobs import ErrorProtos
from localcloud.bigquery.rest import (
    CREATE_DISPOSITIONS,
    WRITE_DISPOSITIONS,
    ResourceContext,
    disposition,
    same_schema,
)
from localcloud.bigquery.row_values import RowError, coerce_row
from localcloud.bigquery.schema import Field, infer_fields
from localcloud.bigquery.sql import TableName
from localcloud.bigquery.tables import Tables, table_fields

# The name BigQuery gives an uploaded file in its error locations.
UPLOAD_LOCATION = "file-00000000"
# BigQuery lists at most this many row errors in a job's errors[].
_MAX_LISTED_ERRORS = 100


@dataclass(frozen=True)
class SourceFile:
    uri: str
    data: bytes


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line: its parsed value, or the reason it is not a JSON object."""

    uri: str
    position: int
    value: Any
    parse_error: str | None = None


@dataclass
class CheckedRows:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    bad_count: int = 0
    line_count: int = 0


def read_gcs_sources(uris: Sequence[str], project: str) -> list[SourceFile]:
    """The bytes of every object the URIs name (one `*` wildcard allowed, as in BigQuery)."""
    if not os.environ.get("STORAGE_EMULATOR_HOST"):
        raise invalid(
            "Loading from gs:// needs the Cloud Storage emulator: set STORAGE_EMULATOR_HOST"
        )
    from google.api_core.exceptions import NotFound
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    client = storage.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    files: list[SourceFile] = []
    for uri in uris:
        bucket_name, object_name = _split_gcs_uri(uri)
        try:
            if "*" in object_name:
                prefix = object_name.split("*", 1)[0]
                blobs = [
                    blob
                    for blob in client.list_blobs(bucket_name, prefix=prefix)
                    if fnmatch.fnmatchcase(blob.name, object_name)
                ]
                if not blobs:
                    raise not_found(f"URI {uri}")
                files.extend(
                    SourceFile(f"gs://{bucket_name}/{blob.name}", blob.download_as_bytes())
                    for blob in sorted(blobs, key=lambda b: b.name)
                )
            else:
                data = client.bucket(bucket_name).blob(object_name).download_as_bytes()
                files.append(SourceFile(uri, data))
        except NotFound as exc:
            raise not_found(f"URI {uri}") from exc
    return files


def _split_gcs_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise invalid(f"Invalid source URI: {uri}")
    bucket_name, object_name = uri[5:].split("/", 1)
    if not bucket_name or not object_name:
        raise invalid(f"Invalid source URI: {uri}")
    return bucket_name, object_name


def json_lines(sources: Sequence[SourceFile]) -> Iterator[JsonLine]:
    """Each non-blank line of each file, with its byte position as BigQuery reports it."""
    for source in sources:
        data = gzip.decompress(source.data) if source.data[:2] == b"\x1f\x8b" else source.data
        position = 0
        for raw in data.split(b"\n"):
            line_start = position
            position += len(raw) + 1
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield JsonLine(source.uri, line_start, None, f"Parser terminated: {exc}")
                continue
            if not isinstance(value, dict):
                yield JsonLine(source.uri, line_start, None, "Expected a JSON object per line")
                continue
            yield JsonLine(source.uri, line_start, value)


def check_rows(
    lines: Sequence[JsonLine], fields: Sequence[Field], *, ignore_unknown_values: bool
) -> CheckedRows:
    """Rows that fit `fields`, and an ErrorProto for each line that does not."""
    checked = CheckedRows(line_count=len(lines))
    for line in lines:
        problem = line.parse_error
        if problem is None:
            try:
                checked.rows.append(
                    coerce_row(
                        line.value,
                        fields,
                        ignore_unknown_values=ignore_unknown_values,
                        json_text_in_strings=False,
                    )
                )
                continue
            except RowError as exc:
                problem = exc.message
        checked.bad_count += 1
        if len(checked.errors) < _MAX_LISTED_ERRORS:
            checked.errors.append(
                {
                    "reason": "invalid",
                    "location": line.uri,
                    "message": "Error while reading data, error message: JSON parsing error"
                    f" in row starting at position {line.position}: {problem} File: {line.uri}",
                }
            )
    return checked


def too_many_errors(checked: CheckedRows, location: str, max_bad_records: int) -> BigQueryError:
    """The job-level error BigQuery reports when bad rows exceed maxBadRecords."""
    return BigQueryError(
        400,
        "invalid",
        "Error while reading data, error message: JSON table encountered too many errors,"
        f" giving up. Rows: {checked.line_count}; errors: {checked.bad_count};"
        f" max bad: {max_bad_records}. Please look into the errors[] collection for more"
        " details.",
        location=location,
    )


class LoadJobs:
    """The runner of load jobs."""

    def __init__(
        self,
        context: ResourceContext,
        datasets: Datasets,
        tables: Tables,
        read_sources: Callable[[Sequence[str], str], list[SourceFile]] = read_gcs_sources,
    ) -> None:
        self.store = context.store
        self._datasets = datasets
        self._tables = tables
        self._read_sources = read_sources

    def __call__(self, project: str, job: dict[str, Any], upload: bytes | None) -> ErrorProtos:
        config = job["configuration"]["load"]
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
        create = disposition(config, "createDisposition", "CREATE_IF_NEEDED", CREATE_DISPOSITIONS)
        write = disposition(config, "writeDisposition", "WRITE_APPEND", WRITE_DISPOSITIONS)
        if upload is None:
            uris = [str(uri) for uri in config.get("sourceUris") or []]
            if not uris:
                raise invalid("Load configuration must specify source URIs")
            sources = self._read_sources(uris, project)
            location = uris[0]
        else:
            sources = [SourceFile(UPLOAD_LOCATION, upload)]
            location = UPLOAD_LOCATION

        dataset = self._datasets.get_dataset(name.project, name.dataset)
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
            if given and not same_schema(given, fields):
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
                resource = self._tables.create_job_destination(
                    name, fields, config, dataset, config.get("destinationTableProperties")
                )
            else:
                resource = existing
                if replace_schema:
                    resource["schema"] = {"fields": [field.api_repr() for field in fields]}
                    self.store.replace_data_table(name, fields)
                elif write == "WRITE_TRUNCATE":
                    self.store.delete_rows(name)
            self.store.insert_rows(name, fields, checked.rows)
            self._tables.touch_table(name, resource)

        job["statistics"]["load"] = {
            "inputFiles": str(len(sources)),
            "inputFileBytes": str(sum(len(source.data) for source in sources)),
            "outputRows": str(len(checked.rows)),
            "badRecords": str(checked.bad_count),
        }
        return checked.errors
