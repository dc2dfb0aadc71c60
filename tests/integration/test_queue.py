"""A queue instead of retry storms: at most BATCHLINE_MAX_RUNNING_JOBS jobs in flight, refused
creations backed off in the ledger (no event retried), and a watchdog for jobs that wait."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pipeline_support import Cloud

from batchline.domain.log_events import JOB_STALLED
from batchline.domain.states import SourceRef, SourceState
from batchline_cli.main import main as cli

pytestmark = pytest.mark.integration


def one_line(prompt: str) -> bytes:
    request = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    return (json.dumps({"request": request}) + "\n").encode()


def ref(resource: dict[str, Any]) -> SourceRef:
    return SourceRef(resource["bucket"], resource["name"], int(resource["generation"]))


def most_at_once(jobs: Sequence[Any]) -> int:
    """The largest number of jobs whose [create_time, end_time] overlap."""
    edges = sorted(
        [(job.create_time.timestamp(), 1) for job in jobs]
        + [(job.end_time.timestamp(), -1) for job in jobs]
    )  # at a tie an end (-1) sorts first: a job that ended as another began is not overlap
    alive = most = 0
    for _, step in edges:
        alive += step
        most = max(most, alive)
    return most


def test_fifty_files_at_once_run_five_at_a_time_through_429s(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(
        monkeypatch, BATCHLINE_MAX_RUNNING_JOBS="5", BATCHLINE_START_BACKOFF_SECONDS="0.2"
    )
    cloud.vertex_server.set_faults(create_429=20, running_seconds=0.2)
    resources = [cloud.upload(f"drop/{n:02d}.jsonl", one_line(f"file {n}")) for n in range(50)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(cloud.deliver_upload, resources))
    assert statuses == [200] * 50, "every upload event acknowledged: the queue holds the rest"
    notified: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while len(notified) < 50 and time.monotonic() < deadline:
        assert cloud.deliver_tick() == 200
        for data, attributes in cloud.finished_messages():
            assert cloud.deliver_finished(data, attributes) == 200
        for body, attributes in cloud.notifications():
            assert body["object"] not in notified, "one notification per file"
            notified[body["object"]] = {**body, **attributes}
        time.sleep(0.05)
    assert sorted(notified) == sorted(r["name"] for r in resources)
    assert all(n["event"] == "job.succeeded" for n in notified.values())
    jobs = cloud.vertex_jobs()
    # From each job's own times, not from sampling (a loaded machine samples too seldom):
    # the most jobs alive at once, between creation and end, as Vertex AI recorded them.
    most_in_flight = most_at_once(jobs)
    assert 2 <= most_in_flight <= 5, f"never more than the cap in flight ({most_in_flight})"
    assert len(jobs) == 50, "no job created twice"
    assert len({dict(j.labels)["batchline_source"] for j in jobs}) == 50
    refused = [job for r in resources for job in cloud.ledger().list_jobs_for_source(ref(r))]
    assert sum(job.start_failures for job in refused) == 20, "each 429 backed off in the ledger"


def test_a_job_that_waits_too_long_logs_one_stalled_event(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_PENDING_ALERT_HOURS="0.0001")  # 0.36 s
    cloud.vertex_server.set_faults(pending_seconds=3600)
    resource = cloud.upload("stuck.jsonl", one_line("wait"))
    assert cloud.deliver_upload(resource) == 200
    time.sleep(0.5)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            assert cloud.deliver_tick() == 200
    stalled = [r for r in caplog.records if getattr(r, "event", None) == JOB_STALLED]
    assert len(stalled) == 1, "one event per job, not per tick"
    assert stalled[0].waited_seconds >= 0  # type: ignore[attr-defined]
    code = cli(["jobs", "--format", "json"])
    assert code == 0


def test_batchline_retry_asks_a_finished_files_failed_lines_again_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")
    cloud.vertex_server.set_faults(row_failure_rate=0.5, faulty_jobs_label="batchline_attempt=1")
    data = b"".join(one_line(f"line {n}") for n in range(10))
    resource = cloud.upload("manual.jsonl", data)
    body, _ = cloud.run_to_notification(resource)
    assert body["attempts"] == 1 and body["counts"]["failed"] > 0
    uri = f"gs://{resource['bucket']}/{resource['name']}"
    assert cli(["retry", uri]) == 0
    assert "queued attempt 2" in capsys.readouterr().out
    assert cli(["retry", uri]) == 0
    assert "not finished, nothing to retry now" in capsys.readouterr().out
    assert cloud.ledger().get_source(ref(resource)).state == SourceState.RUNNING
    body, attributes = cloud.run_to_notification(resource)
    assert attributes["event"] == "job.succeeded" and body["attempts"] == 2
    assert body["counts"] == {"total": 10, "succeeded": 10, "failed": 0, "blocked": 0, "missing": 0}
    assert cli(["jobs", "--format", "json"]) == 0
    # The function's JSON log lines go to stdout too: take the command's own lines.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    (view,) = [
        v for v in lines if v.get("source_uri") == cloud.source_uri(resource) and "jobs" in v
    ]
    assert view["attempts"] == 2 and [j["attempt"] for j in view["jobs"]] == [1, 2]


def test_a_start_that_meets_a_transaction_holding_its_attempt_waits_and_starts(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Firestore emulator answers a write to a document another transaction has read
    with ABORTED "Transaction lock timeout." after about 2 s (Firestore aborts contended
    writes likewise): the start looks again instead of failing the tick."""
    import threading

    from batchline.runtime.clients import firestore_client

    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_RUNNING_JOBS="1")
    first, second = (cloud.upload(f"lock/{n}.jsonl", one_line(str(n))) for n in (1, 2))
    assert cloud.deliver_upload(first) == 200 and cloud.deliver_upload(second) == 200
    (waiting,) = cloud.ledger().list_waiting_jobs()
    assert waiting.source == ref(second)
    ledger = cloud.ledger()
    transaction = firestore_client().transaction()
    transaction._begin()
    ledger._job_ref(waiting.attempt_id).get(transaction=transaction)  # holds the document
    release = threading.Timer(3.0, transaction._rollback)
    release.start()
    try:
        claim = ledger.claim_start(waiting.attempt_id, max_running=2)
    finally:
        release.join()
    assert claim.outcome.name == "CLAIMED"
    assert ledger.get_job(waiting.attempt_id).state.value == "starting"  # type: ignore[union-attr]
