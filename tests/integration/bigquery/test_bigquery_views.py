"""Views, dry runs and the streaming buffer through the official client, as BigQuery has them."""

from __future__ import annotations

import pytest
from bigquery_support import loaded_table
from google.api_core import exceptions
from google.cloud import bigquery

from localcloud.bigquery import BigQueryEmulator

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("source_uri", "STRING"),
    bigquery.SchemaField("input_line", "INT64"),
    bigquery.SchemaField("status", "STRING"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("response", "JSON"),
]
ROWS = [
    {"source_uri": "gs://b/a#1", "input_line": 1, "status": "FAILED",
     "processed_time": "2026-11-02T10:00:00Z", "response": {"r": 1}},
    {"source_uri": "gs://b/a#1", "input_line": 1, "status": "SUCCEEDED",
     "processed_time": "2026-11-02T11:00:00Z", "response": {"r": 2}},
    {"source_uri": "gs://b/a#1", "input_line": 2, "status": "SUCCEEDED",
     "processed_time": "2026-11-02T10:30:00Z", "response": None},
]  # fmt: skip
LATEST = """
    SELECT source_uri, input_line, status FROM `{table}`
    WHERE true
    QUALIFY ROW_NUMBER() OVER (
      PARTITION BY source_uri, input_line ORDER BY processed_time DESC) = 1"""


@pytest.fixture
def table(client: bigquery.Client, dataset: str) -> str:
    return loaded_table(client, f"{dataset}.predictions", SCHEMA, ROWS)


def test_a_view_with_qualify_is_kept_listed_and_queryable(
    client: bigquery.Client, dataset: str, table: str
) -> None:
    # https://cloud.google.com/bigquery/docs/views and
    # https://cloud.google.com/bigquery/docs/reference/standard-sql/query-syntax#qualify_clause
    view = bigquery.Table(f"{dataset}.predictions_latest")
    view.view_query = LATEST.format(table=table)
    created = client.create_table(view)
    assert created.table_type == "VIEW"
    assert [f.name for f in created.schema] == ["source_uri", "input_line", "status"]
    fetched = client.get_table(f"{dataset}.predictions_latest")
    assert fetched.view_query == view.view_query and fetched.view_use_legacy_sql is False
    listed = {t.table_id: t.table_type for t in client.list_tables(dataset)}
    assert listed == {"predictions": "TABLE", "predictions_latest": "VIEW"}
    rows = client.query_and_wait(
        f"SELECT input_line, status FROM `{dataset}.predictions_latest` ORDER BY input_line"
    )
    assert [tuple(row.values()) for row in rows] == [(1, "SUCCEEDED"), (2, "SUCCEEDED")]


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ("SELECT nope FROM `{table}`", exceptions.BadRequest, "Unrecognized name: nope"),
        ("SELECT 1 FROM `{dataset}.missing`", exceptions.NotFound, "Not found: Table"),
    ],
)
def test_a_view_over_a_missing_column_or_table_is_refused(
    client: bigquery.Client,
    dataset: str,
    table: str,
    query: str,
    error: type[Exception],
    message: str,
) -> None:
    # https://cloud.google.com/bigquery/docs/views: the view's query is validated when the
    # view is created.
    view = bigquery.Table(f"{dataset}.broken")
    view.view_query = query.format(table=table, dataset=dataset)
    with pytest.raises(error, match=message):
        client.create_table(view)
    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{dataset}.broken")


