"""Queries through the official client: GoogleSQL on DuckDB, results typed as BigQuery's."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("job_id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("input_line", "INT64"),
    bigquery.SchemaField("score", "FLOAT64"),
    bigquery.SchemaField("cost", "NUMERIC"),
    bigquery.SchemaField("ok", "BOOL"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("day", "DATE"),
    bigquery.SchemaField("response", "JSON"),
    bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
    bigquery.SchemaField(
        "usage",
        "RECORD",
        fields=[
            bigquery.SchemaField("prompt_tokens", "INT64"),
            bigquery.SchemaField("parts", "STRING", mode="REPEATED"),
        ],
    ),
]
FULL_ROW = {
    "job_id": "j1",
    "input_line": 1,
    "score": 0.25,
    "cost": "0.000123",
    "ok": True,
    "processed_time": "2026-11-02T10:00:00.123456Z",
    "day": "2026-11-02",
    "response": {"candidates": [{"finishReason": "STOP"}], "n": 1.5},
    "tags": ["a", "b"],
    "usage": {"prompt_tokens": 12, "parts": ["x", "y"]},
}
EMPTY_ROW = {"job_id": "j2", "input_line": 2}


@pytest.fixture
def table(client: bigquery.Client, dataset: str) -> str:
    name = f"{dataset}.predictions"
    client.create_table(bigquery.Table(name, schema=SCHEMA))
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_json([FULL_ROW, EMPTY_ROW], name, job_config=config).result()
    return name


EXPECTED_FULL = {
    "job_id": "j1",
    "input_line": 1,
    "score": 0.25,
    "cost": decimal.Decimal("0.000123"),
    "ok": True,
    "processed_time": dt.datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=dt.UTC),
    "day": dt.date(2026, 11, 2),
    "response": {"candidates": [{"finishReason": "STOP"}], "n": 1.5},
    "tags": ["a", "b"],
    "usage": {"prompt_tokens": 12, "parts": ["x", "y"]},
}
EXPECTED_EMPTY = {
    "job_id": "j2",
    "input_line": 2,
    "score": None,
    "cost": None,
    "ok": None,
    "processed_time": None,
    "day": None,
    "response": None,
    "tags": [],
    "usage": None,
}


def test_query_job_results_are_typed(client: bigquery.Client, table: str) -> None:
    job = client.query(f"SELECT * FROM `{table}` ORDER BY input_line")
    rows = [dict(row) for row in job.result()]
    assert rows == [EXPECTED_FULL, EXPECTED_EMPTY]
    assert job.statement_type == "SELECT"
    assert [f.field_type for f in job.result().schema] == [
        "STRING", "INTEGER", "FLOAT", "NUMERIC", "BOOLEAN", "TIMESTAMP", "DATE", "JSON",
        "STRING", "RECORD",
    ]  # fmt: skip


def test_jobs_query_path_gives_the_same_rows(client: bigquery.Client, table: str) -> None:
    sql = f"SELECT * FROM `{table}` ORDER BY input_line"
    via_query_and_wait = [dict(row) for row in client.query_and_wait(sql)]
    via_jobs_query = [dict(row) for row in client.query(sql, api_method="QUERY").result()]
    assert via_query_and_wait == via_jobs_query == [EXPECTED_FULL, EXPECTED_EMPTY]


def test_list_rows_is_typed_and_pages(client: bigquery.Client, table: str) -> None:
    assert [dict(row) for row in client.list_rows(table)] == [EXPECTED_FULL, EXPECTED_EMPTY]
    pages = list(client.list_rows(table, page_size=1).pages)
    assert [[row["job_id"] for row in page] for page in pages] == [["j1"], ["j2"]]
    selected = client.list_rows(
        table, selected_fields=[bigquery.SchemaField("input_line", "INT64")]
    )
    assert [tuple(row) for row in selected] == [(1,), (2,)]


def test_table_references_resolve_every_way(client: bigquery.Client, table: str) -> None:
    project, dataset_id, table_id = table.split(".")
    config = bigquery.QueryJobConfig(default_dataset=f"{project}.{dataset_id}")
    for sql in (
        f"SELECT COUNT(*) AS n FROM `{project}.{dataset_id}.{table_id}`",
        f"SELECT COUNT(*) AS n FROM `{project}`.`{dataset_id}`.`{table_id}`",
        f"SELECT COUNT(*) AS n FROM {project}.{dataset_id}.{table_id}",
        f"SELECT COUNT(*) AS n FROM {dataset_id}.{table_id}",
        f"SELECT COUNT(*) AS n FROM `{dataset_id}.{table_id}`",
        f"SELECT COUNT(*) AS n FROM {table_id}",
    ):
        assert [row["n"] for row in client.query_and_wait(sql, job_config=config)] == [2], sql


def test_googlesql_functions_and_parameters(client: bigquery.Client, table: str) -> None:
    sql = f"""
        SELECT
          job_id,
          JSON_VALUE(response, '$.candidates[0].finishReason') AS finish_reason,
          TIMESTAMP_TRUNC(processed_time, DAY) AS day_start,
          ARRAY_LENGTH(tags) AS tag_count,
          usage.prompt_tokens * @factor,
          SAFE_CAST('x' AS INT64) AS not_a_number
        FROM `{table}`
        WHERE job_id IN UNNEST(@jobs) AND processed_time >= @since
    """
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("factor", "INT64", 2),
            bigquery.ArrayQueryParameter("jobs", "STRING", ["j1", "j2"]),
            bigquery.ScalarQueryParameter(
                "since", "TIMESTAMP", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            ),
        ]
    )
    rows = [dict(row) for row in client.query_and_wait(sql, job_config=config)]
    assert rows == [
        {
            "job_id": "j1",
            "finish_reason": "STOP",
            "day_start": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
            "tag_count": 2,
            "f0_": 24,
            "not_a_number": None,
        }
    ]


def test_positional_parameters(client: bigquery.Client, table: str) -> None:
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(None, "STRING", "j2")]
    )
    rows = client.query_and_wait(
        f"SELECT input_line FROM `{table}` WHERE job_id = ?", job_config=config
    )
    assert [row["input_line"] for row in rows] == [2]


def test_results_page_through_get_query_results(client: bigquery.Client, dataset: str) -> None:
    job = client.query("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 25)) AS x ORDER BY x")
    pages = list(job.result(page_size=10).pages)
    assert [len(list(page)) for page in pages] == [10, 10, 5]
    assert job.result().total_rows == 25


def test_dml_statements_report_affected_rows(client: bigquery.Client, table: str) -> None:
    inserted = client.query(
        f"INSERT INTO `{table}` (job_id, input_line) VALUES ('j3', 3), ('j4', 4)"
    )
    inserted.result()
    assert inserted.num_dml_affected_rows == 2

    updated = client.query(f"UPDATE `{table}` SET ok = FALSE WHERE input_line > 2")
    updated.result()
    assert updated.num_dml_affected_rows == 2

    deleted = client.query_and_wait(f"DELETE FROM `{table}` WHERE ok = FALSE")
    assert deleted.num_dml_affected_rows == 2
    assert client.get_table(table).num_rows == 2


def test_query_into_a_destination_table(client: bigquery.Client, table: str, dataset: str) -> None:
    config = bigquery.QueryJobConfig(
        destination=f"{dataset}.summary", write_disposition="WRITE_TRUNCATE"
    )
    client.query(
        f"SELECT job_id, COUNT(*) AS n FROM `{table}` GROUP BY job_id ORDER BY job_id",
        job_config=config,
    ).result()
    summary = client.get_table(f"{dataset}.summary")
    assert [(f.name, f.field_type) for f in summary.schema] == [
        ("job_id", "STRING"),
        ("n", "INTEGER"),
    ]
    assert summary.num_rows == 2

    again = client.query(
        f"SELECT job_id, COUNT(*) AS n FROM `{table}` GROUP BY job_id",
        job_config=bigquery.QueryJobConfig(destination=f"{dataset}.summary"),
    )
    with pytest.raises(exceptions.Conflict):
        again.result()


def test_bad_sql_is_invalid_query(client: bigquery.Client, table: str) -> None:
    with pytest.raises(exceptions.BadRequest) as raised:
        client.query_and_wait("SELEC nonsense FROM")
    assert raised.value.errors[0]["reason"] == "invalidQuery"

    job = client.query(f"SELECT no_such_column FROM `{table}`")
    with pytest.raises(exceptions.BadRequest) as raised:
        job.result()
    assert raised.value.errors[0]["reason"] == "invalidQuery"
    assert job.error_result["reason"] == "invalidQuery"


def test_unknown_table_in_query_is_not_found(client: bigquery.Client, dataset: str) -> None:
    with pytest.raises(exceptions.NotFound) as raised:
        client.query_and_wait(f"SELECT * FROM `{dataset}.nope`")
    assert "nope was not found" in raised.value.message


def test_unknown_job_is_not_found(client: bigquery.Client) -> None:
    with pytest.raises(exceptions.NotFound):
        client.get_job("no-such-job")


def test_known_query_job_id_is_a_conflict(client: bigquery.Client) -> None:
    job_id = f"query-{uuid.uuid4().hex}"
    client.query("SELECT 1", job_id=job_id, job_retry=None).result()
    with pytest.raises(exceptions.Conflict):
        client.query("SELECT 2", job_id=job_id, job_retry=None)
