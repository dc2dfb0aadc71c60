"""`python -m localcloud.vertex`: becomes healthy, reads its faults from the environment,
answers health and admin calls, logs one JSON line per request, and stops cleanly on a signal.
(How fast it becomes healthy is measured in bench/emulators.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from localcloud.ports import free_port, wait_until_healthy

pytestmark = pytest.mark.integration


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_module_runs_answers_and_stops_on_a_signal(stop_signal: signal.Signals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VERTEX_EMULATOR_ROW_FAILURE_RATE": "0.25", "VERTEX_EMULATOR_GET_503": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.vertex", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        wait_until_healthy(f"{url}/healthz", timeout=60)
        job_url = f"{url}/v1/projects/p/locations/us-central1/batchPredictionJobs/42"

        faults = call(f"{url}/admin/faults")[1]
        unavailable = call(job_url)
        missing = call(job_url)
        changed = call(f"{url}/admin/faults", "POST", {"get_429": 1})
        exhausted = call(job_url)
        refused = call(f"{url}/admin/faults", "POST", {"no_such_fault": 1})
        reset = call(f"{url}/admin/reset", "POST", {})
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)

    assert (faults["row_failure_rate"], faults["get_503"]) == (0.25, 1)
    assert unavailable[0] == 503 and unavailable[1]["error"]["status"] == "UNAVAILABLE"
    assert missing[0] == 404 and missing[1]["error"]["status"] == "NOT_FOUND"
    assert changed == (200, {**faults, "get_503": 0, "get_429": 1})
    assert exhausted[0] == 429 and exhausted[1]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert refused[0] == 400 and "no_such_fault" in refused[1]["error"]["message"]
    assert reset == (200, faults)  # back to what the environment said

    assert process.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]  # every line is JSON
    logged = [
        (record["httpRequest"]["requestMethod"], record["httpRequest"]["status"])
        for record in records
        if "httpRequest" in record
    ]
    assert logged[-7:] == [
        ("GET", 200),
        ("GET", 503),
        ("GET", 404),
        ("POST", 200),
        ("GET", 429),
        ("POST", 400),
        ("POST", 200),
    ]
    assert records[-1]["message"] == "stopped"
