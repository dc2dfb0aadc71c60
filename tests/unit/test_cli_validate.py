"""`batchline validate`: exit codes and both output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from batchline_cli.main import main

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
GOOD = str(SAMPLES / "text_requests.jsonl")
BROKEN = str(SAMPLES / "broken_requests.jsonl")


def test_valid_files_exit_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", GOOD, str(SAMPLES / "multimodal_requests.jsonl")]) == 0
    out = capsys.readouterr().out
    assert f"{GOOD}: valid: 10 requests in 10 lines" in out


def test_an_invalid_file_exits_1_naming_file_line_and_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", GOOD, BROKEN]) == 1
    out = capsys.readouterr().out
    assert f"{BROKEN}:2: error: request.generationConfig.temprature: " in out
    assert f"{BROKEN}: invalid: 7 errors on 7 lines; 1 valid request" in out


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", GOOD, "no-such-file.jsonl"]) == 2
    captured = capsys.readouterr()
    assert "no such file: no-such-file.jsonl" in captured.err
    assert captured.out == ""  # nothing validated before the usage error


def test_json_format_carries_the_same_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--format", "json", "--max-errors", "3", BROKEN]) == 1
    (report,) = json.loads(capsys.readouterr().out)["files"]
    assert report["valid"] is False and report["error_count"] == 7
    assert report["errors"][0] == {
        "line": 2,
        "path": "request.generationConfig.temprature",
        "message": 'unknown field in GenerationConfig; did you mean "temperature"?',
    }
    assert len(report["errors"]) == 3 and report["errors_truncated"] is True


def test_console_script_reads_standard_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchline_cli", "validate", "-"],
        input=b'{"request": {"contents": [{"parts": {"text": "hi"}}]}}\n',
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert b"<stdin>: valid: 1 request in 1 line" in done.stdout


def test_usage_without_a_command_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
