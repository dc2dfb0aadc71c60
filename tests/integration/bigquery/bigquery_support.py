"""Helpers the BigQuery emulator's tests share."""

from __future__ import annotations

from google.cloud import bigquery


def loaded_table(
    client: bigquery.Client,
    name: str,
    schema: list[bigquery.SchemaField],
    rows: list[dict[str, object]],
) -> str:
    """A new table `name` with `rows` loaded by a load job (not streamed: no buffer)."""
    client.create_table(bigquery.Table(name, schema=schema))
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_json(rows, name, job_config=config).result()
    return name
