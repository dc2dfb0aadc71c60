"""BigQuery table schemas, kept as JSON files that Python, the local cloud and Terraform all read.

The files use BigQuery's JSON schema format: a list of {"name", "type", "mode", "description"}.
`schema_dicts()` returns plain dicts (the BigQuery adapter turns them into SchemaFields):
no Google library is imported here.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Final, Literal, TypedDict

__all__ = [
    "JOBS_CLUSTERING_FIELDS",
    "JOBS_PARTITION_FIELD",
    "JOBS_PARTITION_TYPE",
    "JOBS_TABLE",
    "PREDICTIONS_CLUSTERING_FIELDS",
    "PREDICTIONS_LATEST_VIEW",
    "PREDICTIONS_PARTITION_FIELD",
    "PREDICTIONS_PARTITION_TYPE",
    "PREDICTIONS_TABLE",
    "TABLES",
    "ColumnSpec",
    "TableName",
    "TableSpec",
    "column_names",
    "schema_dicts",
    "table_spec",
    "view_query",
]

TableName = Literal["predictions", "jobs"]

PREDICTIONS_TABLE: Final = "predictions"
JOBS_TABLE: Final = "jobs"
# A view over predictions: one row per input line, the latest attempt's (predictions_latest.sql).
PREDICTIONS_LATEST_VIEW: Final = "predictions_latest"
TABLES: Final[tuple[TableName, ...]] = (PREDICTIONS_TABLE, JOBS_TABLE)

# One row per request, found by day and job.
PREDICTIONS_PARTITION_FIELD: Final = "processed_time"
PREDICTIONS_PARTITION_TYPE: Final = "DAY"
PREDICTIONS_CLUSTERING_FIELDS: Final[tuple[str, ...]] = ("job_id",)

# One row per job; a source's jobs (its parts) sit together.
JOBS_PARTITION_FIELD: Final = "create_time"
JOBS_PARTITION_TYPE: Final = "DAY"
JOBS_CLUSTERING_FIELDS: Final[tuple[str, ...]] = ("source_uri",)


class ColumnSpec(TypedDict):
    """One column in BigQuery's JSON schema format."""

    name: str
    type: str
    mode: str
    description: str


class TableSpec(TypedDict):
    """Everything needed to create a table: schema, partitioning and clustering."""

    name: TableName
    schema: list[ColumnSpec]
    partition_field: str
    partition_type: str
    clustering_fields: list[str]


@cache
def _load(table: TableName) -> tuple[ColumnSpec, ...]:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; known: {', '.join(TABLES)}")
    text = resources.files(__name__).joinpath(f"{table}.json").read_text(encoding="utf-8")
    columns: list[ColumnSpec] = json.loads(text)
    return tuple(columns)


def schema_dicts(table: TableName) -> list[ColumnSpec]:
    """The table's columns as plain dicts (a fresh copy: callers may change it)."""
    return [ColumnSpec(**column) for column in _load(table)]


def column_names(table: TableName) -> list[str]:
    """The table's column names, in schema order."""
    return [column["name"] for column in _load(table)]


def table_spec(table: TableName) -> TableSpec:
    """Schema, partitioning and clustering of one table."""
    if table == PREDICTIONS_TABLE:
        field, kind, clustering = (
            PREDICTIONS_PARTITION_FIELD,
            PREDICTIONS_PARTITION_TYPE,
            PREDICTIONS_CLUSTERING_FIELDS,
        )
    else:
        field, kind, clustering = JOBS_PARTITION_FIELD, JOBS_PARTITION_TYPE, JOBS_CLUSTERING_FIELDS
    return TableSpec(
        name=table,
        schema=schema_dicts(table),
        partition_field=field,
        partition_type=kind,
        clustering_fields=list(clustering),
    )


def view_query(project: str, dataset: str, view: str = PREDICTIONS_LATEST_VIEW) -> str:
    """The view's GoogleSQL with its project and dataset filled in (as Terraform does)."""
    from string import Template

    text = resources.files(__name__).joinpath(f"{view}.sql").read_text(encoding="utf-8")
    return Template(text).substitute(project=project, dataset=dataset)
