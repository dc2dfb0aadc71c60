"""`batchline rows`: the completion step's row shaping on local files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchline_cli.main import main

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "docs"


def test_rows_joins_an_untagged_output_line_to_its_input_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documentation's output line echoes its request with explicit nulls; it is still
    matched to line 2 of the documentation's input file."""
    output = tmp_path / "predictions.jsonl"
    output.write_text(
        json.dumps(json.loads((DOCS / "prediction_output_line.json").read_text())) + "\n"
    )
    assert main(["rows", str(output), "--input", str(DOCS / "multimodal_requests.jsonl")]) == 0
    captured = capsys.readouterr()
    (row,) = [json.loads(line) for line in captured.out.splitlines()]
    assert row["input_line"] == 2 and row["status"] == "SUCCEEDED"
    assert row["response_text"].startswith("This video shows a Google Photos marketing campaign")
    assert (row["prompt_tokens"], row["output_tokens"], row["total_tokens"]) == (29180, 36, 29216)
    assert row["model_version"] == "gemini-1.5-flash-002@default"
    assert row["processed_time"] == "2024-11-01T18:13:16.826000Z"
    assert "1 rows: 1 succeeded" in captured.err


def test_rows_without_input_leaves_the_line_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "predictions.jsonl"
    failed = {
        "status": "Bad Request: quota",
        "processed_time": "2026-01-01T00:00:00Z",
        "request": {"contents": [{"parts": [{"text": "x"}]}]},
    }
    output.write_text(json.dumps(failed) + "\n")
    assert main(["rows", str(output)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["status"] == "FAILED" and row["error"] == "Bad Request: quota"
    assert row["input_line"] is None
