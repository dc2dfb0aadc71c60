"""`batchline estimate`: the figures on the samples, both formats, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchline_cli.main import main

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(autouse=True)
def _no_deployment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHLINE_MODEL", raising=False)
    monkeypatch.delenv("BATCHLINE_PRICES", raising=False)


def test_table_shows_tokens_cost_range_and_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", str(SAMPLES / "multimodal_requests.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "estimate for gemini-3.5-flash" in out
    # 94 characters -> 24; 2 images -> 516; 1 video of an assumed 60 s -> 15,780.
    for figure in ("94 characters", "24", "516", "15,780", "16,320", "0 to 131,072"):
        assert figure in out
    # (16,320 x 0.50) / 1e6 / 2 and (16,320 x 0.50 + 131,072 x 3.00) / 1e6 / 2.
    assert "cost: $0.0041 to $0.2007 at batch prices" in out
    assert "4 characters per token" in out and "a video part assumed 60 s" in out


def test_json_with_a_model_and_prices_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "BATCHLINE_PRICES",
        json.dumps({"my-model": {"input_per_million": 2.0, "output_per_million": 4.0}}),
    )
    path = str(SAMPLES / "text_requests.jsonl")
    assert main(["estimate", path, "--model", "my-model", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == "my-model" and document["input_tokens"] == 87
    assert document["cost_usd"]["low"] == pytest.approx(87 * 2.0 / 1e6 / 2)
    assert document["cost_usd"]["high"] == pytest.approx((87 * 2.0 + 655_360 * 4.0) / 1e6 / 2)


def test_an_unpriced_model_still_gives_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(SAMPLES / "text_requests.jsonl")
    assert main(["estimate", path, "--model", "gemini-9-ultra"]) == 0
    out = capsys.readouterr().out
    assert "cost: unpriced (no price for model 'gemini-9-ultra')" in out


def test_an_invalid_file_shows_its_errors_and_estimates_the_valid_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = str(SAMPLES / "broken_requests.jsonl")
    assert main(["estimate", broken]) == 1
    out = capsys.readouterr().out
    assert f"{broken}:2: error: request.generationConfig.temprature" in out
    assert "covers the 1 valid requests only" in out


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "no-such.jsonl"]) == 2
    assert "no such file: no-such.jsonl" in capsys.readouterr().out