def test_a_dry_run_validates_and_reports_bytes_schema_and_type(
    client: bigquery.Client, table: str
) -> None:
    # https://cloud.google.com/bigquery/docs/dry-run-queries and "Data size calculation",
    # https://cloud.google.com/bigquery/pricing#data: STRING 2 + bytes, INT64 8 per value.
    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    job = client.query(f"SELECT source_uri, input_line FROM `{table}`", job_config=config)
    assert job.state == "DONE"
    assert job.total_bytes_processed == 3 * (2 + len("gs://b/a#1")) + 3 * 8
    assert job.statement_type == "SELECT"
    assert [(f.name, f.field_type) for f in job.schema] == [
        ("source_uri", "STRING"),
        ("input_line", "INTEGER"),
    ]
    narrower = client.query(f"SELECT input_line FROM `{table}`", job_config=config)
    assert narrower.total_bytes_processed == 3 * 8
    with pytest.raises(exceptions.BadRequest, match="Unrecognized name: nope at"):
        client.query(f"SELECT nope FROM `{table}`", job_config=config)
    dml = client.query(f"DELETE FROM `{table}` WHERE input_line = 2", job_config=config)
    assert dml.statement_type == "DELETE"
    assert client.get_table(table).num_rows == 3


def test_streamed_rows_wait_in_the_streaming_buffer(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    # https://cloud.google.com/bigquery/docs/data-manipulation-language (Limitations):
    # rows streamed with tabledata.insertAll in the last 30 minutes can't be modified with
    # UPDATE, DELETE or MERGE; https://cloud.google.com/bigquery/docs/reference/rest/v2/tables
    # (streamingBuffer) and the error of
    # https://cloud.google.com/knowledge/kb/cannot-update-or-delete-over-bigquery-streaming-tables-000004334
    name = f"{dataset}.streamed"
    table = client.create_table(bigquery.Table(name, schema=SCHEMA[:2]))
    assert client.insert_rows_json(table, [{"source_uri": "a", "input_line": 1}] * 2) == []
    fetched = client.get_table(name)
    assert fetched.num_rows == 0
    assert fetched.streaming_buffer.estimated_rows == 2
    assert fetched.streaming_buffer.oldest_entry_time is not None
    rows = client.query_and_wait(f"SELECT COUNT(*) AS n FROM `{name}`")
    assert [row["n"] for row in rows] == [2]  # visible to queries at once
    project, dataset_id, table_id = name.split(".")
    with pytest.raises(exceptions.BadRequest) as caught:
        client.query_and_wait(f"DELETE FROM `{name}` WHERE true")
    assert caught.value.errors[0]["message"] == (
        f"UPDATE or DELETE statement over table {project}.{dataset_id}.{table_id} would affect"
        " rows in the streaming buffer, which is not supported"
    )

    bigquery_emulator.flush_streaming_buffer(name)
    fetched = client.get_table(name)
    assert fetched.num_rows == 2 and fetched.streaming_buffer is None
    client.query_and_wait(f"DELETE FROM `{name}` WHERE true")
    assert client.get_table(name).num_rows == 0


def test_insert_all_refuses_a_fraction_for_an_int64(client: bigquery.Client, dataset: str) -> None:
    # https://cloud.google.com/bigquery/docs/reference/rest/v2/tabledata/insertAll: a row
    # whose value does not fit its column is reported in insertErrors with reason invalid.
    table = client.create_table(bigquery.Table(f"{dataset}.ints", schema=SCHEMA[1:2]))
    # Its wording as BigQuery answers it (GoogleCloudPlatform/DataflowTemplates#22 quotes
    # "Cannot convert value to floating point (bad value):").
    errors = client.insert_rows(table, [{"input_line": 2.7}])
    assert errors == [
        {
            "index": 0,
            "errors": [
                {
                    "reason": "invalid",
                    "location": "input_line",
                    "debugInfo": "",
                    "message": "Cannot convert value to integer (bad value): 2.7",
                }
            ],
        }
    ]
    assert client.list_rows(table).total_rows == 0
    # DML is analysed: a FLOAT64 is not assigned to an INT64 column either.
    with pytest.raises(
        exceptions.BadRequest,
        match="Value has type FLOAT64 which cannot be inserted into column input_line",
    ):
        client.query_and_wait(f"INSERT INTO `{dataset}.ints` (input_line) VALUES (2.7)")
