"""Estimated cost of a batch job from its token sums (no cloud client).

Batch prediction costs BATCH_DISCOUNT (50%) of the online price per token. Thoughts tokens
are billed as output tokens (usageMetadata.candidatesTokenCount leaves them out). A model
missing from the price table gives no cost (None) with `priced` False and a reason: an
estimate is never worth failing a load over. Prices come from settings (BATCHLINE_PRICES
over the built-in defaults); long-context tiers and cached-token discounts are not modelled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from batchline.rows import JobTotals
from batchline.settings import ModelPrice

__all__ = [
    "BATCH_DISCOUNT",
    "CostEstimate",
    "estimate_cost",
    "estimate_job_cost",
    "price_for",
    "price_key",
]

BATCH_DISCOUNT: Final = 0.5

_VERSION_SUFFIX = re.compile(r"-\d{3}$")


def price_key(model: str) -> str:
    """The bare model id: no publishers/.../models/ path, no @version."""
    return model.rpartition("/")[2].partition("@")[0]


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of `model`, trying the exact id, then without a -NNN version suffix."""
    key = price_key(model)
    if key in prices:
        return prices[key]
    return prices.get(_VERSION_SUFFIX.sub("", key))


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """A job's estimated cost in USD; `usd` is None when the model has no price."""

    usd: float | None
    priced: bool
    reason: str | None = None


def estimate_cost(
    model: str,
    *,
    prompt_tokens: int,
    output_tokens: int,
    thoughts_tokens: int,
    prices: Mapping[str, ModelPrice],
    discount: float = BATCH_DISCOUNT,
) -> CostEstimate:
    """Cost at batch prices: (prompt x input + (output + thoughts) x output) per million."""
    price = price_for(model, prices)
    if price is None:
        return CostEstimate(
            usd=None, priced=False, reason=f"no price for model {price_key(model)!r}"
        )
    billed_output = output_tokens + thoughts_tokens
    online = (
        prompt_tokens * price.input_per_million + billed_output * price.output_per_million
    ) / 1_000_000
    return CostEstimate(usd=online * discount, priced=True)


def estimate_job_cost(
    model: str, totals: JobTotals, prices: Mapping[str, ModelPrice]
) -> CostEstimate:
    """`estimate_cost` over a job's totals."""
    return estimate_cost(
        model,
        prompt_tokens=totals.prompt_tokens,
        output_tokens=totals.output_tokens,
        thoughts_tokens=totals.thoughts_tokens,
        prices=prices,
    )
