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
