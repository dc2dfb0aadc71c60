"""Load job input: the files (from Cloud Storage or an upload) and their NDJSON rows.

gs:// objects are read with google-cloud-storage from the Cloud Storage emulator named by
STORAGE_EMULATOR_HOST; without it a gs:// load fails (this emulator never reaches Google).
Rows are checked against the schema as BigQuery checks them, with its error wording.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcloud.bigquery.errors import BigQueryError, invalid, not_found
from localcloud.bigquery.schema import Field, RowError, coerce_row

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
