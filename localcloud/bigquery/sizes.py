"""BigQuery's data size of stored values: what a query reads, and a table's numBytes.

BigQuery bills a query for the data size of every column it references, summed over the
rows of the tables it reads; the sizes by type are those of "Data size calculation"
(https://cloud.google.com/bigquery/pricing#data): INT64, FLOAT64, DATE, DATETIME, TIME and
TIMESTAMP 8 bytes, NUMERIC 16, BOOL 1, STRING and BYTES 2 plus their length in bytes, JSON
the length of its text, a NULL nothing, STRUCT and ARRAY the sum of what they hold. They are
computed here from the values DuckDB stores, one aggregate scan per table.
"""

from __future__ import annotations

from collections.abc import Sequence

from localcloud.bigquery.schema import Field, quote_identifier
from localcloud.bigquery.sql import TableName
from localcloud.bigquery.store import Store

# BigQuery's data size of one non-NULL value, by type (STRING and BYTES: 2 + their length,
# JSON: its text's length, RECORD and arrays: the sum of what they hold).
_FIXED_BYTES = {
    "INTEGER": 8,
    "FLOAT": 8,
    "NUMERIC": 16,
    "BOOLEAN": 1,
    "TIMESTAMP": 8,
    "DATE": 8,
    "DATETIME": 8,
    "TIME": 8,
}


def column_bytes(store: Store, name: TableName, fields: Sequence[Field]) -> dict[str, int]:
    """BigQuery's data size of each column, summed over the stored rows in one scan."""
    if not fields or not store.has_data_table(name):
        return {f.name: 0 for f in fields}
    sums = ", ".join(
        f"coalesce(sum({_value_bytes(f, quote_identifier(f.name))}), 0)" for f in fields
    )
    row = store.execute(f"SELECT {sums} FROM {name.duckdb_name}").fetchone()
    return {f.name: int(value) for f, value in zip(fields, row or (), strict=True)}


def _value_bytes(field: Field, value: str, *, element: bool = False) -> str:
    """A DuckDB expression for the data size of `value` (0 for NULL)."""
    if field.repeated and not element:
        inner = _value_bytes(field, "_item", element=True)
        return f"coalesce(list_sum(list_transform({value}, lambda _item: {inner})), 0)"
    if field.type == "RECORD":
        members = " + ".join(
            _value_bytes(child, f"{value}.{quote_identifier(child.name)}") for child in field.fields
        )
        return f"CASE WHEN {value} IS NULL THEN 0 ELSE {members or '0'} END"
    size: str
    if field.type in _FIXED_BYTES:
        size = str(_FIXED_BYTES[field.type])
    elif field.type == "STRING":
        size = f"2 + strlen({value})"
    elif field.type == "BYTES":
        size = f"2 + octet_length({value})"
    else:  # JSON
        size = f"strlen(CAST({value} AS VARCHAR))"
    return f"CASE WHEN {value} IS NULL THEN 0 ELSE {size} END"
