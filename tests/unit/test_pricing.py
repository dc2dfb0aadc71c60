"""Estimated job cost: batch discount, thoughts billed as output, unknown models priced None."""

from __future__ import annotations

import pytest

from batchline.domain.pricing import BATCH_DISCOUNT, estimate_cost, estimate_job_cost, price_for
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
