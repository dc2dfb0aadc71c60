"""Structured answers: response_json and response_json_error of rows shaped from output lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchline.domain.rows import PredictionRow, PredictionShaper
from batchline.domain.staging import TAG_LABEL
from batchline.domain.structured import _validator, openapi_to_json_schema

pytestmark = pytest.mark.unit

SENTIMENT_SCHEMA: dict[str, Any] = {
    "type": "OBJECT",
    "properties": {
        "sentiment": {"type": "STRING", "enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "NUMBER", "nullable": True},
        "topics": {"type": "ARRAY", "items": {"type": "STRING"}},
    },
    "required": ["sentiment", "topics"],
    "propertyOrdering": ["sentiment", "confidence", "topics"],
}


def row_for(
    text: str | None,
    *,
    config: dict[str, Any] | None = None,
    finish_reason: str = "STOP",
    status: str = "",
    line: int = 1,
) -> PredictionRow:
    request: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "How do they feel?"}]}],
        "labels": {TAG_LABEL: str(line)},
    }
    if config is not None:
        request["generationConfig"] = config
    parts = [{"text": text}] if text is not None else []
    response = {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish_reason}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
    }
    record = {
        "status": status,
        "processed_time": "2026-11-01T18:13:16.826+00:00",
        "request": request,
        "response": None if status else response,
    }
    shaper = PredictionShaper(job_id="1", source_uri="gs://in/a.jsonl#1", model="gemini-3.5-flash")
    row = shaper.shape_line(json.dumps(record))
    assert row is not None
    return row


SCHEMA_CONFIG = {"responseMimeType": "application/json", "responseSchema": SENTIMENT_SCHEMA}


def test_an_answer_matching_the_response_schema_is_queryable_json() -> None:
    answer = '{"sentiment": "positive", "confidence": null, "topics": ["food"]}'
    row = row_for(answer, config=SCHEMA_CONFIG)
    assert row["response_json"] == {"sentiment": "positive", "confidence": None, "topics": ["food"]}
    assert row["response_json_error"] is None
    assert row["response_text"] == answer


def test_an_answer_cut_short_by_max_tokens_says_so_and_gives_no_value() -> None:
    row = row_for('{"sentiment": "posi', config=SCHEMA_CONFIG, finish_reason="MAX_TOKENS")
    assert row["status"] == "SUCCEEDED"
    assert row["response_json"] is None
    assert (
        row["response_json_error"]
        == "cut short by MAX_TOKENS: the answer stopped after 19 characters"
    )


def test_invalid_json_names_the_parser_message_and_position() -> None:
    row = row_for('{"sentiment": "positive", "topics": [],}', config=SCHEMA_CONFIG)
    assert row["response_json"] is None
    error = row["response_json_error"]
    assert error is not None and error.startswith("invalid JSON: ")
    assert "line 1 column 40 (char 39)" in error


def test_a_missing_required_property_is_named_with_its_path() -> None:
    row = row_for('{"sentiment": "positive"}', config=SCHEMA_CONFIG)
    assert row["response_json"] == {"sentiment": "positive"}  # kept for inspection
    assert row["response_json_error"] == (
        "does not match the responseSchema at $: 'topics' is a required property"
    )


def test_a_value_outside_the_enum_is_refused() -> None:
    row = row_for('{"sentiment": "furious", "topics": []}', config=SCHEMA_CONFIG)
    error = row["response_json_error"]
    assert error is not None
    assert error.startswith(
        "does not match the responseSchema at $.sentiment: 'furious' is not one of"
    )


def test_a_wrong_type_deep_inside_is_refused_and_nullable_allows_null() -> None:
    row = row_for('{"sentiment": "neutral", "topics": ["a", 3]}', config=SCHEMA_CONFIG)
    assert row["response_json_error"] == (
        "does not match the responseSchema at $.topics[1]: 3 is not of type 'string'"
    )
    row = row_for(
        '{"sentiment": "neutral", "confidence": "high", "topics": []}', config=SCHEMA_CONFIG
    )
    assert row["response_json_error"] == (
        "does not match the responseSchema at $.confidence: 'high' is not of type 'number', 'null'"
    )


def test_response_json_schema_is_checked_as_json_schema() -> None:
    config = {
        "responseMimeType": "application/json",
        "responseJsonSchema": {
            "type": "object",
            "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 5}},
            "required": ["score"],
        },
    }
    assert row_for('{"score": 4}', config=config)["response_json"] == {"score": 4}
    error = row_for('{"score": 9}', config=config)["response_json_error"]
    assert (
        error == "does not match the responseSchema at $.score: 9 is greater than the maximum of 5"
    )


def test_mime_type_alone_asks_for_json_without_a_schema_check() -> None:
    config = {"responseMimeType": "application/json"}
    assert row_for("[1, 2, 3]", config=config)["response_json"] == [1, 2, 3]
    row = row_for("Sure! Here it is: {}", config=config)
    assert row["response_json"] is None
    assert (row["response_json_error"] or "").startswith("invalid JSON: Expecting value")


def test_a_fenced_answer_to_a_json_request_is_invalid_not_repaired() -> None:
    row = row_for('```json\n{"sentiment": "positive", "topics": []}\n```', config=SCHEMA_CONFIG)
    assert row["response_json"] is None
    assert (row["response_json_error"] or "").startswith("invalid JSON: ")


def test_plain_text_holding_a_json_document_is_detected_and_one_fence_stripped() -> None:
    assert row_for('{"city": "Paris"}')["response_json"] == {"city": "Paris"}
    fenced = row_for('```json\n{"city": "Paris", "rank": 1}\n```')
    assert fenced["response_json"] == {"city": "Paris", "rank": 1}
    assert fenced["response_json_error"] is None


def test_text_that_is_not_json_is_no_error_when_json_was_not_asked_for() -> None:
    for text in ("Paris is the capital.", "{not json", '"just a string"', "42"):
        row = row_for(text)
        assert (row["response_json"], row["response_json_error"]) == (None, None), text


def test_failed_rows_have_neither() -> None:
    row = row_for(None, config=SCHEMA_CONFIG, status="RESOURCE_EXHAUSTED")
    assert row["status"] == "FAILED"
    assert (row["response_json"], row["response_json_error"]) == (None, None)


def test_snake_case_requests_as_sent_are_understood() -> None:
    config = {
        "response_mime_type": "application/json",
        "response_schema": {
            "type": "OBJECT",
            "properties": {"n": {"type": "INTEGER"}},
            "required": ["n"],
        },
    }
    assert row_for('{"n": 1}', config=config)["response_json_error"] is None
    assert row_for("{}", config=config)["response_json_error"] == (
        "does not match the responseSchema at $: 'n' is a required property"
    )


def test_echoed_nulls_and_int64_strings_convert_to_json_schema() -> None:
    echoed = {
        "type": "ARRAY",
        "items": {"type": "STRING", "format": "date-time", "enum": None, "nullable": None},
        "maxItems": "2",
        "propertyOrdering": None,
    }
    assert openapi_to_json_schema(echoed) == {
        "type": "array",
        "items": {"type": "string", "format": "date-time"},
        "maxItems": 2,
    }
    nullable_enum = openapi_to_json_schema({"type": "STRING", "enum": ["a"], "nullable": True})
    assert nullable_enum == {"type": ["string", "null"], "enum": ["a", None]}


def test_validators_are_compiled_once_per_schema() -> None:
    _validator.cache_clear()
    for line in range(1, 6):
        row_for('{"sentiment": "neutral", "topics": []}', config=SCHEMA_CONFIG, line=line)
    info = _validator.cache_info()
    assert (info.misses, info.hits) == (1, 4)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
        {"$ref": "https://example.com/remote-schema.json"},  # never fetched
    ],
    ids=["ref-to-nothing", "remote-ref"],
)
def test_a_schema_whose_reference_cannot_be_resolved_is_not_checked_and_the_row_kept(
    schema: dict[str, Any],
) -> None:
    from batchline.domain.structured import NOT_CHECKED, structured_answer

    request = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema},
    }
    value, error = structured_answer(request, '{"a": 1}', "STOP")
    assert value == {"a": 1}
    assert error is not None and error.startswith(NOT_CHECKED)
    assert "cannot be resolved" in error
