"""Datasets and tables through the official client: create, read, change, list, delete."""

from __future__ import annotations

import uuid

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("job_id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("input_line", "INT64"),
    bigquery.SchemaField("request", "JSON"),
]


def test_dataset_round_trip(client: bigquery.Client) -> None:
    dataset_id = f"ds_{uuid.uuid4().hex[:8]}"
    created = client.create_dataset(bigquery.Dataset(f"{client.project}.{dataset_id}"))

    fetched = client.get_dataset(dataset_id)
    assert fetched.dataset_id == dataset_id
    assert fetched.location == "US"
    assert fetched.created == created.created
    assert dataset_id in [d.dataset_id for d in client.list_datasets()]

    client.delete_dataset(dataset_id)
    with pytest.raises(exceptions.NotFound):
        client.get_dataset(dataset_id)


def test_dataset_labels_and_description_can_be_patched(
    client: bigquery.Client, dataset: str
) -> None:
    fetched = client.get_dataset(dataset)
    fetched.description = "batch outputs"
    fetched.labels = {"team": "ml"}
    updated = client.update_dataset(fetched, ["description", "labels"])
    assert client.get_dataset(dataset).description == "batch outputs"
    assert client.get_dataset(dataset).labels == {"team": "ml"}
    assert updated.etag != fetched.etag


def test_existing_dataset_is_a_conflict(client: bigquery.Client, dataset: str) -> None:
    with pytest.raises(exceptions.Conflict) as raised:
        client.create_dataset(dataset)
    assert raised.value.errors[0]["reason"] == "duplicate"
    # exists_ok is the client's own recovery from that 409.
    assert client.create_dataset(dataset, exists_ok=True).dataset_id == dataset.split(".")[1]


def test_unknown_dataset_is_not_found(client: bigquery.Client) -> None:
    with pytest.raises(exceptions.NotFound) as raised:
        client.get_dataset("no_such_dataset")
    assert raised.value.errors[0]["reason"] == "notFound"
    assert "no_such_dataset" in raised.value.message


def test_dataset_with_tables_is_deleted_only_with_its_contents(
    client: bigquery.Client, dataset: str
) -> None:
    client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    with pytest.raises(exceptions.BadRequest) as raised:
        client.delete_dataset(dataset)
    assert raised.value.errors[0]["reason"] == "resourceInUse"

    client.delete_dataset(dataset, delete_contents=True)
    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{dataset}.t")


def test_table_keeps_partitioning_and_clustering(client: bigquery.Client, dataset: str) -> None:
    table = bigquery.Table(f"{dataset}.predictions", schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field="processed_time"
    )
    table.clustering_fields = ["job_id"]
    table.description = "one row per prediction"
    client.create_table(table)

    fetched = client.get_table(f"{dataset}.predictions")
    assert fetched.time_partitioning.type_ == "DAY"
    assert fetched.time_partitioning.field == "processed_time"
    assert fetched.clustering_fields == ["job_id"]
    assert fetched.description == "one row per prediction"
    assert [(f.name, f.field_type, f.mode) for f in fetched.schema] == [
        ("job_id", "STRING", "REQUIRED"),
        ("processed_time", "TIMESTAMP", "NULLABLE"),
        ("input_line", "INTEGER", "NULLABLE"),
        ("request", "JSON", "NULLABLE"),
    ]
    assert fetched.num_rows == 0


def test_partitioning_on_a_string_column_is_refused(client: bigquery.Client, dataset: str) -> None:
    table = bigquery.Table(f"{dataset}.bad", schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="job_id")
    with pytest.raises(exceptions.BadRequest) as raised:
        client.create_table(table)
    assert raised.value.errors[0]["reason"] == "invalid"
    with pytest.raises(exceptions.NotFound):
        client.get_table(f"{dataset}.bad")


def test_invalid_schema_type_is_refused(client: bigquery.Client, dataset: str) -> None:
    table = bigquery.Table(f"{dataset}.bad", schema=[bigquery.SchemaField("x", "VARCHAR")])
    with pytest.raises(exceptions.BadRequest) as raised:
        client.create_table(table)
    assert raised.value.errors[0]["reason"] == "invalid"
    assert "VARCHAR" in raised.value.message


def test_existing_table_is_a_conflict(client: bigquery.Client, dataset: str) -> None:
    client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    with pytest.raises(exceptions.Conflict) as raised:
        client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    assert raised.value.errors[0]["reason"] == "duplicate"


def test_table_in_unknown_dataset_is_not_found(client: bigquery.Client) -> None:
    with pytest.raises(exceptions.NotFound):
        client.create_table(bigquery.Table(f"{client.project}.nowhere.t", schema=SCHEMA))


def test_table_patch_adds_a_column_and_keeps_rows(client: bigquery.Client, dataset: str) -> None:
    table = client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    assert client.insert_rows_json(table, [{"job_id": "j1", "input_line": 1}]) == []

    table.schema = [*SCHEMA, bigquery.SchemaField("model_version", "STRING")]
    table.labels = {"stage": "dev"}
    updated = client.update_table(table, ["schema", "labels"])

    assert [f.name for f in updated.schema][-1] == "model_version"
    assert updated.labels == {"stage": "dev"}
    rows = [dict(row) for row in client.list_rows(f"{dataset}.t")]
    assert rows == [
        {
            "job_id": "j1",
            "processed_time": None,
            "input_line": 1,
            "request": None,
            "model_version": None,
        }
    ]


def test_table_patch_cannot_drop_a_column(client: bigquery.Client, dataset: str) -> None:
    table = client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    table.schema = SCHEMA[:2]
    with pytest.raises(exceptions.BadRequest) as raised:
        client.update_table(table, ["schema"])
    assert "input_line is missing" in raised.value.message


def test_stale_etag_is_refused(client: bigquery.Client, dataset: str) -> None:
    stale = client.create_table(bigquery.Table(f"{dataset}.t", schema=SCHEMA))
    fresh = client.get_table(f"{dataset}.t")
    fresh.description = "first writer"
    client.update_table(fresh, ["description"])
    stale.description = "second writer"
    with pytest.raises(exceptions.PreconditionFailed):
        client.update_table(stale, ["description"])


def test_tables_are_listed_and_deleted(client: bigquery.Client, dataset: str) -> None:
    for name in ("b", "a", "c"):
        client.create_table(bigquery.Table(f"{dataset}.{name}", schema=SCHEMA))
    listed = list(client.list_tables(dataset, page_size=2))
    assert [t.table_id for t in listed] == ["a", "b", "c"]

    client.delete_table(f"{dataset}.b")
    assert [t.table_id for t in client.list_tables(dataset)] == ["a", "c"]
    with pytest.raises(exceptions.NotFound):
        client.delete_table(f"{dataset}.b")
    client.delete_table(f"{dataset}.b", not_found_ok=True)
