"""Shaping Vertex AI batch output lines into prediction rows, joined to their input lines."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchline.domain.batch_jobs import job_id_from_name
from batchline.domain.input_lines import InputLine, read_input_lines
from batchline.domain.matching import RequestIndex
from batchline.domain.rows import PredictionRow, PredictionShaper, row_line, row_to_json, write_rows
from batchline.domain.staging import TAG_LABEL, staged_line, tag_request
from batchline.domain.totals import JobTotals
from batchline.schemas import column_names

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "docs"
SOURCE = "gs://in/batch.jsonl#1700000000000000"


def doc_output_line() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOCS / "prediction_output_line.json").read_text())
    return data


def output_line(
    line: int | None,
    *,
    text: str = "an answer",
    status: str = "",
    response: Any = "default",
    labels: dict[str, str] | None = None,
    prompt: str = "a question",
) -> str:
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    if labels is not None or line is not None:
        request["labels"] = dict(labels or {})
        if line is not None:
            request["labels"][TAG_LABEL] = str(line)
    if response == "default":
        response = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 5,
                "totalTokenCount": 15,
            },
            "modelVersion": "gemini-3.5-flash-001",
        }
    record = {
        "status": status,
        "processed_time": "2026-11-01T18:13:16.826+00:00",
        "request": request,
        "response": response,
    }
    return json.dumps(record)


def shaper(**kwargs: Any) -> PredictionShaper:
    return PredictionShaper(job_id="123", source_uri=SOURCE, model="gemini-3.5-flash", **kwargs)


def test_documented_output_line_becomes_a_succeeded_row() -> None:
    row = shaper().shape_line(json.dumps(doc_output_line()))
    assert row is not None
    assert list(row) == column_names("predictions")
    assert row["status"] == "SUCCEEDED"
    assert row["error"] is None
    assert row["response_text"] is not None
    assert row["response_text"].startswith("This video shows a Google Photos")
    assert row["finish_reason"] == "STOP"
    assert (row["prompt_tokens"], row["output_tokens"], row["total_tokens"]) == (29180, 36, 29216)
    assert row["thoughts_tokens"] is None
    assert row["model_version"] == "gemini-1.5-flash-002@default"
    assert row["processed_time"] == "2024-11-01T18:13:16.826000Z"
    assert row["job_id"] == "123"
    assert row["source_uri"] == SOURCE
    assert row["model"] == "gemini-3.5-flash"
    assert row["request"] == doc_output_line()["request"]


def test_untagged_echo_with_nulls_matches_its_input_line_through_the_index() -> None:
    lines = (DOCS / "multimodal_requests.jsonl").read_text().splitlines()
    index = RequestIndex.from_input_lines(read_input_lines(lines))
    shape = shaper(request_index=index, expected_lines=range(1, len(lines) + 1))
    row = shape.shape_line(json.dumps(doc_output_line()))
    assert row is not None
    assert row["input_line"] == 2
    totals = shape.finish()
    assert totals.unmatched == 0
    assert totals.missing == 1
    assert list(shape.missing_lines()) == [1]


def test_tag_gives_the_input_line_and_key_and_is_stripped_from_the_request() -> None:
    shape = shaper(keys={4: "row-four"})
    row = shape.shape_line(output_line(4))
    assert row is not None
    assert (row["input_line"], row["key"]) == (4, "row-four")
    assert "labels" not in row["request"]  # the tag was the only label
    row = shape.shape_line(output_line(5, labels={"team": "ml"}))
    assert row is not None
    assert row["request"]["labels"] == {"team": "ml"}
    assert row["key"] is None


def test_staged_line_round_trips_to_the_same_input_line() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "q"}]}], "labels": {"a": "b"}}
    staged = json.loads(staged_line(request, 17))
    assert staged["request"]["labels"] == {"a": "b", TAG_LABEL: "17"}
    assert request["labels"] == {"a": "b"}  # the caller's request is not changed
    echoed = {"status": "", "request": staged["request"], "response": None}
    row = shaper().shape_line(json.dumps(echoed))
    assert row is not None
    assert row["input_line"] == 17
    assert row["request"] == request
    assert tag_request({}, 2)["labels"] == {TAG_LABEL: "2"}


def test_error_status_is_failed_with_the_status_text() -> None:
    text = 'Bad Request: {"error": {"code": 400, "message": "bad"}}'
    row = shaper().shape_line(output_line(1, status=text, response=None))
    assert row is not None
    assert (row["status"], row["error"]) == ("FAILED", text)
    assert row["response"] is None
    assert row["prompt_tokens"] is None


def test_missing_response_without_status_is_failed() -> None:
    row = shaper().shape_line(output_line(1, response=None))
    assert row is not None
    assert (row["status"], row["error"]) == ("FAILED", "no response")


def test_blocked_prompt_is_blocked_with_its_reason() -> None:
    response = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    row = shaper().shape_line(output_line(1, response=response))
    assert row is not None
    assert (row["status"], row["error"], row["finish_reason"]) == (
        "BLOCKED",
        "PROHIBITED_CONTENT",
        None,
    )
    assert row["prompt_tokens"] == 8
    assert row["response_text"] is None


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "BLOCKLIST", "SPII"])
def test_candidate_stopped_by_a_filter_is_blocked(reason: str) -> None:
    response = {"candidates": [{"finishReason": reason, "content": {"parts": []}}]}
    row = shaper().shape_line(output_line(1, response=response))
    assert row is not None
    assert (row["status"], row["error"], row["finish_reason"]) == ("BLOCKED", reason, reason)


def test_max_tokens_is_still_succeeded_and_says_why() -> None:
    response = {
        "candidates": [{"finishReason": "MAX_TOKENS", "content": {"parts": [{"text": "x"}]}}]
    }
    row = shaper().shape_line(output_line(1, response=response))
    assert row is not None
    assert (row["status"], row["finish_reason"], row["response_text"]) == (
        "SUCCEEDED",
        "MAX_TOKENS",
        "x",
    )


def test_response_without_candidates_or_block_reason_is_failed() -> None:
    row = shaper().shape_line(output_line(1, response={"usageMetadata": {}}))
    assert row is not None
    assert row["status"] == "FAILED"
    assert row["error"] == "the response has no candidates"


def test_thought_parts_are_left_out_of_the_answer_and_counted_apart() -> None:
    response = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Let me think.", "thought": True},
                        {"text": "Paris"},
                        {"functionCall": {"name": "f", "args": {}}},
                        {"text": " is the capital."},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 7,
            "candidatesTokenCount": 6,
            "thoughtsTokenCount": 40,
            "totalTokenCount": 53,
        },
    }
    row = shaper().shape_line(output_line(1, response=response))
    assert row is not None
    assert row["response_text"] == "Paris is the capital."
    assert (row["output_tokens"], row["thoughts_tokens"]) == (6, 40)


def test_processed_time_is_normalised_to_utc_and_fallback_fills_gaps() -> None:
    record = json.loads(output_line(1))
    record["processed_time"] = "2026-11-01T20:00:00+02:00"
    fallback = datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    shape = shaper(fallback_time=fallback)
    row = shape.shape_line(json.dumps(record))
    assert row is not None
    assert row["processed_time"] == "2026-11-01T18:00:00.000000Z"
    record["processed_time"] = "not a time"
    record["request"]["labels"][TAG_LABEL] = "2"
    row = shape.shape_line(json.dumps(record))
    assert row is not None
    assert row["processed_time"] == "2026-11-02T03:04:05.000000Z"


def test_duplicates_are_dropped_and_missing_lines_counted() -> None:
    shape = shaper(expected_lines=range(1, 6))
    outputs = [
        output_line(1),
        output_line(2, status="Internal error", response=None),
        output_line(2, text="a second answer to line 2"),
        output_line(4),
        "",
        "{truncated",
        "[1, 2]",
    ]
    rows = list(shape.shape_lines(outputs))
    assert [row["input_line"] for row in rows] == [1, 2, 4]
    assert rows[1]["status"] == "FAILED"  # the first output for a line wins
    totals = shape.finish()
    assert (totals.succeeded, totals.failed, totals.blocked) == (2, 1, 0)
    assert (totals.missing, totals.duplicates, totals.unreadable) == (2, 1, 2)
    assert totals.total == 5
    assert list(shape.missing_lines()) == [3, 5]
    assert (totals.prompt_tokens, totals.output_tokens, totals.total_tokens) == (20, 10, 30)


def test_rows_stream_lazily() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for number in range(1, 1_000_000):
            consumed += 1
            yield output_line(number)

    rows = shaper().shape_lines(lines())
    first = next(rows)
    assert first["input_line"] == 1
    assert consumed == 1


def test_missing_lines_of_a_large_part() -> None:
    shape = shaper(expected_lines=range(100_001, 300_001))
    for number in range(100_001, 300_001, 1000):
        assert shape.shape_line(output_line(number)) is not None
    assert shape.finish().missing == 200_000 - 200
    missing = shape.missing_lines()
    assert next(missing) == 100_002
    assert sum(1 for _ in missing) == 200_000 - 200 - 1


def test_totals_merge_and_round_trip() -> None:
    first = JobTotals(succeeded=2, missing=1, prompt_tokens=10)
    second = JobTotals(failed=1, blocked=1, thoughts_tokens=3)
    merged = first.merged(second)
    assert merged.total == 5
    assert JobTotals.from_dict(merged.as_dict()) == merged
    assert merged.as_dict()["total"] == 5


def test_row_json_keeps_json_columns_nested() -> None:
    row = shaper().shape_line(output_line(1))
    assert row is not None
    loaded = json.loads(row_to_json(row))
    assert loaded["response"]["candidates"][0]["finishReason"] == "STOP"


def test_read_input_lines_numbers_physical_lines_and_skips_blanks() -> None:
    lines = ['{"request": {"a": 1}, "key": 7}', "", '{"request": {"b": 2}}', "not json"]
    assert list(read_input_lines(lines)) == [
        InputLine(1, {"a": 1}, "7"),
        InputLine(3, {"b": 2}, None),
    ]


def test_job_id_from_name() -> None:
    assert job_id_from_name("projects/p/locations/us-central1/batchPredictionJobs/987") == "987"


def test_cached_and_tool_use_tokens_are_row_columns_and_long_prompts_summed_apart() -> None:
    def usage_line(line: int, prompt: int, cached: int | None, tool_use: int | None) -> str:
        record = json.loads(output_line(line))
        usage = record["response"]["usageMetadata"]
        usage.update(promptTokenCount=prompt, candidatesTokenCount=100, thoughtsTokenCount=10)
        if cached is not None:
            usage["cachedContentTokenCount"] = cached
        if tool_use is not None:
            usage["toolUsePromptTokenCount"] = str(tool_use)  # int64 may come as a string
        return json.dumps(record)

    shape = shaper(long_context_threshold=200_000)
    rows = list(
        shape.shape_lines(
            [
                usage_line(1, 1_000, 400, None),
                usage_line(2, 200_000, None, 7),  # at the threshold: not above it
                usage_line(3, 250_000, 50_000, 30),
            ]
        )
    )
    assert [(row["cached_tokens"], row["tool_use_prompt_tokens"]) for row in rows] == [
        (400, None),
        (None, 7),
        (50_000, 30),
    ]
    totals = shape.finish()
    assert (totals.prompt_tokens, totals.cached_tokens, totals.tool_use_prompt_tokens) == (
        451_000,
        50_400,
        37,
    )
    assert totals.long_context_requests == 1
    assert (totals.long_context_prompt_tokens, totals.long_context_cached_tokens) == (
        250_000,
        50_000,
    )
    assert (totals.long_context_output_tokens, totals.long_context_thoughts_tokens) == (100, 10)
    assert totals.long_context_tool_use_prompt_tokens == 30
    assert JobTotals.from_dict(totals.as_dict()) == totals


def test_write_rows_skips_blank_lines_and_writes_each_row_as_its_line() -> None:
    lines = [
        output_line(1).encode() + b"\n",
        b"",
        b"\n",
        b" \t\r\x0b\x0c\n",
        output_line(2, status="Bad Request").encode() + b"\n",
        output_line(1).encode(),  # a duplicate: no row
        b"not json\n",
    ]
    sink = io.BytesIO()
    seen: list[tuple[PredictionRow, bytes]] = []
    job = shaper()
    written = write_rows(job, lines, sink, lambda row, raw: seen.append((row, raw)))
    assert written == 2
    assert [raw for _, raw in seen] == [lines[0], lines[4]]
    assert sink.getvalue() == b"".join(row_line(row) for row, _ in seen)
    assert sink.getvalue().decode().splitlines() == [row_to_json(row) for row, _ in seen]
    assert (job.totals.succeeded, job.totals.failed) == (1, 1)
    assert (job.totals.duplicates, job.totals.unreadable) == (1, 1)
