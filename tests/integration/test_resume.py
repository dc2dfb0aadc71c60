"""Every line answered: failed and unfinished lines resumed by themselves, exactly once.

Vertex AI documents the remedy ("Resume an incomplete batch inference job",
https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini): a
new job whose input is the previous job's output processes only the failed or incomplete
requests. Batchline does it for each part, up to BATCHLINE_MAX_ATTEMPTS, and notifies the file
once, when it is as done as it will get.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipeline_support import Cloud

from batchline.domain.states import JobState, SourceRef

pytestmark = pytest.mark.integration

FIRST_ATTEMPTS_ONLY = "batchline_attempt=1"  # the emulator's faults hit first attempts only


def keyed(count: int, prefix: str = "question") -> bytes:
    rows = [
        json.dumps(
            {
                "key": f"k-{n}",
                "request": {"contents": [{"role": "user", "parts": [{"text": f"{prefix} {n}"}]}]},
            }
        )
        for n in range(1, count + 1)
    ]
    return ("\n".join(rows) + "\n").encode()


def ref(resource: dict[str, Any]) -> SourceRef:
    return SourceRef(resource["bucket"], resource["name"], int(resource["generation"]))


def latest(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What predictions_latest holds: per line, a success if any, else the latest attempt."""
    best: dict[int, dict[str, Any]] = {}
    for row in rows:
        line = row["input_line"]
        rank = (row["status"] == "SUCCEEDED", row["attempt"])
        if line not in best or rank > (best[line]["status"] == "SUCCEEDED", best[line]["attempt"]):
            best[line] = row
    return best


def test_rows_refused_with_429_are_resumed_and_every_line_ends_answered(cloud: Cloud) -> None:
    cloud.vertex_server.set_faults(
        row_failure_rate=0.5, row_failure_code=429, faulty_jobs_label=FIRST_ATTEMPTS_ONLY
    )
    resource = cloud.upload("quota.jsonl", keyed(12))
    body, attributes = cloud.run_to_notification(resource)
    rows = cloud.predictions(cloud.source_uri(resource))
    first = [row for row in rows if row["attempt"] == 1]
    second = [row for row in rows if row["attempt"] == 2]
    failed_first = {row["input_line"] for row in first if row["status"] == "FAILED"}
    assert len(first) == 12 and failed_first, "attempt 1 answered every line, some with a 429"
    assert all("RESOURCE_EXHAUSTED" in row["error"] for row in first if row["status"] == "FAILED")
    assert {row["input_line"] for row in second} == failed_first, "only the failed lines again"
    assert all(row["status"] == "SUCCEEDED" for row in second)
    final = latest(rows)
    assert sorted(final) == list(range(1, 13))
    assert all(row["status"] == "SUCCEEDED" for row in final.values())
    assert all(row["key"] == f"k-{line}" for line, row in final.items())
    view = cloud.query(
        f"SELECT input_line, attempt, status, key FROM {cloud.settings.dataset}.predictions_latest "
        f"WHERE source_uri = '{cloud.source_uri(resource)}' ORDER BY input_line"
    )
    assert [(r["input_line"], r["attempt"], r["status"], r["key"]) for r in view] == [
        (line, row["attempt"], "SUCCEEDED", f"k-{line}") for line, row in sorted(final.items())
    ], "the view holds one row per line: the latest attempt's, or the one that succeeded"
    assert attributes["event"] == "job.succeeded"
    assert body["attempts"] == 2
    assert body["counts"] == {"total": 12, "succeeded": 12, "failed": 0, "blocked": 0, "missing": 0}
    assert body["tokens"]["total"] == sum(row["total_tokens"] or 0 for row in rows)
    assert len(cloud.job_rows()) == 2, "a jobs row per attempt's job"
    assert len(cloud.vertex_jobs()) == 2


