"""Every answer joined to its input line and key, whatever the echo kept of the line tag.

Vertex AI's output is not in input order; Batchline tags each staged request with its line in
a label, and Google warns that a label key with more than 1,000 unique values may be dropped
without notice ("Add labels to API calls"). Without the tag, rows are matched on their request.
"""

from __future__ import annotations

import json

import pytest
from pipeline_support import Cloud

pytestmark = pytest.mark.integration


def keyed(prompts: list[str]) -> bytes:
    rows = [
        json.dumps(
            {
                "key": f"k-{number}",
                "request": {"contents": [{"role": "user", "parts": [{"text": prompt}]}]},
            }
        )
        for number, prompt in enumerate(prompts, start=1)
    ]
    return ("\n".join(rows) + "\n").encode()


def loaded(cloud: Cloud, resource: dict[str, object]) -> list[dict[str, object]]:
    for data, attributes in cloud.run_to_finished(resource):
        assert cloud.deliver_finished(data, attributes) == 200
    return cloud.predictions(cloud.source_uri(resource))


def test_with_row_labels_off_every_row_is_joined_by_its_request(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_ROW_LABELS="false")
    # Line 2 and line 4 ask the same thing: identical requests are handed out in input order.
    prompts = ["alpha", "same question", "gamma", "same question", "epsilon"]
    resource = cloud.upload("unlabelled.jsonl", keyed(prompts))
    rows = loaded(cloud, resource)
    assert [(row["input_line"], row["key"]) for row in rows] == [(n, f"k-{n}") for n in range(1, 6)]
    for row in rows:
        assert prompts[int(row["input_line"]) - 1] in str(row["response_text"])
    work = cloud.settings.work_bucket
    from batchline.runtime.clients import storage_client

    staged = [
        blob.download_as_text()
        for blob in storage_client().list_blobs(work, prefix="staging/")
        if not blob.name.endswith(".index.jsonl")
    ]
    assert staged and all("batchline_line" not in text for text in staged), "no row label"
    ((body, _),) = cloud.notifications()
    assert body["counts"] == {"total": 5, "succeeded": 5, "failed": 0, "blocked": 0, "missing": 0}
    (job_row,) = cloud.job_rows()
    assert job_row["unmatched_count"] == 0


@pytest.mark.parametrize("echo", ["normalized", "as_sent"])
def test_labels_dropped_past_a_thousand_values_still_join_every_row(
    cloud: Cloud, echo: str
) -> None:
    """5,000 lines: the echo loses the line tag of every line once the key passed 1,000
    distinct values, as the labels page warns; every row still finds its line and key."""
    cloud.vertex_server.set_faults(drop_request_labels="past_unique_limit", request_echo=echo)
    prompts = [f"review {n % 1200}" for n in range(1, 5001)]  # repeats: matched in order
    resource = cloud.upload(f"big-{echo}.jsonl", keyed(prompts))
    rows = loaded(cloud, resource)
    assert len(rows) == 5000
    assert [(row["input_line"], row["key"]) for row in rows] == [
        (n, f"k-{n}") for n in range(1, 5001)
    ]
    assert all(prompts[int(row["input_line"]) - 1] in str(row["response_text"]) for row in rows)
    ((body, _),) = cloud.notifications()
    assert body["counts"]["succeeded"] == 5000 and body["counts"]["missing"] == 0
    (job_row,) = cloud.job_rows()
    assert (job_row["unmatched_count"], job_row["duplicate_count"]) == (0, 0)


@pytest.mark.parametrize("state", ["CANCELLED", "FAILED", "EXPIRED", "PARTIALLY_SUCCEEDED"])
def test_a_job_that_ended_part_way_loads_its_exported_rows_once(
    cloud: Cloud, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")  # its lines are not resumed
    if state == "EXPIRED":
        cloud.vertex_server.set_faults(pending_seconds=0.3, max_pending_seconds=0.1)
    else:
        cloud.vertex_server.set_faults(end_early_state=state, end_early_after_rows=3)
    resource = cloud.upload(f"ended-{state}.jsonl", keyed([f"q{n}" for n in range(1, 9)]))
    finished = cloud.run_to_finished(resource)
    for data, attributes in finished * 2:  # each job-finished message twice
        assert cloud.deliver_finished(data, attributes) == 200
    rows = cloud.predictions(cloud.source_uri(resource))
    exported = 0 if state == "EXPIRED" else 3
    assert len(rows) == exported
    assert len({row["input_line"] for row in rows}) == exported, "no row twice"
    assert all(row["key"] == f"k-{row['input_line']}" for row in rows)
    ((body, attributes),) = cloud.notifications()
    assert attributes["event"] == "job.failed"
    assert body["counts"]["missing"] == 8 - exported and body["counts"]["total"] == 8
    assert body["jobs"][0]["state"] == f"JOB_STATE_{state}"
