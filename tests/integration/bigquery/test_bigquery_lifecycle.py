"""Starting, stopping and restarting the emulator: the module form and a file database.

How fast it becomes healthy is measured in bench/emulators.py, not asserted here.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from localcloud.bigquery import BigQueryEmulator
from localcloud.ports import free_port, wait_until_healthy

pytestmark = pytest.mark.integration

SCHEMA = [
    bigquery.SchemaField("job_id", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField("request", "JSON"),
]


def start_module(database: Path, port: int) -> subprocess.Popen[str]:
    """`python -m localcloud.bigquery`, once it answers /healthz."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localcloud.bigquery",
            "--port",
            str(port),
            "--database",
            str(database),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60)
    except TimeoutError:
        process.kill()
        raise
    return process


def stop_module(process: subprocess.Popen[str], signum: signal.Signals) -> list[dict[str, object]]:
    """Send `signum`, wait for a clean exit, return the JSON log lines."""
    process.send_signal(signum)
    try:
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_module_form_serves_logs_and_keeps_tables_across_restarts(
    tmp_path: Path, client_for: Callable[[str], bigquery.Client]
) -> None:
    database = tmp_path / "bigquery.duckdb"
    port = free_port()

    process = start_module(database, port)
    client = client_for(f"http://127.0.0.1:{port}")
    client.create_dataset("batchline")
    table = bigquery.Table(f"{client.project}.batchline.predictions", schema=SCHEMA)
    table.time_partitioning = bigquery.TimePartitioning(field="processed_time")
    client.create_table(table)
    client.load_table_from_json(
        [{"job_id": "j1", "request": {"contents": []}}],
        table,
        job_id="load-1",
        job_config=bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON"),
    ).result()
    logs = stop_module(process, signal.SIGTERM)

    requests = [line["httpRequest"] for line in logs if "httpRequest" in line]
    assert all(isinstance(request, dict) for request in requests)
    calls = [
        (r["requestMethod"], r["requestUrl"].split("?")[0], r["status"])  # type: ignore[index]
        for r in requests
    ]
    assert ("GET", "/healthz", 200) in calls
    assert ("POST", "/bigquery/v2/projects/batchline-test/datasets", 200) in calls
    assert ("POST", "/upload/bigquery/v2/projects/batchline-test/jobs", 200) in calls
    assert any("SIGTERM" in str(line["message"]) for line in logs)

    process = start_module(database, port)
    try:
        restarted = client_for(f"http://127.0.0.1:{port}")
        fetched = restarted.get_table(f"{client.project}.batchline.predictions")
        assert [f.name for f in fetched.schema] == ["job_id", "processed_time", "request"]
        assert fetched.time_partitioning.field == "processed_time"
        assert [dict(row) for row in restarted.list_rows(fetched)] == [
            {"job_id": "j1", "processed_time": None, "request": {"contents": []}}
        ]
        with pytest.raises(exceptions.Conflict):
            restarted.load_table_from_json([{"job_id": "j2"}], fetched, job_id="load-1")
    finally:
        stop_module(process, signal.SIGINT)


def test_file_database_keeps_jobs_and_query_results(
    tmp_path: Path, client_for: Callable[[str], bigquery.Client]
) -> None:
    database = str(tmp_path / "bq.duckdb")
    with BigQueryEmulator(database_path=database) as first:
        client = client_for(first.url)
        client.create_dataset("d")
        table = bigquery.Table(f"{client.project}.d.t", schema=SCHEMA)
        table.clustering_fields = ["job_id"]
        client.create_table(table)
        client.insert_rows_json(table, [{"job_id": "a"}, {"job_id": "b"}])
        query = client.query("SELECT job_id FROM d.t ORDER BY job_id")
        query.result()

    with BigQueryEmulator(database_path=database) as second:
        client = client_for(second.url)
        assert client.get_table("d.t").clustering_fields == ["job_id"]
        # The streamed rows are still in the streaming buffer, which a restart keeps.
        assert client.get_table("d.t").num_rows == 0
        assert client.get_table("d.t").streaming_buffer.estimated_rows == 2
        second.flush_streaming_buffer()
        assert client.get_table("d.t").num_rows == 2
        reloaded = client.get_job(query.job_id)
        assert reloaded.state == "DONE"
        assert [row["job_id"] for row in reloaded.result()] == ["a", "b"]

    with BigQueryEmulator() as in_memory:
        assert list(client_for(in_memory.url).list_datasets()) == []


def test_client_finds_the_emulator_through_bigquery_emulator_host(
    bigquery_emulator: BigQueryEmulator, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-cloud-bigquery reads this variable itself as its API endpoint.
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bigquery_emulator.url)
    client = bigquery.Client(
        project=dataset.split(".")[0],
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    assert client.get_dataset(dataset.split(".")[1]).dataset_id == dataset.split(".")[1]
