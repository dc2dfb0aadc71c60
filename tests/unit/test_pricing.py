"""Estimated job cost: batch discount, thoughts billed as output, cached input at the cached
rate, long prompts at the long-context rates, the price data file and its overrides."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest

from batchline.domain.pricing import (
    BATCH_DISCOUNT,
    CACHED_INPUT_SHARE,
    PRICES_FILE,
    estimate_cost,
    estimate_job_cost,
    load_price_file,
    parse_prices,
    price_for,
)
from batchline.domain.rows import PredictionShaper
from batchline.domain.staging import TAG_LABEL
from batchline.domain.totals import JobTotals
from batchline.runtime.settings import DEFAULT_PRICES, ModelPrice

pytestmark = pytest.mark.unit

PRICES = {"gemini-3.5-flash": ModelPrice(input_per_million=0.5, output_per_million=3.0)}


def test_cost_is_half_the_online_price_with_thoughts_billed_as_output() -> None:
    estimate = estimate_cost(
        "gemini-3.5-flash",
        prompt_tokens=2_000_000,
        output_tokens=300_000,
        thoughts_tokens=700_000,
        prices=PRICES,
    )
    # online: 2 x 0.5 + (0.3 + 0.7) x 3.0 = 4.0 USD; batch: half.
    assert estimate.priced
    assert estimate.usd == pytest.approx(2.0)
    assert BATCH_DISCOUNT == 0.5


def test_unknown_model_has_no_cost_and_says_why() -> None:
    estimate = estimate_cost(
        "gemini-9-ultra", prompt_tokens=10, output_tokens=10, thoughts_tokens=0, prices=PRICES
    )
    assert estimate.usd is None
    assert not estimate.priced
    assert estimate.reason == "no price for model 'gemini-9-ultra'"


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3.5-flash",
        "publishers/google/models/gemini-3.5-flash",
        "gemini-3.5-flash-001",
        "gemini-3.5-flash@default",
    ],
)
def test_model_names_in_their_usual_spellings_find_the_price(model: str) -> None:
    assert price_for(model, PRICES) == PRICES["gemini-3.5-flash"]


def test_job_totals_feed_the_estimate() -> None:
    totals = JobTotals(succeeded=1, prompt_tokens=1_000_000, output_tokens=1_000_000)
    estimate = estimate_job_cost("gemini-3.5-flash-lite", totals, DEFAULT_PRICES)
    price = DEFAULT_PRICES["gemini-3.5-flash-lite"]
    expected = (price.input_per_million + price.output_per_million) * BATCH_DISCOUNT
    assert estimate.usd == pytest.approx(expected)


def test_zero_tokens_cost_zero() -> None:
    estimate = estimate_cost(
        "gemini-3.5-flash", prompt_tokens=0, output_tokens=0, thoughts_tokens=0, prices=PRICES
    )
    assert estimate.usd == 0.0
    assert estimate.priced


# Online prices per million tokens, chosen so the hand-computed figures are easy to check.
TIERED = {
    "gemini-test-pro": ModelPrice(
        input_per_million=1.00,
        output_per_million=4.00,
        cached_input_per_million=0.10,
        long_context_threshold=200_000,
        long_context_input_per_million=2.00,
        long_context_output_per_million=6.00,
        long_context_cached_input_per_million=0.20,
    )
}


def test_cached_tokens_cost_the_cached_rate_and_the_rest_half_the_online_price() -> None:
    # 1,000,000 prompt tokens of which 400,000 cached, 100,000 output, 50,000 thoughts:
    # input 600,000 x $1.00 x 0.5 = $0.30; cached 400,000 x $0.10 (no batch discount) = $0.04;
    # output 150,000 x $4.00 x 0.5 = $0.30; total $0.64.
    estimate = estimate_cost(
        "gemini-test-pro",
        prompt_tokens=1_000_000,
        cached_tokens=400_000,
        output_tokens=100_000,
        thoughts_tokens=50_000,
        prices=TIERED,
    )
    assert estimate.input_usd == pytest.approx(0.30)
    assert estimate.cached_input_usd == pytest.approx(0.04)
    assert estimate.output_usd == pytest.approx(0.30)
    assert estimate.usd == pytest.approx(0.64)


def test_tool_use_prompt_tokens_are_billed_as_input() -> None:
    # 20,000 tool-use tokens on top of 100,000 prompt tokens: 120,000 x $1.00 x 0.5 = $0.06.
    estimate = estimate_cost(
        "gemini-test-pro",
        prompt_tokens=100_000,
        tool_use_prompt_tokens=20_000,
        output_tokens=0,
        thoughts_tokens=0,
        prices=TIERED,
    )
    assert estimate.usd == pytest.approx(0.06)


def test_a_long_prompt_bills_all_its_tokens_at_the_long_context_rates() -> None:
    # Request A: 100,000 prompt, 10,000 output -> $0.05 + $0.02 = $0.07 (short rates).
    # Request B: 300,000 prompt (100,000 cached), 20,000 output, 5,000 thoughts, above the
    # 200,000 threshold: input 200,000 x $2.00 x 0.5 = $0.20, cached 100,000 x $0.20 = $0.02,
    # output 25,000 x $6.00 x 0.5 = $0.075 -> $0.295. The job: $0.365.
    def line(number: int, prompt: int, cached: int, output: int, thoughts: int) -> str:
        usage = {
            "promptTokenCount": prompt,
            "cachedContentTokenCount": cached,
            "candidatesTokenCount": output,
            "thoughtsTokenCount": thoughts,
        }
        request = {"contents": [], "labels": {TAG_LABEL: str(number)}}
        response = {"candidates": [{"finishReason": "STOP"}], "usageMetadata": usage}
        return json.dumps({"status": "", "request": request, "response": response})

    shaper = PredictionShaper(
        job_id="1",
        source_uri="gs://in/a.jsonl#1",
        long_context_threshold=TIERED["gemini-test-pro"].long_context_threshold,
    )
    list(
        shaper.shape_lines(
            [line(1, 100_000, 0, 10_000, 0), line(2, 300_000, 100_000, 20_000, 5_000)]
        )
    )
    estimate = estimate_job_cost("gemini-test-pro", shaper.finish(), TIERED)
    assert estimate.usd == pytest.approx(0.365)
    assert estimate.cached_input_usd == pytest.approx(0.02)
    # The same sums without the split, all at the short rates: $0.15 + $0.01 + $0.07 = $0.23.
    merged = estimate_cost(
        "gemini-test-pro",
        prompt_tokens=400_000,
        cached_tokens=100_000,
        output_tokens=30_000,
        thoughts_tokens=5_000,
        prices=TIERED,
    )
    assert merged.usd == pytest.approx(0.23)


def test_a_price_without_a_cached_rate_bills_cached_input_at_a_tenth_of_input() -> None:
    prices = {"m": ModelPrice(input_per_million=1.0, output_per_million=4.0)}
    estimate = estimate_cost(
        "m",
        prompt_tokens=1_000_000,
        cached_tokens=1_000_000,
        output_tokens=0,
        thoughts_tokens=0,
        prices=prices,
    )
    assert estimate.usd == pytest.approx(0.10)
    assert CACHED_INPUT_SHARE == 0.1


def test_the_price_data_file_loads_with_every_field_for_every_model() -> None:
    text = resources.files("batchline.domain").joinpath(PRICES_FILE).read_text("utf-8")
    document = json.loads(text)
    assert document["source"] == "https://cloud.google.com/vertex-ai/generative-ai/pricing"
    assert document["read"]
    fields = {f.name for f in dataclasses.fields(ModelPrice)}
    for model, entry in document["models"].items():
        assert set(entry) == fields, model
        assert entry["cached_input_per_million"] is not None, model
    assert load_price_file(text) == dict(DEFAULT_PRICES)
    assert {"gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite"} <= set(
        DEFAULT_PRICES
    )


def test_the_data_file_refuses_a_model_lacking_a_field() -> None:
    entry = {"input_per_million": 1.0, "output_per_million": 2.0}
    with pytest.raises(ValueError, match=r"lacks field\(s\) cached_input_per_million"):
        load_price_file(json.dumps({"models": {"m": entry}}))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"input_per_million": 1, "output_per_million": 2, "long_context_threshold": 10},
            "has a long_context_threshold but no long_context_input_per_million",
        ),
        (
            {"input_per_million": 1, "output_per_million": 2, "long_context_input_per_million": 3},
            "gives long_context_input_per_million without long_context_threshold",
        ),
        (
            {"input_per_million": 1, "output_per_million": 2, "long_context_threshold": "200k"},
            'long_context_threshold must be a whole number of tokens above 0, got "200k"',
        ),
        (
            {"input_per_million": 1, "output_per_million": 2, "cached_per_million": 0.1},
            "unknown field\\(s\\) cached_per_million",
        ),
    ],
)
def test_overrides_of_the_wrong_form_are_refused_naming_the_field(
    entry: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_prices(json.dumps({"m": entry}))
