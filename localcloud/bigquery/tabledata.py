"""The tabledata resource: list (pages of rows) and insertAll (streaming, insertId de-duplication)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from localcloud.bigquery.errors import invalid, unsupported
from localcloud.bigquery.rest import DEFAULT_PAGE_ROWS, ResourceContext, int_param, with_etag
from localcloud.bigquery.row_values import RowError, TimestampFormat, coerce_row, encode_row
from localcloud.bigquery.sql import TableName
from localcloud.bigquery.tables import Tables, table_fields


class TableData:
    """tabledata.* over the store."""

    def __init__(self, context: ResourceContext, tables: Tables) -> None:
        self.store = context.store
        self._insert_ids = context.insert_ids
        self._streaming = context.streaming
        self._tables = tables

    def list_rows(self, name: TableName, params: Mapping[str, str]) -> dict[str, Any]:
        resource = self._tables.require_data_table(name)
        fields = table_fields(resource)
        selected = params.get("selectedFields")
        if selected:
            wanted = [part.strip().lower() for part in str(selected).split(",") if part.strip()]
            by_name = {field.name.lower(): field for field in fields}
            unknown = [part for part in wanted if part not in by_name]
            if unknown:
                raise invalid(f"Invalid selected field: {unknown[0]}")
            fields = tuple(by_name[part] for part in wanted)
        start = int_param(params, "startIndex", 0) or int_param(params, "pageToken", 0)
        limit = int_param(params, "maxResults", DEFAULT_PAGE_ROWS)
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
        return with_etag(body)

    def insert_all(self, name: TableName, body: Mapping[str, Any]) -> dict[str, Any]:
        resource = self._tables.require_data_table(name)
        fields = table_fields(resource)
        if not fields:
            raise invalid(f"The destination table {name.api_id} has no schema.")
        if body.get("templateSuffix"):
            raise unsupported("insertAll with templateSuffix")
        rows = body.get("rows") or []
        if not rows:
            raise invalid("No rows present in the request.")
        ignore_unknown = bool(body.get("ignoreUnknownValues"))
        accepted: list[tuple[str | None, tuple[Any, ...], int]] = []
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
                        "message": _streaming_message(exc),
                    }
                ]
                continue
            # The buffer's estimatedBytes: the size of the row as it was sent.
            size = len(json.dumps((row or {}).get("json") or {}, separators=(",", ":")))
            accepted.append(((row or {}).get("insertId"), values, size))
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
            (values, size)
            for insert_id, values, size in accepted
            if not (insert_id and self._insert_ids.check_and_remember(name.api_id, str(insert_id)))
        ]
        with self.store.transaction():
            self.store.insert_rows(name, fields, [values for values, _ in fresh])
            self._streaming.add(name, len(fresh), sum(size for _, size in fresh))
        if row_errors:
            response["insertErrors"] = [
                {"index": index, "errors": errors} for index, errors in sorted(row_errors.items())
            ]
        return response


# insertAll words a value that does not convert as "Cannot convert value to floating point
# (bad value): ..." (seen in BigQuery's answers, e.g. GoogleCloudPlatform/DataflowTemplates#22).
_STREAMING_TYPE_NAMES = {"FLOAT": "floating point", "INTEGER": "integer", "BOOLEAN": "boolean"}


def _streaming_message(error: RowError) -> str:
    if error.conversion is None:
        return error.message
    field_type, shown = error.conversion
    name = _STREAMING_TYPE_NAMES.get(field_type, field_type.lower())
    return f"Cannot convert value to {name} (bad value): {shown}"
