"""End to end on the local cloud, through the commands a user types.

`batchline local up` starts every service in its own state folder; files go in with
`batchline submit --wait`; the rows come back from `batchline query`; `local down` stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def batchline(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchline_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("localcloud")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BATCHLINE_", "GOOGLE_CLOUD_PROJECT")) and "EMULATOR_HOST" not in key
    }
    env["BATCHLINE_LOCAL_DIR"] = str(state)
    up = batchline(env, "local", "up", "--state-seconds", "0.5", "--tick-seconds", "1")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield env
    finally:
        down = batchline(env, "local", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert not (state / "stack.json").exists()


def test_status_shows_every_service_healthy(local_cloud: dict[str, str]) -> None:
    status = batchline(local_cloud, "local", "status", "--format", "json")
    assert status.returncode == 0, status.stdout
    document = json.loads(status.stdout)
    assert document["running"] and document["healthy"]
    rows = {row["service"]: "yes" if row["healthy"] else "NO" for row in document["services"]}
    table = batchline(local_cloud, "local", "status")
    assert table.returncode == 0 and "bigquery" in table.stdout
    services = (
        "storage",
        "pubsub",
        "firestore",
        "vertex",
        "bigquery",
        "submit",
        "poll",
        "complete",
        "bridge",
    )
    assert {name: rows.get(name) for name in services} == dict.fromkeys(services, "yes")


def sources(env: dict[str, str]) -> dict[str, dict[str, object]]:
    """`batchline jobs --format json`, by object name."""
    listed = batchline(env, "jobs", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    return {str(r["source_uri"]).split("/", 3)[3].rpartition("#")[0]: r for r in records}


def in_local_cloud(env: dict[str, str], code: str, *args: str) -> str:
    """Run Python against the running local cloud (its environment loaded)."""
    prelude = (
        "import os, sys\n"
        "from localcloud import stack\n"
        "os.environ.update(stack.environment())\n"
        "from batchline.runtime.clients import storage_client\n"
        "bucket = storage_client().bucket(stack.INPUT_BUCKET)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_dropped_file_comes_back_as_rows_and_a_notification(local_cloud: dict[str, str]) -> None:
    submit = batchline(
        local_cloud,
        "submit",
        str(SAMPLES / "text_requests.jsonl"),
        "--name",
        "e2e/text.jsonl",
        "--wait",
        "--timeout",
        "120",
    )
    assert submit.returncode == 0, submit.stdout + submit.stderr
    assert "job.succeeded gs://batchline-local-input/e2e/text.jsonl#" in submit.stdout
    rows = batchline(
        local_cloud,
        "query",
        "--format",
        "json",
        "SELECT input_line, status, response_text IS NOT NULL AS answered "
        "FROM batchline.predictions WHERE source_uri LIKE '%/e2e/text.jsonl#%' "
        "ORDER BY input_line",
    )
    assert rows.returncode == 0, rows.stderr
    assert [json.loads(line) for line in rows.stdout.splitlines()] == [
        {"input_line": n, "status": "SUCCEEDED", "answered": True} for n in range(1, 11)
    ]
    record = sources(local_cloud)["e2e/text.jsonl"]
    assert record["state"] == "loaded" and record["totals"]["succeeded"] == 10  # type: ignore[index]


def test_a_bad_file_is_refused_before_upload_and_rejected_after(
    local_cloud: dict[str, str],
) -> None:
    refused = batchline(local_cloud, "submit", str(SAMPLES / "broken_requests.jsonl"))
    assert refused.returncode == 1
    assert "broken_requests.jsonl:2: error: request.generationConfig.temprature" in refused.stdout
    # Dropped some other way (a plain copy), the pipeline itself rejects it with a report.
    in_local_cloud(
        local_cloud,
        "bucket.blob('e2e/broken.jsonl').upload_from_filename(sys.argv[1])",
        str(SAMPLES / "broken_requests.jsonl"),
    )
    record: dict[str, object] = {}
    for _ in range(120):
        record = sources(local_cloud).get("e2e/broken.jsonl", {})
        if record.get("state") == "rejected":
            break
        time.sleep(0.5)
    assert record.get("state") == "rejected" and record["error_count"] == 7
    generation = str(record["source_uri"]).rpartition("#")[2]
    report = f"batchline-reports/e2e/broken.jsonl.{generation}.report.txt"
    assert record["report_uri"] == f"gs://batchline-local-input/{report}"
    kept = in_local_cloud(
        local_cloud,
        f"print(bucket.blob('e2e/broken.jsonl').exists(), bucket.blob('{report}').download_as_text())",
    )
    assert kept.startswith("True "), "the original upload is kept"
    assert "broken.jsonl:6: error: key: duplicate key" in kept
