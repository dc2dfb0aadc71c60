"""The built-in model's answers, read from job output through the official REST client."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from google.cloud import aiplatform_v1
from vertex_support import (
    FIXTURES,
    BatchRunner,
    JobState,
    echoed_texts,
    strict_response,
    text_lines,
)

pytestmark = pytest.mark.integration


def test_max_output_tokens_cuts_the_answer(batch: BatchRunner) -> None:
    no_thinking = {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 0}}
    lines = [
        *text_lines("Write a long essay about bread.", generationConfig=no_thinking),
        *text_lines("Write a long essay about cake.", generationConfig={"maxOutputTokens": 5}),
    ]

    output = batch.output_lines(batch.run(lines))

    by_prompt = {echoed_texts(line)[0]: strict_response(line) for line in output}
    for response in by_prompt.values():
        candidate = response.candidates[0]
        usage = response.usage_metadata
        assert candidate.finish_reason == aiplatform_v1.Candidate.FinishReason.MAX_TOKENS
        assert usage.candidates_token_count + usage.thoughts_token_count <= 5
    bread = by_prompt["Write a long essay about bread."]
    assert bread.usage_metadata.candidates_token_count == 5
    assert 16 < len(bread.candidates[0].content.parts[0].text) <= 20
    # With thinking on, thoughts use the budget first, as on Gemini 2.5 and later models.
    assert by_prompt["Write a long essay about cake."].usage_metadata.thoughts_token_count > 0


def test_json_output_conforms_to_the_response_schema(batch: BatchRunner) -> None:
    openapi_schema = {
        "type": "object",
        "properties": {
            "title": {"type": "STRING"},
            "servings": {"type": "integer", "minimum": 1, "maximum": 12},
            "vegan": {"type": "boolean"},
            "course": {"type": "string", "enum": ["starter", "main", "dessert"]},
            "steps": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"order": {"type": "integer"}, "text": {"type": "string"}},
                    "required": ["order", "text"],
                },
            },
            "rating": {"type": "number", "minimum": 0, "maximum": 5, "nullable": True},
        },
        "required": ["title", "servings", "course", "steps"],
        "propertyOrdering": ["title", "course", "servings", "vegan", "steps", "rating"],
    }
    equivalent_json_schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "servings": {"type": "integer", "minimum": 1, "maximum": 12},
            "vegan": {"type": "boolean"},
            "course": {"type": "string", "enum": ["starter", "main", "dessert"]},
            "steps": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"order": {"type": "integer"}, "text": {"type": "string"}},
                    "required": ["order", "text"],
                },
            },
            "rating": {"type": ["number", "null"], "minimum": 0, "maximum": 5},
        },
        "required": ["title", "servings", "course", "steps"],
    }
    json_schema_with_refs = {
        "$defs": {"tag": {"type": "string", "enum": ["sweet", "savory"]}},
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "maxItems": 2},
            "id": {"type": "string", "format": "uuid"},
            "when": {"type": "string", "format": "date-time"},
            "score": {"anyOf": [{"type": "integer", "minimum": 90}, {"type": "null"}]},
        },
        "required": ["tags", "id", "when", "score"],
        "additionalProperties": False,
    }
    prompts = [f"Recipe number {n}" for n in range(8)]
    lines = [
        *text_lines(
            *prompts,
            generationConfig={
                "responseMimeType": "application/json",
                "responseSchema": openapi_schema,
            },
        ),
        *text_lines(
            "Tags please",
            generation_config={
                "response_mime_type": "application/json",
                "response_json_schema": json_schema_with_refs,
            },
        ),
    ]

    output = batch.output_lines(batch.run(lines))

    assert all(line["status"] == "" for line in output)
    for line in output:
        text = strict_response(line).candidates[0].content.parts[0].text
        value = json.loads(text)
        if echoed_texts(line)[0] == "Tags please":
            jsonschema.validate(value, json_schema_with_refs)
        else:
            jsonschema.validate(value, equivalent_json_schema)
            assert list(value)[:3] == ["title", "course", "servings"]


def test_unreadable_file_data_fails_only_that_row(batch: BatchRunner) -> None:
    def with_file(uri: str) -> str:
        part = {"fileData": {"fileUri": uri, "mimeType": "application/pdf"}}
        return json.dumps(
            {"request": {"contents": [{"role": "user", "parts": [{"text": "Sum up"}, part]}]}}
        )

    batch.bucket.blob("docs/report.pdf").upload_from_string(b"%PDF" + b"0" * 120_000)
    present = f"gs://{batch.bucket.name}/docs/report.pdf"
    missing = f"gs://{batch.bucket.name}/docs/missing.pdf"
    web = "https://example.com/report.pdf"

    job = batch.run([with_file(present), with_file(missing), with_file(web)])

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert (job.completion_stats.successful_count, job.completion_stats.failed_count) == (1, 2)
    by_uri = {
        line["request"]["contents"][0]["parts"][1]["fileData"]["fileUri"]: line
        for line in batch.output_lines(job)
    }
    assert by_uri[present]["status"] == ""
    # 120,004 bytes of PDF at 50 kB a page: 3 pages of 258 tokens, plus 2 for "Sum up".
    assert strict_response(by_uri[present]).usage_metadata.prompt_token_count == 3 * 258 + 2
    assert by_uri[missing]["status"].startswith("Not Found: ")
    assert missing in by_uri[missing]["status"]
    assert by_uri[web]["status"].startswith("Bad Request: ")
    assert '"status": "INVALID_ARGUMENT"' in by_uri[web]["status"]


def test_same_request_gets_the_same_answer(batch: BatchRunner) -> None:
    lines = (FIXTURES / "text_requests.jsonl").read_text().splitlines()

    first = batch.output_lines(batch.run(lines))
    second = batch.output_lines(batch.run(list(reversed(lines)), labels={"run": "second"}))

    def answers(output: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            echoed_texts(line)[0]: (
                line["response"]["candidates"],
                line["response"]["usageMetadata"],
            )
            for line in output
        }

    assert answers(first) == answers(second)
    assert len({json.dumps(candidates) for candidates, _ in answers(first).values()}) == 10


def test_blocked_prompt_has_prompt_feedback_and_no_candidates(batch: BatchRunner) -> None:
    output = batch.output_lines(batch.run(text_lines("Please [[emulator-block]] this")))

    [line] = output
    response = strict_response(line)
    assert line["status"] == ""
    assert not response.candidates
    assert response.prompt_feedback.block_reason == (
        aiplatform_v1.GenerateContentResponse.PromptFeedback.BlockedReason.SAFETY
    )
