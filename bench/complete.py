"""Row shaping speed and memory, measured against plain parsing in the same run.

Generates a realistic Vertex AI batch output file (default 200,000 lines, in a temporary
folder): echoed requests with explicit nulls and Batchline's line tag, answers of a few
hundred words with safety ratings and usage details, some thinking parts, some failed,
blocked and filtered lines, in shuffled order. Then prints:
- the complete step's work on it, as the step does it (rows.write_rows: read, shape every
  line into a predictions row with totals, serialise it into the rows file, here a sink
  that only counts), divided by the time to read the file and `json.loads` every line
  (medians of interleaved rounds of CPU time);
- the peak memory Python allocates meanwhile (tracemalloc) for the first quarter of the
  file and for all of it: streaming means the two are about the same.
Targets: ratio at most 2.0; peak for the whole file at most 1.25x the quarter's plus 1 MB.
Exit status 1 when a target is missed. Usage: python bench/complete.py [--lines N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from measure import Figure, interleaved_medians, parse_only, report

from batchline.domain.rows import PredictionShaper, write_rows
from batchline.domain.staging import TAG_LABEL

RATIO_TARGET = 2.0
MEMORY_GROWTH_FACTOR = 1.25
MEMORY_SLACK_MB = 1.0
WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "product",
    "review",
    "battery",
    "life",
    "screen",
    "camera",
    "design",
    "value",
    "shipping",
    "quality",
    "price",
    "performance",
    "sound",
    "comfort",
    "durable",
    "recommend",
    "excellent",
    "average",
    "poor",
    "customer",
    "service",
    "warranty",
    "return",
)
HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)


_POOLS: dict[int, list[str]] = {}


def _words(rng: random.Random, count: int) -> str:
    # Texts come from a pool per length: generating 200,000 fresh ones dominates the run.
    pool = _POOLS.get(count)
    if pool is None:
        pool = _POOLS[count] = [
            " ".join(rng.choice(WORDS) for _ in range(count)) for _ in range(50)
        ]
    return rng.choice(pool)


def _request(rng: random.Random, line: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"fileData": None, "inlineData": None, "text": "Summarise this review: " + _words(rng, 60)}
    ]
    if line % 7 == 0:
        parts.append(
            {
                "fileData": {"fileUri": f"gs://shop-media/{line}.jpeg", "mimeType": "image/jpeg"},
                "inlineData": None,
                "text": None,
            }
        )
    return {
        "contents": [{"parts": parts, "role": "user"}],
        "generationConfig": {
            "candidateCount": None,
            "maxOutputTokens": 1024,
            "responseMimeType": None,
            "temperature": 0.2,
            "topP": None,
        },
        "labels": {TAG_LABEL: str(line)},
        "safetySettings": None,
        "systemInstruction": None,
        "tools": None,
    }


def _response(rng: random.Random, line: int) -> dict[str, Any]:
    answer: list[dict[str, Any]] = []
    thoughts = 0
    if line % 10 == 0:
        answer.append({"text": "Considering the review. " + _words(rng, 80), "thought": True})
        thoughts = 140
    answer.append({"text": _words(rng, rng.choice((80, 150, 220, 300)))})
    finish = "SAFETY" if line % 97 == 0 else "STOP"
    return {
        "candidates": [
            {
                "avgLogprobs": -rng.random(),
                "content": {"parts": answer, "role": "model"},
                "finishReason": finish,
                "safetyRatings": [
                    {
                        "category": category,
                        "probability": "NEGLIGIBLE",
                        "probabilityScore": rng.random() / 10,
                        "severity": "HARM_SEVERITY_NEGLIGIBLE",
                        "severityScore": rng.random() / 10,
                    }
                    for category in HARM_CATEGORIES
                ],
            }
        ],
        "createTime": "2026-11-27T10:11:12.345678Z",
        "modelVersion": "gemini-3.5-flash-001",
        "responseId": f"resp-{line:08d}",
        "usageMetadata": {
            "candidatesTokenCount": 300,
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 300}],
            "promptTokenCount": 120,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 120}],
            "thoughtsTokenCount": thoughts,
            "totalTokenCount": 420 + thoughts,
            "trafficType": "ON_DEMAND",
        },
    }


def make_line(rng: random.Random, line: int) -> str:
    request = _request(rng, line)
    status = ""
    response: dict[str, Any] | None = _response(rng, line)
    if line % 33 == 0:
        status = 'Bad Request: {"error": {"code": 400, "message": "Invalid argument"}}'
        response = None
    elif line % 101 == 0:
        response = {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 120, "totalTokenCount": 120},
        }
    record = {
        "status": status,
        "processed_time": f"2026-11-27T10:{line // 6000 % 60:02d}:{line % 60:02d}.{line % 1000:03d}+00:00",
        "request": request,
        "response": response,
    }
    return json.dumps(record)


def write_file(path: Path, lines: int) -> None:
    rng = random.Random(11)
    order = list(range(1, lines + 1))
    rng.shuffle(order)  # the output order is not the input order
    with path.open("w", encoding="utf-8") as out:
        for line in order:
            out.write(make_line(rng, line))
            out.write("\n")


class CountingSink:
    """Where the rows file would be written: counts the bytes, keeps none."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def _shape(path: Path, lines: int, limit: int | None = None) -> int:
    shaper = PredictionShaper(
        job_id="1234567890",
        source_uri="gs://bench-input/reviews.jsonl#1764238272000000",
        model="gemini-3.5-flash",
        expected_lines=range(1, lines + 1),
    )
    with path.open("rb") as stream:
        source = (
            stream
            if limit is None
            else (line for _, line in zip(range(limit), stream, strict=False))
        )
        rows = write_rows(shaper, source, CountingSink())  # type: ignore[arg-type]
    shaper.finish()
    return rows


def peak_traced_mb(path: Path, lines: int, limit: int) -> float:
    tracemalloc.start()
    try:
        _shape(path, lines, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description="row shaping and serialising speed and memory")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--record", type=Path, help="append the figures as JSON lines here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "predictions.jsonl"
        write_file(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        times = interleaved_medians(
            {"json": lambda: parse_only(path), "rows": lambda: _shape(path, args.lines)}
        )
        quarter = args.lines // 4
        small_mb = peak_traced_mb(path, args.lines, quarter)
        full_mb = peak_traced_mb(path, args.lines, args.lines)
    memory_limit = small_mb * MEMORY_GROWTH_FACTOR + MEMORY_SLACK_MB
    print(
        f"file: {args.lines} output lines, {size_mb:.0f} MB; medians of 5 interleaved rounds, CPU s"
    )
    print(f"read + json.loads:                   {times['json']:.2f} s")
    print(f"read + shape + serialise (+ totals): {times['rows']:.2f} s")
    print(f"peak traced memory for {quarter} lines: {small_mb:.2f} MB")
    name = "complete"
    figures = [
        Figure(
            name,
            "rows shaped and serialised / (read + json.loads)",
            times["rows"] / times["json"],
            "x",
            RATIO_TARGET,
        ),
        Figure(
            name,
            f"peak traced memory, {args.lines} lines (flat)",
            full_mb,
            "MB",
            round(memory_limit, 2),
        ),
    ]
    return report(figures, args.record)


if __name__ == "__main__":
    sys.exit(main())
