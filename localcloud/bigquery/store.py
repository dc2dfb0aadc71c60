"""DuckDB storage: table data in one DuckDB schema per dataset, resources in `_emulator`.

Dataset, table and job resources are JSON in metadata tables next to the data, so a
file-backed database brings back everything (schemas, partitioning, job ids) on restart.
One connection serves every request, guarded by a re-entrant lock: DuckDB connections
are not safe to share between threads, and an emulator needs no parallelism.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb

from localcloud.bigquery.schema import Field, column_definition, quote_identifier
from localcloud.bigquery.semantics import MACROS
from localcloud.bigquery.sql import TableName, duckdb_schema

_META = "_emulator"
# Rows per INSERT statement: one multi-row VALUES statement is far faster than executemany.
_INSERT_BATCH = 500

_METADATA_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {_META}",
    f"""CREATE TABLE IF NOT EXISTS {_META}.datasets (
        project VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, resource VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_META}.tables (
        project VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, table_id VARCHAR NOT NULL,
        resource VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_META}.jobs (
        project VARCHAR NOT NULL, job_id VARCHAR NOT NULL, resource VARCHAR NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {_META}.streaming (
        table_key VARCHAR NOT NULL, row_count BIGINT NOT NULL, byte_count BIGINT NOT NULL,
        streamed_at TIMESTAMPTZ NOT NULL)""",
)


class Store:
    """Resources and rows; every method is atomic, `transaction()` groups several."""

    def __init__(self, database_path: str | None = None) -> None:
        self._connection = duckdb.connect(database_path or ":memory:")
        self.lock = threading.RLock()
        self._depth = 0
        self._connection.execute("SET TimeZone = 'UTC'")
        for statement in _METADATA_DDL:
            self._connection.execute(statement)
        # Session macros: a file-backed database keeps none of the emulator's SQL.
        for macro in MACROS:
            self._connection.execute(f"CREATE OR REPLACE TEMP MACRO {macro}")

    def close(self) -> None:
        with self.lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: a failed load leaves no row and no table behind."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._connection.execute("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            else:
                self._connection.execute("COMMIT")
            finally:
                self._depth = 0

    def execute(
        self, sql: str, parameters: Sequence[Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        with self.lock:
            return self._connection.execute(sql, parameters)

    def relation(self, sql: str) -> duckdb.DuckDBPyRelation:
        """A lazy relation: its columns and types are known before it runs."""
        with self.lock:
            return self._connection.sql(sql)

    # -- datasets ----------------------------------------------------------------------

    def get_dataset(self, project: str, dataset_id: str) -> dict[str, Any] | None:
        row = self.execute(
            f"SELECT resource FROM {_META}.datasets WHERE project = ? AND dataset_id = ?",
            [project, dataset_id],
        ).fetchone()
        return json.loads(row[0]) if row else None

    def list_datasets(self, project: str) -> list[dict[str, Any]]:
        rows = self.execute(
            f"SELECT resource FROM {_META}.datasets WHERE project = ? ORDER BY dataset_id",
            [project],
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def put_dataset(self, project: str, dataset_id: str, resource: dict[str, Any]) -> None:
        with self.transaction():
            self.execute(
                f"DELETE FROM {_META}.datasets WHERE project = ? AND dataset_id = ?",
                [project, dataset_id],
            )
            self.execute(
                f"INSERT INTO {_META}.datasets VALUES (?, ?, ?)",
                [project, dataset_id, json.dumps(resource)],
            )
            schema = quote_identifier(duckdb_schema(project, dataset_id))
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def delete_dataset(self, project: str, dataset_id: str) -> None:
        with self.transaction():
            for table in self.list_tables(project, dataset_id):
                reference = table["tableReference"]
                self.delete_table(TableName(project, dataset_id, reference["tableId"]))
            self.execute(
                f"DELETE FROM {_META}.datasets WHERE project = ? AND dataset_id = ?",
                [project, dataset_id],
            )
            schema = quote_identifier(duckdb_schema(project, dataset_id))
            self.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    # -- tables ------------------------------------------------------------------------

    def get_table(self, name: TableName) -> dict[str, Any] | None:
        row = self.execute(
            f"SELECT resource FROM {_META}.tables"
            " WHERE project = ? AND dataset_id = ? AND table_id = ?",
            [name.project, name.dataset, name.table],
        ).fetchone()
        return json.loads(row[0]) if row else None

    def list_tables(self, project: str, dataset_id: str) -> list[dict[str, Any]]:
        rows = self.execute(
            f"SELECT resource FROM {_META}.tables WHERE project = ? AND dataset_id = ?"
            " ORDER BY table_id",
            [project, dataset_id],
        ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def put_table(self, name: TableName, resource: dict[str, Any]) -> None:
        with self.transaction():
            self.execute(
                f"DELETE FROM {_META}.tables WHERE project = ? AND dataset_id = ? AND table_id = ?",
                [name.project, name.dataset, name.table],
            )
            self.execute(
                f"INSERT INTO {_META}.tables VALUES (?, ?, ?, ?)",
                [name.project, name.dataset, name.table, json.dumps(resource)],
            )

    def delete_table(self, name: TableName) -> None:
        with self.transaction():
            self.flush_streamed(None, name)
            self.execute(
                f"DELETE FROM {_META}.tables WHERE project = ? AND dataset_id = ? AND table_id = ?",
                [name.project, name.dataset, name.table],
            )
            self.execute(f"DROP TABLE IF EXISTS {name.duckdb_name}")

    def create_data_table(self, name: TableName, fields: Sequence[Field]) -> None:
        """The DuckDB table holding the rows; a table without a schema has none yet."""
        if not fields:
            return
        columns = ", ".join(column_definition(field) for field in fields)
        self.execute(f"CREATE TABLE {name.duckdb_name} ({columns})")

    def replace_data_table(self, name: TableName, fields: Sequence[Field]) -> None:
        self.execute(f"DROP TABLE IF EXISTS {name.duckdb_name}")
        self.create_data_table(name, fields)

    def has_data_table(self, name: TableName) -> bool:
        row = self.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [name.duckdb_schema, name.table],
        ).fetchone()
        return bool(row and row[0])

    # -- rows --------------------------------------------------------------------------

    def insert_rows(
        self, name: TableName, fields: Sequence[Field], rows: Sequence[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        columns = ", ".join(quote_identifier(field.name) for field in fields)
        placeholder = "(" + ", ".join("?" for _ in fields) + ")"
        with self.transaction():
            for start in range(0, len(rows), _INSERT_BATCH):
                batch = rows[start : start + _INSERT_BATCH]
                values = ", ".join(placeholder for _ in batch)
                self.execute(
                    f"INSERT INTO {name.duckdb_name} ({columns}) VALUES {values}",
                    [value for row in batch for value in row],
                )

    def delete_rows(self, name: TableName) -> None:
        if self.has_data_table(name):
            self.execute(f"DELETE FROM {name.duckdb_name}")

    def count_rows(self, name: TableName) -> int:
        if not self.has_data_table(name):
            return 0
        row = self.execute(f"SELECT count(*) FROM {name.duckdb_name}").fetchone()
        return int(row[0]) if row else 0

    def read_rows(
        self, name: TableName, columns: Sequence[str], start: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """Rows in insertion order, so pages stay stable between calls."""
        if not columns or not self.has_data_table(name):
            return []
        selected = ", ".join(quote_identifier(column) for column in columns)
        return self.execute(
            f"SELECT {selected} FROM {name.duckdb_name} ORDER BY rowid LIMIT ? OFFSET ?",
            [limit, start],
        ).fetchall()

    def add_column(self, name: TableName, field: Field) -> None:
        self.execute(f"ALTER TABLE {name.duckdb_name} ADD COLUMN {column_definition(field)}")

    def drop_not_null(self, name: TableName, column: str) -> None:
        self.execute(
            f"ALTER TABLE {name.duckdb_name} ALTER COLUMN {quote_identifier(column)} DROP NOT NULL"
        )

    # -- the streaming buffer (streaming.StreamingBuffer) ------------------------------

    def add_streamed(self, name: TableName, rows: int, size: int, at: dt.datetime) -> None:
        self.execute(
            f"INSERT INTO {_META}.streaming VALUES (?, ?, ?, ?)", [name.api_id, rows, size, at]
        )

    def streamed(self, name: TableName) -> list[tuple[int, int, dt.datetime]]:
        rows = self.execute(
            f"SELECT row_count, byte_count, streamed_at FROM {_META}.streaming WHERE table_key = ?",
            [name.api_id],
        ).fetchall()
        return [(int(r[0]), int(r[1]), r[2]) for r in rows]

    def flush_streamed(self, before: dt.datetime | None, name: TableName | None) -> None:
        """Forget buffer entries older than `before` (None: all), of one table or all."""
        conditions: list[str] = []
        values: list[Any] = []
        if before is not None:
            conditions.append("streamed_at < ?")
            values.append(before)
        if name is not None:
            conditions.append("table_key = ?")
            values.append(name.api_id)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        self.execute(f"DELETE FROM {_META}.streaming{where}", values)

    # -- jobs --------------------------------------------------------------------------

    def get_job(self, project: str, job_id: str) -> dict[str, Any] | None:
        row = self.execute(
            f"SELECT resource FROM {_META}.jobs WHERE project = ? AND job_id = ?",
            [project, job_id],
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_job(self, project: str, job_id: str, resource: dict[str, Any]) -> None:
        with self.transaction():
            self.execute(
                f"DELETE FROM {_META}.jobs WHERE project = ? AND job_id = ?", [project, job_id]
            )
            self.execute(
                f"INSERT INTO {_META}.jobs VALUES (?, ?, ?)",
                [project, job_id, json.dumps(resource)],
            )
