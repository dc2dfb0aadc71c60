"""Every kind of answer the emulator gives matches BigQuery's v2 discovery document.

(The conftest also checks each test's answers; this test makes sure every kind of answer
is among them, and that the checker notices a body that is wrong.)
"""

from __future__ import annotations

import copy
import io

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from localcloud.bigquery import BigQueryEmulator
from localcloud.bigquery.conformance import DiscoveryDocument

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("at", "TIMESTAMP"),
    bigquery.SchemaField("payload", "JSON"),
    bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
    bigquery.SchemaField("usage", "RECORD", fields=[bigquery.SchemaField("n", "INT64")]),
]


def exercise_every_method(
    client: bigquery.Client, dataset: str, emulator: BigQueryEmulator
) -> None:
    client.get_dataset(dataset)
    list(client.list_datasets())
    fetched = client.get_dataset(dataset)
    fetched.labels = {"k": "v"}
    client.update_dataset(fetched, ["labels"])

    table = bigquery.Table(f"{dataset}.t", schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="at")
    table.clustering_fields = ["key"]
    table = client.create_table(table)
    table.description = "d"
    client.update_table(table, ["description"])
    list(client.list_tables(dataset))

    client.insert_rows_json(table, [{"key": "a", "at": "2026-01-01T00:00:00Z", "tags": ["x"]}])
    client.insert_rows_json(table, [{"key": "b", "usage": {"n": "x"}}])  # insertErrors
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_json(
        [{"key": "c", "payload": {"p": 1}}], table, job_config=config
    ).result()
    data = io.BytesIO(b'{"key": "d", "usage": {"n": 4}}\n')
    client.load_table_from_file(data, table, job_config=config).result()
    with pytest.raises(exceptions.BadRequest):
        client.load_table_from_json([{"nope": 1}], table, job_config=config).result()
    list(client.list_rows(table))

    job = client.query(f"SELECT * FROM `{dataset}.t` ORDER BY key")
    list(job.result())
    client.get_job(job.job_id)
    client.cancel_job(job.job_id)
    list(client.query_and_wait(f"SELECT key, `at` FROM `{dataset}.t`"))
    client.get_table(table)  # with its streamingBuffer
    emulator.flush_streaming_buffer()  # DML waits for the buffer, as in BigQuery
    client.query_and_wait(f"DELETE FROM `{dataset}.t` WHERE key = 'a'")

    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{dataset}.missing")
    with pytest.raises(exceptions.Conflict):
        client.create_dataset(dataset)
    with pytest.raises(exceptions.BadRequest):
        client.query_and_wait("SELECT FROM WHERE")
    client.delete_table(table)


def test_every_kind_of_answer_conforms(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    bigquery_emulator.take_exchanges()
    exercise_every_method(client, dataset, bigquery_emulator)
    exchanges = list(bigquery_emulator.exchanges)

    answered = {e.method_id for e in exchanges if e.status < 400 and e.body is not None}
    assert answered >= {
        "bigquery.datasets.get",
        "bigquery.datasets.list",
        "bigquery.datasets.patch",
        "bigquery.tables.insert",
        "bigquery.tables.get",
        "bigquery.tables.patch",
        "bigquery.tables.list",
        "bigquery.tabledata.insertAll",
        "bigquery.tabledata.list",
        "bigquery.jobs.insert",
        "bigquery.jobs.get",
        "bigquery.jobs.cancel",
        "bigquery.jobs.query",
        "bigquery.jobs.getQueryResults",
    }
    assert {e.status for e in exchanges if e.status >= 400} >= {400, 404, 409}
    assert any("insertErrors" in (e.body or {}) for e in exchanges)
    assert any("rows" in (e.body or {}) for e in exchanges if e.method_id == "bigquery.jobs.query")

    document = DiscoveryDocument.bundled()
    for exchange in exchanges:
        if exchange.body is not None and exchange.method_id is not None:
            problems = document.check_response(
                exchange.method_id, exchange.body, error=exchange.status >= 400
            )
            assert problems == [], f"{exchange.http_method} {exchange.path}: {problems}"


def test_checker_flags_a_recorded_body_made_wrong(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    client.query("SELECT 1").result()
    job_body = next(
        e.body
        for e in reversed(bigquery_emulator.exchanges)
        if e.method_id == "bigquery.jobs.insert" and e.status == 200
    )
    document = DiscoveryDocument.bundled()
    assert document.check_response("bigquery.jobs.insert", job_body) == []

    wrong = copy.deepcopy(job_body)
    wrong["statistics"]["creationTime"] = int(wrong["statistics"]["creationTime"])
    wrong["status"]["stateReason"] = "made up"
    problems = document.check_response("bigquery.jobs.insert", wrong)
    assert len(problems) == 2
    assert any("creationTime" in p and "int64" in p for p in problems)
    assert any("stateReason" in p for p in problems)
