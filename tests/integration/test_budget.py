"""The budget guard against the emulators: a file over a cost limit is held (no Vertex AI
job, a file.held notification with the estimate and the limit, a report that says why) until
`batchline release` submits it, once; the daily budget holds the file that would cross it."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from pipeline_support import MODEL, Cloud

from batchline.domain.estimate import estimate_file
from batchline.domain.reports import report_names
from batchline.domain.staging import staged_requests_name
from batchline.domain.states import SourceRef, SourceState
from batchline.domain.validation import validate_stream
from batchline.runtime import clients, wiring
from batchline_cli.main import main

pytestmark = pytest.mark.integration


def bounded_file(requests: int, max_output_tokens: int) -> bytes:
    rows = [
        json.dumps(
            {
                "key": f"item-{n}",
                "request": {
                    "contents": [{"role": "user", "parts": [{"text": f"Describe item {n}."}]}],
                    "generationConfig": {"maxOutputTokens": max_output_tokens},
                },
            }
        )
        for n in range(1, requests + 1)
    ]
    return ("\n".join(rows) + "\n").encode()


def high_estimate(cloud: Cloud, data: bytes) -> float:
    report = validate_stream(io.BytesIO(data), "f")
    cost = estimate_file(report.inputs, MODEL, cloud.settings.prices).high_usd
    assert cost is not None
    return cost


def source_of(resource: dict[str, Any]) -> SourceRef:
    return SourceRef(resource["bucket"], resource["name"], int(resource["generation"]))


def test_a_file_over_the_file_limit_is_held_then_released_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bounded_file(3, 10_000)  # high end about 3 x 10,000 x $1.50 / 1e6 = $0.045
    cost = high_estimate(cloud, data)
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_FILE_COST_USD="0.01")
    resource = cloud.upload("costly.jsonl", data)
    for _ in range(2):  # a repeated event holds it once, notifies once
        assert cloud.deliver_upload(resource) == 200
    assert cloud.vertex_jobs() == [], "a held file makes no job"
    source = source_of(resource)
    record = cloud.ledger().get_source(source)
    assert record is not None and record.state == SourceState.HELD

    notifications = cloud.notifications(expected=1)
    assert len(notifications) == 1
    body, attributes = notifications[0]
    assert (attributes["event"], attributes["status"]) == ("file.held", "held")
    assert body["estimate"]["cost_usd"]["high"] == pytest.approx(cost)
    assert body["estimate"]["input_tokens"] > 0
    assert body["hold"]["limit"] == "BATCHLINE_MAX_FILE_COST_USD"
    assert body["hold"]["limit_usd"] == 0.01
    assert (
        body["release_command"]
        == f"batchline release gs://{source.bucket}/{source.name}#{source.generation}"
    )

    names = report_names(cloud.settings.reports_prefix, source)
    bucket = clients.storage_client().bucket(source.bucket)
    report_text = bucket.blob(names.text).download_as_text()
    assert "held, not submitted" in report_text
    assert "over BATCHLINE_MAX_FILE_COST_USD=$0.01" in report_text
    assert "4 characters per token" in report_text
    report_json = json.loads(bucket.blob(names.json).download_as_text())
    assert report_json["held"]["limit_usd"] == 0.01
    assert report_json["estimate"]["cost_usd"]["high"] == pytest.approx(cost)

    uri = f"gs://{source.bucket}/{source.name}"
    assert main(["release", uri]) == 0
    assert "released" in capsys.readouterr().out
    assert len(cloud.vertex_jobs()) == 1, "the release made the file's one job"
    assert main(["release", uri]) == 0
    assert "not held: nothing to release" in capsys.readouterr().out
    assert len(cloud.vertex_jobs()) == 1, "a second release does nothing"

    body, attributes = cloud.run_to_notification(resource)
    assert attributes["event"] == "job.succeeded"
    rows = cloud.predictions(cloud.source_uri(resource))
    assert [(row["input_line"], row["status"]) for row in rows] == [
        (n, "SUCCEEDED") for n in range(1, 4)
    ]
    assert len(cloud.vertex_jobs()) == 1


def test_concurrent_releases_submit_once(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_FILE_COST_USD="0.001")
    resource = cloud.upload("twice.jsonl", bounded_file(2, 10_000))
    assert cloud.deliver_upload(resource) == 200
    record = cloud.ledger().get_source(source_of(resource))
    assert record is not None and record.state == SourceState.HELD
    releaser = wiring.releaser()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: releaser.release(record), range(4)))
    assert sum(result.released for result in results) == 1
    assert len(cloud.vertex_jobs()) == 1


def test_the_daily_budget_holds_the_third_of_three_files(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = [bounded_file(2, 10_000 + n) for n in range(3)]  # distinct files, alike in cost
    costs = [high_estimate(cloud, item) for item in data]
    budget = costs[0] + costs[1] + costs[2] / 2  # two fit, the third crosses it
    cloud.reconfigure(monkeypatch, BATCHLINE_DAILY_BUDGET_USD=repr(budget))
    resources = [cloud.upload(f"day-{n}.jsonl", item) for n, item in enumerate(data)]
    for resource in resources:
        assert cloud.deliver_upload(resource) == 200
    states = [cloud.ledger().get_source(source_of(r)).state for r in resources]  # type: ignore[union-attr]
    assert SourceState.HELD not in states[:2]
    assert states[2] == SourceState.HELD
    assert len(cloud.vertex_jobs()) == 2
    held = [
        body
        for body, attributes in cloud.notifications(expected=1)
        if attributes["event"] == "file.held"
    ]
    assert len(held) == 1 and held[0]["hold"]["limit"] == "BATCHLINE_DAILY_BUDGET_USD"
    assert held[0]["hold"]["spent_usd"] == pytest.approx(costs[0] + costs[1])
    day = datetime.now(UTC).date().isoformat()
    assert cloud.ledger().spent_on(day) == pytest.approx(costs[0] + costs[1])

    # A release bypasses the budget, and its estimate counts in today's spend.
    assert wiring.releaser().release(cloud.ledger().get_source(source_of(resources[2]))).released  # type: ignore[arg-type]
    assert cloud.ledger().spent_on(day) == pytest.approx(sum(costs))
    assert len(cloud.vertex_jobs()) == 3


def test_files_submitted_at_once_never_pass_the_daily_budget_together(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = [bounded_file(2, 10_000 + n) for n in range(4)]
    costs = [high_estimate(cloud, item) for item in data]
    budget = max(costs) * 2.5  # room for two of them, never three
    cloud.reconfigure(monkeypatch, BATCHLINE_DAILY_BUDGET_USD=repr(budget))
    resources = [cloud.upload(f"rush-{n}.jsonl", item) for n, item in enumerate(data)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(cloud.deliver_upload, resources))
    # A delivery that met another's transaction may ask to be retried: deliver those again.
    for resource, answer in zip(resources, answers, strict=True):
        while answer != 200:
            answer = cloud.deliver_upload(resource)
    states = [cloud.ledger().get_source(source_of(r)).state for r in resources]  # type: ignore[union-attr]
    assert states.count(SourceState.HELD) == 2
    assert len(cloud.vertex_jobs()) == 2
    day = datetime.now(UTC).date().isoformat()
    assert cloud.ledger().spent_on(day) <= budget


def test_a_redelivered_event_writes_the_report_a_crash_left_unwritten(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_FILE_COST_USD="0.001")
    resource = cloud.upload("crashed.jsonl", bounded_file(2, 10_000))
    assert cloud.deliver_upload(resource) == 200
    source = source_of(resource)
    names = report_names(cloud.settings.reports_prefix, source)
    bucket = clients.storage_client().bucket(source.bucket)
    # As if the attempt had died after the ledger held the file, before it wrote why.
    bucket.blob(names.text).delete()
    bucket.blob(names.json).delete()

    assert cloud.deliver_upload(resource) == 200
    report_text = bucket.blob(names.text).download_as_text()
    assert "held, not submitted" in report_text and "BATCHLINE_MAX_FILE_COST_USD" in report_text
    assert f"batchline release gs://{source.bucket}/{source.name}#{source.generation}" in (
        report_text
    )
    report_json = json.loads(bucket.blob(names.json).download_as_text())
    assert report_json["held"]["limit_usd"] == 0.001
    assert report_json["estimate"]["requests"] == 2
    assert len(cloud.notifications(expected=1)) == 1, "still one file.held"
    assert cloud.vertex_jobs() == []


def test_a_release_after_the_staged_copy_expired_says_so_and_keeps_the_file_held(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_FILE_COST_USD="0.001")
    resource = cloud.upload("expired.jsonl", bounded_file(2, 10_000))
    assert cloud.deliver_upload(resource) == 200
    work = clients.storage_client().bucket(cloud.settings.work_bucket)
    staged = work.blob(staged_requests_name(source_of(resource).document_id, 1))
    assert staged.exists(), "the held file's part is staged"
    staged.delete()  # what the staging/ lifecycle rule does after its days

    assert main(["release", f"gs://{resource['bucket']}/{resource['name']}"]) == 1
    out = capsys.readouterr()
    assert "no longer exists" in out.out + out.err and "upload the file again" in out.out + out.err
    record = cloud.ledger().get_source(source_of(resource))
    assert record is not None and record.state == SourceState.HELD
    assert cloud.vertex_jobs() == []


def test_retry_of_a_held_file_points_at_release(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_FILE_COST_USD="0.001")
    resource = cloud.upload("retry-held.jsonl", bounded_file(2, 10_000))
    assert cloud.deliver_upload(resource) == 200
    uri = f"gs://{resource['bucket']}/{resource['name']}"
    assert main(["retry", uri]) == 1
    assert f"batchline release {uri}" in capsys.readouterr().out
    assert cloud.vertex_jobs() == []
