"""Structured answers and tokens as billed, end to end on the local cloud: requests with a
responseSchema answered by the local Vertex model become rows whose response_json BigQuery
queries with JSON_VALUE; the model's JSON faults give the error a user reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pipeline_support import Cloud

from batchline.domain.pricing import DEFAULT_PRICES

pytestmark = pytest.mark.integration

REVIEW_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "sentiment": {"type": "STRING", "enum": ["positive", "negative", "neutral"]},
        "summary": {"type": "STRING"},
        "stars": {"type": "INTEGER", "minimum": 1, "maximum": 5},
    },
    "required": ["sentiment", "summary", "stars"],
    "propertyOrdering": ["sentiment", "summary", "stars"],
}


# A shared instruction long enough for implicit caching (over 1,024 tokens) from request 2 on.
GUIDE = "Read the review and classify it by the guide. " * 120


def review(number: int) -> str:
    request = {
        "systemInstruction": {"parts": [{"text": GUIDE}]},
        "contents": [{"role": "user", "parts": [{"text": f"Classify review {number}."}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": REVIEW_SCHEMA,
        },
    }
    return json.dumps({"request": request, "key": f"review-{number}"})


def upload_reviews(cloud: Cloud, name: str, count: int) -> dict[str, Any]:
    data = ("\n".join(review(number) for number in range(1, count + 1)) + "\n").encode()
    return cloud.upload(name, data)


def test_schema_answers_are_queryable_with_json_value(cloud: Cloud) -> None:
    resource = upload_reviews(cloud, "reviews.jsonl", 4)
    body, _ = cloud.run_to_notification(resource)
    assert body["event"] == "job.succeeded"
    source = cloud.source_uri(resource)
    rows = cloud.query(
        "SELECT input_line, JSON_VALUE(response_json, '$.sentiment') AS sentiment, "
        "CAST(JSON_VALUE(response_json, '$.stars') AS INT64) AS stars, response_json_error "
        f"FROM {cloud.settings.dataset}.predictions WHERE source_uri = '{source}' "
        "ORDER BY input_line"
    )
    assert [row["input_line"] for row in rows] == [1, 2, 3, 4]
    assert all(row["sentiment"] in {"positive", "negative", "neutral"} for row in rows)
    assert all(1 <= row["stars"] <= 5 for row in rows)
    assert all(row["response_json_error"] is None for row in rows)
    # The tokens as billed reach the notification and the jobs table.
    assert set(body["tokens"]) >= {"cached", "tool_use_prompt", "long_context_prompt"}
    split = body["estimated_cost_split_usd"]
    assert split["input"] + split["cached_input"] + split["output"] == pytest.approx(
        body["estimated_cost_usd"]
    )
    cached = body["tokens"]["cached"]
    assert cached > 0, "requests 2 to 4 share the long instruction"
    price = DEFAULT_PRICES[cloud.settings.model]
    assert split["cached_input"] == pytest.approx(cached * price.cached_input_per_million / 1e6)
    (job_row,) = cloud.job_rows()
    assert job_row["cached_tokens"] == cached
    assert job_row["estimated_cached_input_cost_usd"] == pytest.approx(split["cached_input"])
    assert job_row["estimated_output_cost_usd"] == pytest.approx(split["output"])


def test_the_models_json_faults_become_errors_naming_their_cause(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.reconfigure(monkeypatch, BATCHLINE_MAX_ATTEMPTS="1")
    cloud.vertex_server.set_faults(json_fault_rate=1.0, json_fault="mixed")
    resource = upload_reviews(cloud, "faulty.jsonl", 12)
    cloud.run_to_notification(resource)
    source = cloud.source_uri(resource)
    rows = cloud.query(
        "SELECT input_line, status, finish_reason, response_json, response_json_error "
        f"FROM {cloud.settings.dataset}.predictions WHERE source_uri = '{source}' "
        "AND response_json_error IS NOT NULL ORDER BY input_line"
    )
    assert len(rows) == 12, "every spoiled answer says why"
    assert all(row["status"] == "SUCCEEDED" for row in rows)
    causes = {row["response_json_error"].partition(":")[0] for row in rows}
    assert causes == {
        "cut short by MAX_TOKENS",
        "invalid JSON",
        "does not match the responseSchema at $",
    }
    for row in rows:
        error = row["response_json_error"]
        if error.startswith("cut short"):
            assert row["finish_reason"] == "MAX_TOKENS" and row["response_json"] is None
        elif error.startswith("invalid JSON"):
            assert "line 1 column" in error and row["response_json"] is None
        else:
            assert "is a required property" in error
            assert row["response_json"] is not None  # kept for inspection
