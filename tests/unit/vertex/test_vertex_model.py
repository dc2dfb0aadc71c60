"""The built-in model: deterministic answers, token heuristics, schema-conformant JSON."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import jsonschema
import pytest

from localcloud.vertex.model import BuiltinModel, file_tokens, text_tokens
from localcloud.vertex.rows import parse_request
from localcloud.vertex.schema_values import openapi_to_json_schema, value_for_schema
from localcloud.vertex.usage import PrefixCache

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 27, 21, 8, 10, tzinfo=dt.UTC)


def answer(request_json: dict[str, Any], files: dict[str, int] | None = None) -> dict[str, Any]:
    model = BuiltinModel("gemini-3.5-flash", block_marker="[[block]]")
    return model.generate(parse_request(request_json), files or {}, NOW)


def prompt(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def test_same_request_same_answer_and_labels_do_not_matter() -> None:
    first = answer(prompt("Name a cake."))
    assert answer(prompt("Name a cake.")) == first
    assert answer(prompt("Name a cake.", labels={"key": "line-7"})) == first
    assert answer(prompt("Name a pie.")) != first


def test_token_counts_follow_the_documented_heuristics() -> None:
    assert (text_tokens(""), text_tokens("abcd"), text_tokens("abcde")) == (0, 1, 2)
    assert file_tokens("image/png", 10) == 258
    assert file_tokens("video/mp4", 2_500_000) == 3 * 263
    assert file_tokens("audio/mpeg", 16_000) == 32
    assert file_tokens("application/pdf", 100_001) == 3 * 258
    assert file_tokens("text/plain", 10) == 3
    response = answer(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "12345678"},
                        {"fileData": {"fileUri": "gs://b/a.png", "mimeType": "image/png"}},
                    ],
                }
            ],
            "systemInstruction": {"parts": [{"text": "1234"}]},
        },
        files={"gs://b/a.png": 99},
    )
    usage = response["usageMetadata"]
    assert usage["promptTokenCount"] == 2 + 258 + 1
    text = response["candidates"][0]["content"]["parts"][0]["text"]
    assert usage["candidatesTokenCount"] == text_tokens(text)
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


def test_thinking_budget_zero_means_no_thoughts_and_include_thoughts_adds_a_thought_part() -> None:
    quiet = answer(prompt("x", generationConfig={"thinkingConfig": {"thinkingBudget": 0}}))
    assert "thoughtsTokenCount" not in quiet["usageMetadata"]
    shown = answer(prompt("x", generationConfig={"thinkingConfig": {"includeThoughts": True}}))
    parts = shown["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and "thought" not in parts[1]


def test_stop_sequence_and_candidate_count() -> None:
    response = answer(prompt("Say it.", generationConfig={"candidateCount": 3}))
    assert [candidate.get("index", 0) for candidate in response["candidates"]] == [0, 1, 2]
    assert ":" in response["candidates"][0]["content"]["parts"][0]["text"]
    cut = answer(prompt("Say it.", generationConfig={"stopSequences": [":"]}))
    text = cut["candidates"][0]["content"]["parts"][0]["text"]
    assert text.endswith('to "Say it."') and ":" not in text
    assert cut["candidates"][0]["finishReason"] == "STOP"


def test_block_marker_blocks_the_prompt() -> None:
    response = answer(prompt("please [[block]] me"))
    assert response["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in response


def test_enum_mime_type_answers_one_enum_value() -> None:
    config = {
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["yes", "no"]},
    }
    text = answer(prompt("?", generationConfig=config))["candidates"][0]["content"]["parts"][0]
    assert text["text"] in ("yes", "no")


SCHEMAS: list[dict[str, Any]] = [
    {"type": "integer", "minimum": -3, "maximum": 3},
    {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
    {"type": "number", "exclusiveMinimum": 0.5, "maximum": 0.6},
    {"type": "string", "minLength": 30, "maxLength": 31},
    {"type": "string", "format": "date"},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 4, "maxItems": 5},
    {"type": ["null", "string"], "maxLength": 3},
    {"const": {"fixed": True}},
    {"oneOf": [{"type": "integer", "minimum": 5}, {"type": "string", "enum": ["x"]}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": "string"}}, "required": ["b"]},
        ]
    },
    {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    },
    {"type": "object", "required": ["undeclared"]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_values_conform_to_json_schema(schema: dict[str, Any]) -> None:
    for seed in range(40):
        jsonschema.validate(value_for_schema(schema, random.Random(seed)), schema)


def test_openapi_schema_converts_to_the_equivalent_json_schema() -> None:
    converted = openapi_to_json_schema(
        {
            "type": "OBJECT",
            "properties": {
                "tags": {"type": "ARRAY", "items": {"ref": "#/defs/tag"}, "minItems": "2"},
                "note": {"type": "STRING", "nullable": True},
            },
            "defs": {"tag": {"type": "STRING", "enum": ["a", "b"]}},
        }
    )
    assert converted == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "minItems": 2},
            "note": {"type": "string"},
        },
        "$defs": {"tag": {"type": "string", "enum": ["a", "b"]}},
    }
    for seed in range(20):
        jsonschema.validate(value_for_schema(converted, random.Random(seed)), converted)


def test_usage_has_details_by_modality_and_the_traffic_type() -> None:
    response = answer(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "12345678"},
                        {"fileData": {"fileUri": "gs://b/a.mp4", "mimeType": "video/mp4"}},
                        {"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}},
                    ],
                }
            ]
        },
        files={"gs://b/a.mp4": 1_500_000},
    )
    usage = response["usageMetadata"]
    assert usage["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": 2},
        {"modality": "VIDEO", "tokenCount": 2 * 263},
        {"modality": "AUDIO", "tokenCount": 32},
    ]
    assert usage["candidatesTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": usage["candidatesTokenCount"]}
    ]
    assert usage["trafficType"] == "ON_DEMAND"
    assert "cachedContentTokenCount" not in usage and "cacheTokensDetails" not in usage


def test_implicit_cache_counts_a_share_of_the_longest_repeated_prefix() -> None:
    model = BuiltinModel("gemini-3.5-flash")
    cache = PrefixCache(min_tokens=10, share=0.5)
    system = {"parts": [{"text": "r" * 80}]}  # 20 tokens

    def usage(*texts: str, system_instruction: dict[str, Any] = system) -> dict[str, Any]:
        request = {
            "contents": [{"role": "user", "parts": [{"text": text} for text in texts]}],
            "systemInstruction": system_instruction,
        }
        return model.generate(parse_request(request), {}, NOW, cache)["usageMetadata"]

    assert "cachedContentTokenCount" not in usage("a" * 40)
    assert usage("b" * 40)["cachedContentTokenCount"] == 10  # half of the system instruction
    assert usage("a" * 40, "c")["cachedContentTokenCount"] == 15  # and the first part: 30 tokens
    assert usage("b" * 40)["cacheTokensDetails"] == [{"modality": "TEXT", "tokenCount": 15}]
    short = {"parts": [{"text": "s" * 8}]}  # a repeated prefix under the minimum: not cached
    usage("x", system_instruction=short)
    assert "cachedContentTokenCount" not in usage("y", system_instruction=short)


SCHEMA_REQUEST = prompt(
    "Classify this review.",
    generationConfig={
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "sentiment": {"type": "STRING", "enum": ["positive", "negative"]},
                "stars": {"type": "INTEGER"},
            },
            "required": ["sentiment", "stars"],
        },
    },
)


@pytest.mark.parametrize(
    ("fault", "finish", "cause"),
    [
        (None, "STOP", None),
        ("cut_short", "MAX_TOKENS", "cut short by MAX_TOKENS"),
        ("invalid", "STOP", "invalid JSON"),
        ("off_schema", "STOP", "does not match the responseSchema at $"),
    ],
)
def test_json_faults_spoil_schema_answers_the_way_the_pipeline_reports(
    fault: str | None, finish: str, cause: str | None
) -> None:
    from batchline.domain.structured import structured_answer

    model = BuiltinModel("gemini-3.5-flash")
    response = model.generate(parse_request(SCHEMA_REQUEST), {}, NOW, json_fault=fault)
    (candidate,) = response["candidates"]
    text = candidate["content"]["parts"][0]["text"]
    assert candidate["finishReason"] == finish
    value, error = structured_answer(SCHEMA_REQUEST, text, finish)
    assert (error or "").partition(":")[0] == (cause or "")
    if fault is None:
        assert set(value) == {"sentiment", "stars"}
        assert response["usageMetadata"]["candidatesTokenCount"] == text_tokens(text)


def test_a_json_fault_leaves_text_answers_alone() -> None:
    model = BuiltinModel("gemini-3.5-flash")
    plain = prompt("Name a cake.")
    spoiled = model.generate(parse_request(plain), {}, NOW, json_fault="invalid")
    assert spoiled == model.generate(parse_request(plain), {}, NOW)
