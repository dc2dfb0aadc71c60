"""tabledata.insertAll through the official client: insertId de-duplication and row errors."""

from __future__ import annotations

import datetime as dt

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("n", "INT64"),
    bigquery.SchemaField("at", "TIMESTAMP"),
    bigquery.SchemaField("payload", "JSON"),
]


@pytest.fixture
def table(client: bigquery.Client, dataset: str) -> bigquery.Table:
    return client.create_table(bigquery.Table(f"{dataset}.events", schema=SCHEMA))


def keys(client: bigquery.Client, table: bigquery.Table) -> list[str]:
    return sorted(row["key"] for row in client.list_rows(table))


def test_retried_insert_ids_are_written_once(
    client: bigquery.Client, table: bigquery.Table
) -> None:
    rows = [{"key": "a", "n": 1}, {"key": "b", "n": 2}]
    assert client.insert_rows_json(table, rows, row_ids=["id-a", "id-b"]) == []
    # The same request again, as a retry after a lost answer would send it.
    assert client.insert_rows_json(table, rows, row_ids=["id-a", "id-b"]) == []
    assert client.insert_rows_json(table, [{"key": "c"}], row_ids=["id-c"]) == []
    assert keys(client, table) == ["a", "b", "c"]


def test_rows_without_insert_ids_are_not_deduplicated(
    client: bigquery.Client, table: bigquery.Table
) -> None:
    client.insert_rows_json(table, [{"key": "a"}], row_ids=[None])
    client.insert_rows_json(table, [{"key": "a"}], row_ids=[None])
    assert keys(client, table) == ["a", "a"]


def test_bad_row_stops_the_whole_request(client: bigquery.Client, table: bigquery.Table) -> None:
    errors = client.insert_rows_json(table, [{"key": "a"}, {"key": "b", "nope": 1}, {"n": 3}])
    assert errors[0] == {
        "index": 0,
        "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}],
    }
    assert errors[1]["errors"][0]["reason"] == "invalid"
    assert errors[1]["errors"][0]["location"] == "nope"
    assert "Missing required field: key" in errors[2]["errors"][0]["message"]
    assert keys(client, table) == []


def test_skip_invalid_rows_keeps_the_good_ones(
    client: bigquery.Client, table: bigquery.Table
) -> None:
    errors = client.insert_rows_json(
        table, [{"key": "a"}, {"key": "b", "n": "x"}], skip_invalid_rows=True
    )
    assert [error["index"] for error in errors] == [1]
    assert keys(client, table) == ["a"]


def test_insert_rows_with_schema_converts_python_values(
    client: bigquery.Client, table: bigquery.Table
) -> None:
    at = dt.datetime(2026, 11, 2, 12, 30, tzinfo=dt.UTC)
    assert client.insert_rows(table, [{"key": "k", "n": 5, "at": at, "payload": {"a": [1]}}]) == []
    assert [dict(row) for row in client.list_rows(table)] == [
        {"key": "k", "n": 5, "at": at, "payload": {"a": [1]}}
    ]


def test_insert_into_unknown_table_is_not_found(client: bigquery.Client, dataset: str) -> None:
    with pytest.raises(exceptions.NotFound):
        client.insert_rows_json(f"{dataset}.missing", [{"key": "a"}])
