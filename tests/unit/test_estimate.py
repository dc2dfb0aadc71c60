"""The estimate before anything is spent: the validator's tally and its pricing.

The figures on the samples are worked out by hand in the comments; the generated file's by
formula. Both validator paths (fast msgspec types, precise JSON walk) must tally alike.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchline.domain.estimate import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    InputTally,
    MediaAssumptions,
    estimate_file,
)
from batchline.domain.pricing import ModelPrice
from batchline.domain.validation import validate_stream
from batchline.domain.validation.stream import validate_stream_precisely

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
# 0.50 in, 3.00 out per million online: batch halves both.
PRICES = {"gemini-3.5-flash": ModelPrice(input_per_million=0.50, output_per_million=3.00)}


def _both_paths(data: bytes) -> tuple[InputTally, InputTally]:
    fast = validate_stream(io.BytesIO(data), "f.jsonl")
    precise = validate_stream_precisely(io.BytesIO(data), "f.jsonl")
    assert fast.valid and precise.valid
    return fast.inputs, precise.inputs


def test_text_sample_by_hand() -> None:
    # "Give me a recipe for " is 21 characters; the ten endings add 13, 15, 12, 13, 16, 11,
    # 13, 21, 11 and 11: 346 characters, 346 / 4 = 86.5 -> 87 tokens.
    fast, precise = _both_paths((SAMPLES / "text_requests.jsonl").read_bytes())
    assert fast == precise
    assert fast.requests == 10
    assert fast.text_chars == 346
    assert fast.media_parts() == {"image": 0, "video": 0, "audio": 0, "document": 0}
    estimate = estimate_file(fast, "gemini-3.5-flash", PRICES)
    assert estimate.input_tokens == 87
    # No request sets maxOutputTokens: each may write the model's maximum.
    assert estimate.high_output_tokens == 10 * 65_536
    assert estimate.low_usd == pytest.approx(87 * 0.50 / 1e6 * 0.5)
    assert estimate.high_usd == pytest.approx((87 * 0.50 + 655_360 * 3.00) / 1e6 * 0.5)


def test_multimodal_sample_by_hand() -> None:
    # Line 1 (snake_case, the precise walk): "List objects in this image." 27 characters, an
    # image. Line 2 (camelCase, the fast walk): 67 characters, a video and an image.
    # 94 characters -> 24 tokens; 2 images x 258; 1 video x 60 s x 263 = 15,780.
    fast, precise = _both_paths((SAMPLES / "multimodal_requests.jsonl").read_bytes())
    assert fast == precise
    assert fast.text_chars == 94
    assert fast.media_parts() == {"image": 2, "video": 1, "audio": 0, "document": 0}
    estimate = estimate_file(fast, "gemini-3.5-flash", PRICES)
    assert estimate.text_tokens == 24
    assert estimate.media_tokens == {"image": 516, "video": 15_780, "audio": 0, "document": 0}
    assert estimate.input_tokens == 16_320
    assert "263 tokens/s" in estimate.method and "assumed 60 s" in estimate.method


def test_broken_sample_tallies_only_valid_requests() -> None:
    report = validate_stream(io.BytesIO((SAMPLES / "broken_requests.jsonl").read_bytes()), "b")
    precise = validate_stream_precisely(
        io.BytesIO((SAMPLES / "broken_requests.jsonl").read_bytes()), "b"
    )
    assert not report.valid
    assert report.inputs.requests == report.requests
    assert report.inputs == precise.inputs


def _generated_line(index: int) -> dict[str, object]:
    parts: list[dict[str, object]] = [{"text": "x" * (50 + index % 7)}]
    if index % 10 == 0:
        parts.append({"fileData": {"fileUri": f"gs://m/{index}.png", "mimeType": "image/png"}})
    if index % 25 == 0:
        parts.append({"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}})
    if index % 40 == 0:
        parts.append(
            {"file_data": {"file_uri": f"gs://m/{index}.pdf", "mime_type": "application/pdf"}}
        )
    request: dict[str, object] = {"contents": [{"role": "user", "parts": parts}]}
    if index % 4 == 0:
        request["generationConfig"] = {"maxOutputTokens": 256}
    if index % 5 == 0:
        request["systemInstruction"] = {"parts": {"text": "Be brief."}}  # 9 characters
    return {"key": f"k{index}", "request": request}


def test_generated_large_file_by_formula() -> None:
    lines = 20_000
    data = "".join(json.dumps(_generated_line(i)) + "\n" for i in range(lines)).encode()
    fast, precise = _both_paths(data)
    assert fast == precise
    chars = sum(50 + i % 7 for i in range(lines)) + 9 * (lines // 5)
    assert fast.text_chars == chars
    assert fast.media_parts() == {
        "image": lines // 10,
        "video": 0,
        "audio": lines // 25,
        "document": lines // 40,
    }
    assert (fast.bounded_requests, fast.bounded_output_tokens) == (lines // 4, 256 * (lines // 4))
    assumptions = MediaAssumptions(audio_seconds=10, document_pages=3)
    estimate = estimate_file(fast, "gemini-3.5-flash", PRICES, assumptions)
    media = (lines // 10) * 258 + (lines // 25) * 10 * 32 + (lines // 40) * 3 * 258
    assert estimate.input_tokens == -(-chars // 4) + media
    unbounded = lines - lines // 4
    assert estimate.high_output_tokens == 256 * (lines // 4) + unbounded * DEFAULT_MAX_OUTPUT_TOKENS


def test_unpriced_model_gives_tokens_and_says_why() -> None:
    tally = InputTally()
    tally.add_request({"contents": [{"parts": [{"text": "abcd" * 10}]}]})
    tally.requests = 1
    estimate = estimate_file(tally, "publishers/google/models/nope-1@001", PRICES)
    assert estimate.input_tokens == 10
    assert estimate.low_usd is None and estimate.high_usd is None
    assert estimate.describe_range() == "unpriced (no price for model 'nope-1')"


def test_report_carries_tally_and_estimate() -> None:
    report = validate_stream(io.BytesIO((SAMPLES / "text_requests.jsonl").read_bytes()), "t")
    assert report.to_json()["inputs"]["text_characters"] == 346
    assert report.to_json()["estimate"] is None
    report.estimate = estimate_file(report.inputs, "gemini-3.5-flash", PRICES)
    document = report.to_json()
    assert document["estimate"]["input_tokens"] == 87
    assert document["estimate"]["cost_usd"]["high"] == pytest.approx(0.98306175)
    assert "4 characters per token" in report.text()
    assert "$0.0000 to $0.9831" in report.text()


def _line(key: str, request: dict[str, object]) -> bytes:
    return json.dumps({"key": key, "request": request}).encode() + b"\n"


def _text(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def test_a_line_the_fast_types_refuse_halfway_counts_once() -> None:
    # The camel types count "abc" (and the image) before they meet generation_config, spelled
    # in snake_case, and give the line up: the precise walk counts it, the next line does not
    # inherit the fast path's count.
    late_snake = {
        "contents": [
            {
                "parts": [
                    {"text": "abc"},
                    {"fileData": {"fileUri": "gs://b/i.png", "mimeType": "image/png"}},
                ]
            }
        ],
        "generation_config": {"max_output_tokens": 7},
    }
    data = _line("a", late_snake) + _line("b", _text("wxyz"))
    fast, precise = _both_paths(data)
    assert fast == precise
    assert (fast.text_chars, fast.media_parts()["image"]) == (7, 1)
    assert (fast.bounded_requests, fast.bounded_output_tokens) == (1, 7)


def test_a_line_with_a_repeated_key_adds_nothing_to_the_next() -> None:
    data = _line("a", _text("abcd")) + _line("a", _text("xyz")) + _line("b", _text("q"))
    report = validate_stream(io.BytesIO(data), "f.jsonl")
    precise = validate_stream_precisely(io.BytesIO(data), "f.jsonl")
    assert [error.line for error in report.errors] == [2]
    assert report.inputs == precise.inputs
    assert report.inputs.text_chars == 5


def test_files_validated_at_once_in_two_threads_count_apart() -> None:
    from concurrent.futures import ThreadPoolExecutor

    files = [
        "".join(json.dumps(_generated_line(i)) + "\n" for i in range(offset, offset + 6_000))
        for offset in (0, 3)
    ]
    alone = [validate_stream(io.BytesIO(f.encode()), "f.jsonl").inputs for f in files]
    assert alone[0] != alone[1]
    for _ in range(3):
        with ThreadPoolExecutor(2) as pool:
            together = list(
                pool.map(lambda f: validate_stream(io.BytesIO(f.encode()), "f.jsonl").inputs, files)
            )
        assert together == alone


def test_a_validation_that_starts_while_another_runs_counts_into_a_copy_of_its_own() -> None:
    from batchline.domain.validation.fast import line_decoder

    with line_decoder() as first, line_decoder() as second:
        assert first.text_chars is not second.text_chars
        assert first.media_types is not second.media_types
        line = _line("a", _text("abcd"))[:-1]
        first.camel(line)
        assert (first.text_chars, second.text_chars) == ([4], [0])
        second.camel(line)
        second.camel(line)
        assert (first.text_chars, second.text_chars) == ([4], [8])
    # Returned and reused, cleared: no third copy is built for the next validation.
    with line_decoder() as again:
        assert again in (first, second)
        assert again.text_chars == [0]


def test_media_of_many_distinct_mime_types_are_all_counted() -> None:
    # More distinct spellings than the stream holds before sorting them into kinds.
    kinds = ("image/png", "video/mp4", "audio/wav", "application/pdf")
    lines = [
        _line(
            f"k{index}",
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            {
                                "fileData": {
                                    "fileUri": f"gs://m/{index}",
                                    "mimeType": f"{kinds[index % 4]};v={index}",
                                }
                            }
                        ],
                    }
                ]
            },
        )
        for index in range(400)
    ]
    fast, precise = _both_paths(b"".join(lines))
    assert fast == precise
    assert fast.media_parts() == {"image": 100, "video": 100, "audio": 100, "document": 100}
