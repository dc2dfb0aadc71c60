"""Load jobs through the official client: from gs://, from uploads, and the rules of
exactly-once loading (job ids, dispositions, atomic failure)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import io
import json
import uuid
from collections.abc import Iterator

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("job_id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("input_line", "INT64"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("request", "JSON"),
]


def ndjson(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def load_config(**overrides: object) -> bigquery.LoadJobConfig:
    config = bigquery.LoadJobConfig(
        schema=SCHEMA, source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def bucket(storage_emulator: str) -> Iterator[storage.Bucket]:
    gcs = storage.Client(project="batchline-test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    yield gcs.create_bucket(f"bq-loads-{uuid.uuid4().hex[:10]}")


def rows_of(client: bigquery.Client, table: str) -> list[dict[str, object]]:
    return [dict(row) for row in client.query(f"SELECT * FROM `{table}` ORDER BY input_line")]


def test_load_from_gcs(client: bigquery.Client, dataset: str, bucket: storage.Bucket) -> None:
    bucket.blob("out/predictions.jsonl").upload_from_string(
        ndjson(
            [
                {
                    "job_id": "j1",
                    "input_line": 1,
                    "processed_time": "2026-11-02T10:00:00.5Z",
                    "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                },
                {"job_id": "j1", "input_line": 2, "processed_time": "2026-11-02 10:00:01 UTC"},
            ]
        )
    )
    job = client.load_table_from_uri(
        f"gs://{bucket.name}/out/predictions.jsonl",
        f"{dataset}.predictions",
        job_config=load_config(),
    )
    job.result()

    assert job.state == "DONE"
    assert job.output_rows == 2
    assert rows_of(client, f"{dataset}.predictions") == [
        {
            "job_id": "j1",
            "input_line": 1,
            "processed_time": dt.datetime(2026, 11, 2, 10, 0, 0, 500000, tzinfo=dt.UTC),
            "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        },
        {
            "job_id": "j1",
            "input_line": 2,
            "processed_time": dt.datetime(2026, 11, 2, 10, 0, 1, tzinfo=dt.UTC),
            "request": None,
        },
    ]


def test_load_from_gcs_wildcard_reads_every_shard(
    client: bigquery.Client, dataset: str, bucket: storage.Bucket
) -> None:
    bucket.blob("run/part-0.jsonl").upload_from_string(ndjson([{"job_id": "a", "input_line": 1}]))
    bucket.blob("run/part-1.jsonl.gz").upload_from_string(
        gzip.compress(ndjson([{"job_id": "b", "input_line": 2}]))
    )
    bucket.blob("other/part-2.jsonl").upload_from_string(ndjson([{"job_id": "c", "input_line": 3}]))

    job = client.load_table_from_uri(
        f"gs://{bucket.name}/run/part-*", f"{dataset}.t", job_config=load_config()
    )
    job.result()

    assert job.input_files == 2
    assert [row["job_id"] for row in rows_of(client, f"{dataset}.t")] == ["a", "b"]


def test_missing_gcs_object_fails_the_job_with_not_found(
    client: bigquery.Client, dataset: str, bucket: storage.Bucket
) -> None:
    job = client.load_table_from_uri(
        f"gs://{bucket.name}/missing.jsonl", f"{dataset}.t", job_config=load_config()
    )
    with pytest.raises(exceptions.NotFound):
        job.result()
    assert job.error_result["reason"] == "notFound"


def test_same_job_id_twice_is_a_conflict_and_loads_once(
    client: bigquery.Client, dataset: str, bucket: storage.Bucket
) -> None:
    bucket.blob("once.jsonl").upload_from_string(ndjson([{"job_id": "j", "input_line": 1}]))
    uri = f"gs://{bucket.name}/once.jsonl"
    job_id = f"batchline-load-{uuid.uuid4().hex}"

    client.load_table_from_uri(
        uri, f"{dataset}.t", job_id=job_id, job_config=load_config()
    ).result()
    with pytest.raises(exceptions.Conflict) as raised:
        client.load_table_from_uri(uri, f"{dataset}.t", job_id=job_id, job_config=load_config())

    assert raised.value.errors[0]["reason"] == "duplicate"
    assert job_id in raised.value.message
    # The first job is still there to inspect, and the rows were loaded once.
    first = client.get_job(job_id, location="US")
    assert first.state == "DONE"
    assert first.output_rows == 1
    assert client.get_table(f"{dataset}.t").num_rows == 1


def test_racing_loads_with_one_job_id_load_once(
    client: bigquery.Client, dataset: str, bucket: storage.Bucket
) -> None:
    bucket.blob("race.jsonl").upload_from_string(
        ndjson([{"job_id": "j", "input_line": i} for i in range(5)])
    )
    job_id = f"race-{uuid.uuid4().hex}"

    def attempt(_: int) -> str:
        try:
            client.load_table_from_uri(
                f"gs://{bucket.name}/race.jsonl",
                f"{dataset}.t",
                job_id=job_id,
                job_config=load_config(),
            ).result()
        except exceptions.Conflict:
            return "conflict"
        return "loaded"

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(attempt, range(6)))

    assert outcomes == ["conflict"] * 5 + ["loaded"]
    assert client.get_table(f"{dataset}.t").num_rows == 5


def test_rows_that_do_not_fit_fail_the_load_and_load_nothing(
    client: bigquery.Client, dataset: str, bucket: storage.Bucket
) -> None:
    table = f"{dataset}.t"
    client.load_table_from_json(
        [{"job_id": "before", "input_line": 0}], table, job_config=load_config()
    ).result()
    lines: list[dict[str, object]] = [
        {"job_id": "ok", "input_line": 1},
        {"job_id": "bad", "input_line": "not a number"},
        {"input_line": 3},
    ]
    bucket.blob("bad.jsonl").upload_from_string(ndjson(lines))
    second_line_at = len(json.dumps(lines[0])) + 1

    job = client.load_table_from_uri(
        f"gs://{bucket.name}/bad.jsonl", table, job_config=load_config()
    )
    with pytest.raises(exceptions.BadRequest) as raised:
        job.result()

    assert raised.value.errors[0]["reason"] == "invalid"
    assert job.error_result["reason"] == "invalid"
    messages = [error["message"] for error in job.errors[1:]]
    assert any("input_line" in m and f"position {second_line_at}:" in m for m in messages), messages
    assert any("Missing required field: job_id" in m for m in messages), messages
    assert [row["job_id"] for row in rows_of(client, table)] == ["before"]


def test_failed_load_into_a_new_table_creates_no_table(
    client: bigquery.Client, dataset: str
) -> None:
    job = client.load_table_from_json(
        [{"job_id": "x", "unexpected": 1}], f"{dataset}.fresh", job_config=load_config()
    )
    with pytest.raises(exceptions.BadRequest):
        job.result()
    assert "No such field: unexpected" in job.errors[1]["message"]
    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{dataset}.fresh")


def test_unknown_values_ignored_and_bad_records_tolerated_when_asked(
    client: bigquery.Client, dataset: str
) -> None:
    config = load_config(ignore_unknown_values=True, max_bad_records=1)
    job = client.load_table_from_json(
        [
            {"job_id": "a", "input_line": 1, "extra": "ignored"},
            {"job_id": "b", "input_line": {"not": "an int"}},
            {"job_id": "c", "input_line": 3},
        ],
        f"{dataset}.t",
        job_config=config,
    )
    job.result()

    assert job.output_rows == 2
    assert job.errors and job.errors[0]["reason"] == "invalid"
    assert [row["job_id"] for row in rows_of(client, f"{dataset}.t")] == ["a", "c"]


def test_write_dispositions(client: bigquery.Client, dataset: str) -> None:
    table = f"{dataset}.t"

    def load(rows: list[dict[str, object]], disposition: str) -> bigquery.LoadJob:
        return client.load_table_from_json(
            rows, table, job_config=load_config(write_disposition=disposition)
        )

    load([{"job_id": "a", "input_line": 1}], "WRITE_EMPTY").result()
    load([{"job_id": "b", "input_line": 2}], "WRITE_APPEND").result()
    assert [row["job_id"] for row in rows_of(client, table)] == ["a", "b"]

    refused = load([{"job_id": "c", "input_line": 3}], "WRITE_EMPTY")
    with pytest.raises(exceptions.Conflict):
        refused.result()
    assert refused.error_result["reason"] == "duplicate"

    load([{"job_id": "d", "input_line": 4}], "WRITE_TRUNCATE").result()
    assert [row["job_id"] for row in rows_of(client, table)] == ["d"]


def test_create_never_needs_an_existing_table(client: bigquery.Client, dataset: str) -> None:
    job = client.load_table_from_json(
        [{"job_id": "a"}],
        f"{dataset}.absent",
        job_config=load_config(create_disposition="CREATE_NEVER"),
    )
    with pytest.raises(exceptions.NotFound):
        job.result()
    assert job.error_result["reason"] == "notFound"


def test_load_creates_table_with_partitioning_and_clustering(
    client: bigquery.Client, dataset: str
) -> None:
    config = load_config(
        time_partitioning=bigquery.TimePartitioning(field="processed_time"),
        clustering_fields=["job_id"],
    )
    client.load_table_from_json([{"job_id": "a"}], f"{dataset}.t", job_config=config).result()

    table = client.get_table(f"{dataset}.t")
    assert table.time_partitioning.field == "processed_time"
    assert table.clustering_fields == ["job_id"]


def test_load_from_file_uses_resumable_upload(client: bigquery.Client, dataset: str) -> None:
    data = io.BytesIO(ndjson([{"job_id": f"r{i}", "input_line": i} for i in range(3)]))
    # No size: the client streams the file with the resumable protocol.
    job = client.load_table_from_file(data, f"{dataset}.t", job_config=load_config())
    job.result()
    assert job.output_rows == 3
    assert client.get_table(f"{dataset}.t").num_rows == 3


def test_load_from_file_with_size_uses_multipart_upload(
    client: bigquery.Client, dataset: str
) -> None:
    payload = ndjson([{"job_id": "m", "input_line": 1, "request": "plain text is a JSON string"}])
    job = client.load_table_from_file(
        io.BytesIO(payload), f"{dataset}.t", size=len(payload), job_config=load_config()
    )
    job.result()
    assert rows_of(client, f"{dataset}.t")[0]["request"] == "plain text is a JSON string"


def test_upload_with_a_known_job_id_is_a_conflict(client: bigquery.Client, dataset: str) -> None:
    job_id = f"upload-{uuid.uuid4().hex}"
    rows = [{"job_id": "a", "input_line": 1}]
    client.load_table_from_json(
        rows, f"{dataset}.t", job_id=job_id, job_config=load_config()
    ).result()
    with pytest.raises(exceptions.Conflict):
        client.load_table_from_json(rows, f"{dataset}.t", job_id=job_id, job_config=load_config())
    with pytest.raises(exceptions.Conflict):
        client.load_table_from_file(
            io.BytesIO(ndjson(rows)), f"{dataset}.t", job_id=job_id, job_config=load_config()
        )
    assert client.get_table(f"{dataset}.t").num_rows == 1


def test_load_table_from_json_autodetects_a_new_table(
    client: bigquery.Client, dataset: str
) -> None:
    client.load_table_from_json(
        [{"name": "a", "count": 1, "score": 0.5, "ok": True, "tags": ["x"], "meta": {"k": "v"}}],
        f"{dataset}.auto",
    ).result()

    schema = {f.name: (f.field_type, f.mode) for f in client.get_table(f"{dataset}.auto").schema}
    assert schema == {
        "name": ("STRING", "NULLABLE"),
        "count": ("INTEGER", "NULLABLE"),
        "score": ("FLOAT", "NULLABLE"),
        "ok": ("BOOLEAN", "NULLABLE"),
        "tags": ("STRING", "REPEATED"),
        "meta": ("RECORD", "NULLABLE"),
    }
