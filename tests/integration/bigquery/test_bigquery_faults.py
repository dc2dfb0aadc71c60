"""Injected 429/503 answers are absorbed by the client's own retry rules."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, storage
from google.cloud.bigquery.retry import DEFAULT_RETRY

from localcloud.bigquery import BigQueryEmulator, Fault

pytestmark = pytest.mark.integration

# The client's retry predicate and deadline, with back-off shortened to keep tests fast.
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.05)


def statuses(emulator: BigQueryEmulator, path_part: str) -> list[int]:
    return [e.status for e in emulator.exchanges if path_part in e.path]


def test_503s_are_retried_by_the_default_retry(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    bigquery_emulator.inject_faults(503, count=1)
    # No retry argument: DEFAULT_RETRY as the client ships it.
    assert client.get_dataset(dataset).dataset_id == dataset.split(".")[1]
    assert statuses(bigquery_emulator, f"/datasets/{dataset.split('.')[1]}")[-2:] == [503, 200]
    assert bigquery_emulator.faults.pending() == []


def test_429s_injected_over_http_are_absorbed_by_insert_all(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    table = client.create_table(
        bigquery.Table(f"{dataset}.t", schema=[bigquery.SchemaField("k", "STRING")])
    )
    request = urllib.request.Request(
        f"{bigquery_emulator.url}/admin/faults",
        data=json.dumps({"status": 429, "count": 3}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer)["pending"] == [
            {"status": 429, "count": 3, "reason": "rateLimitExceeded"}
        ]

    assert client.insert_rows_json(table, [{"k": "a"}], row_ids=["once"], retry=FAST_RETRY) == []

    assert statuses(bigquery_emulator, "/insertAll") == [429, 429, 429, 200]
    assert [row["k"] for row in client.list_rows(table)] == ["a"]


def test_faults_during_a_load_and_a_query(
    client: bigquery.Client,
    dataset: str,
    bigquery_emulator: BigQueryEmulator,
    storage_emulator: str,
) -> None:
    gcs = storage.Client(project="batchline-test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    bucket = gcs.create_bucket(f"bq-faults-{uuid.uuid4().hex[:10]}")
    bucket.blob("rows.jsonl").upload_from_string(b'{"k": "a"}\n')

    bigquery_emulator.inject_faults(503, count=2)
    job = client.load_table_from_uri(
        f"gs://{bucket.name}/rows.jsonl",
        f"{dataset}.t",
        job_config=bigquery.LoadJobConfig(
            schema=[bigquery.SchemaField("k", "STRING")], source_format="NEWLINE_DELIMITED_JSON"
        ),
        retry=FAST_RETRY,
    )
    job.result(retry=FAST_RETRY)
    # jobs.insert was answered 503 twice, then ran once: the client's job id kept it single.
    assert statuses(bigquery_emulator, "/jobs?") == [503, 503, 200]
    assert job.output_rows == 1

    bigquery_emulator.inject_faults(429, count=2)
    rows = client.query_and_wait(f"SELECT k FROM `{dataset}.t`", retry=FAST_RETRY)
    assert [row["k"] for row in rows] == ["a"]
    assert bigquery_emulator.faults.pending() == []


def test_without_retry_the_fault_reaches_the_caller(
    client: bigquery.Client, dataset: str, bigquery_emulator: BigQueryEmulator
) -> None:
    bigquery_emulator.inject_faults(503, count=1)
    with pytest.raises(exceptions.ServiceUnavailable) as raised:
        client.get_dataset(dataset, retry=None)
    assert raised.value.errors[0]["reason"] == "backendError"

    bigquery_emulator.inject_faults(429, count=1)
    with pytest.raises(exceptions.TooManyRequests) as raised_429:
        client.get_dataset(dataset, retry=None)
    assert raised_429.value.errors[0]["reason"] == "rateLimitExceeded"
    assert client.get_dataset(dataset, retry=None).dataset_id == dataset.split(".")[1]


def test_faults_given_to_the_constructor_spare_the_health_check(
    client_for: Callable[[str], bigquery.Client],
) -> None:
    with BigQueryEmulator(faults=[Fault(503, 2)]) as emulator:
        with urllib.request.urlopen(f"{emulator.url}/healthz") as answer:
            assert answer.status == 200
        assert emulator.faults.pending() == [{"status": 503, "count": 2, "reason": "backendError"}]

        assert list(client_for(emulator.url).list_datasets(retry=FAST_RETRY)) == []
        assert emulator.faults.pending() == []