def test_a_job_that_expired_part_way_has_its_unanswered_lines_resumed(cloud: Cloud) -> None:
    cloud.vertex_server.set_faults(
        end_early_state="EXPIRED", end_early_after_rows=3, faulty_jobs_label=FIRST_ATTEMPTS_ONLY
    )
    resource = cloud.upload("expired.jsonl", keyed(8))
    body, attributes = cloud.run_to_notification(resource)
    rows = cloud.predictions(cloud.source_uri(resource))
    assert sorted(row["input_line"] for row in rows) == list(range(1, 9)), "each line once"
    assert {row["attempt"] for row in rows} == {1, 2}
    assert len([row for row in rows if row["attempt"] == 2]) == 5
    assert attributes["event"] == "job.succeeded"
    assert [job["state"] for job in body["jobs"]] == ["JOB_STATE_EXPIRED", "JOB_STATE_SUCCEEDED"]
    assert body["counts"]["succeeded"] == 8 and body["counts"]["missing"] == 0


def test_lines_refused_for_good_are_not_asked_again(cloud: Cloud) -> None:
    bad = {
        "contents": [
            {
                "role": "user",
                "parts": [{"fileData": {"fileUri": "gs://nowhere/x.png", "mimeType": "image/png"}}],
            }
        ]
    }
    good = {"contents": [{"role": "user", "parts": [{"text": "fine"}]}]}
    data = "\n".join(json.dumps({"request": r}) for r in (good, bad, good)) + "\n"
    resource = cloud.upload("refused.jsonl", data.encode())
    body, attributes = cloud.run_to_notification(resource)
    assert body["attempts"] == 1, "a 404 on a file is not resumed"
    assert body["counts"] == {"total": 3, "succeeded": 2, "failed": 1, "blocked": 0, "missing": 0}
    assert attributes["event"] == "job.succeeded"
    assert len(cloud.vertex_jobs()) == 1


def test_the_attempt_cap_ends_the_resumes(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="2")
    cloud.vertex_server.set_faults(row_failure_rate=1.0)  # every attempt fails every line
    resource = cloud.upload("hopeless.jsonl", keyed(4))
    body, _ = cloud.run_to_notification(resource)
    assert body["attempts"] == 2
    assert body["counts"] == {"total": 4, "succeeded": 0, "failed": 4, "blocked": 0, "missing": 0}
    rows = cloud.predictions(cloud.source_uri(resource))
    assert sorted((row["attempt"], row["input_line"]) for row in rows) == [
        (attempt, line) for attempt in (1, 2) for line in range(1, 5)
    ]
    view = cloud.query(
        f"SELECT input_line, attempt FROM {cloud.settings.dataset}.predictions_latest "
        f"WHERE source_uri = '{cloud.source_uri(resource)}' ORDER BY input_line"
    )
    assert [(r["input_line"], r["attempt"]) for r in view] == [(n, 2) for n in range(1, 5)]
    assert len(cloud.vertex_jobs()) == 2


def test_a_crash_between_loading_and_queuing_the_resume_resumes_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchline.adapters.ledger import JobLedger

    cloud.vertex_server.set_faults(row_failure_rate=0.5, faulty_jobs_label=FIRST_ATTEMPTS_ONLY)
    original = JobLedger.mark_job_loaded
    crashes = iter([True])

    def mark_then_maybe_die(self: JobLedger, *args: Any, **kwargs: Any) -> bool:
        if next(crashes, False):
            raise SystemExit("the instance died after loading the rows")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(JobLedger, "mark_job_loaded", mark_then_maybe_die)
    resource = cloud.upload("crashy.jsonl", keyed(10))
    ((data, attributes),) = cloud.run_to_finished(resource)
    with pytest.raises(SystemExit):
        cloud.deliver_finished(data, attributes)
    assert cloud.ledger().get_source(ref(resource)).parts == {1: 1}, "no resume queued yet"
    cloud.reconfigure(monkeypatch, BATCHLINE_LOAD_LEASE_SECONDS="0.001")
    for _ in range(3):  # the redelivered message, more than once
        assert cloud.deliver_finished(data, attributes) == 200
    attempts = cloud.ledger().list_jobs_for_source(ref(resource))
    assert [(job.attempt, job.state) for job in attempts][:1] == [(1, JobState.LOADED)]
    assert [job.attempt for job in attempts] == [1, 2], "one resume"
    body, _ = cloud.run_to_notification({**resource}, timeout=60)
    assert body["counts"]["succeeded"] == 10
    rows = cloud.predictions(cloud.source_uri(resource))
    assert len([row for row in rows if row["attempt"] == 1]) == 10, "attempt 1's rows once"
    assert len(cloud.vertex_jobs()) == 2
