"""Estimated cost of a batch job from its token sums (no cloud client).

Batch prediction costs BATCH_DISCOUNT (50%) of the online price per token. Thoughts tokens
are billed as output tokens (usageMetadata.candidatesTokenCount leaves them out). A model
missing from the price table gives no cost (None) with `priced` False and a reason: an
estimate is never worth failing a load over. The runtime reads prices from BATCHLINE_PRICES
over the built-in defaults; long-context tiers and cached-token discounts are not modelled.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from batchline.domain.totals import JobTotals

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_PRICES",
    "CostEstimate",
    "ModelPrice",
    "estimate_cost",
    "estimate_job_cost",
    "parse_prices",
    "price_for",
    "price_key",
]

BATCH_DISCOUNT: Final = 0.5


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Online (non-batch) USD prices per million tokens for one model."""

    input_per_million: float
    output_per_million: float


# Defaults only, to be overridden through BATCHLINE_PRICES with the prices on the pricing page
# for your contract: plausible online list prices for the current models, not authoritative.
DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        "gemini-3.5-flash": ModelPrice(input_per_million=0.50, output_per_million=3.00),
        "gemini-3.5-flash-lite": ModelPrice(input_per_million=0.10, output_per_million=0.40),
        "gemini-3.1-flash-lite": ModelPrice(input_per_million=0.25, output_per_million=1.50),
    }
)


def parse_prices(text: str, variable: str = "BATCHLINE_PRICES") -> dict[str, ModelPrice]:
    """Parse a JSON price table `{"model": {"input_per_million": n, "output_per_million": n}}`."""
    try:
        table = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable} is not valid JSON: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"{variable} must be a JSON object of model id -> prices")
    prices: dict[str, ModelPrice] = {}
    for model, entry in table.items():
        if not model:
            raise ValueError(f"{variable} has an empty model id")
        if not isinstance(entry, dict):
            raise ValueError(f"{variable}[{model!r}] must be an object with the two prices")
        unknown = sorted(set(entry) - {"input_per_million", "output_per_million"})
        if unknown:
            raise ValueError(f"{variable}[{model!r}] has unknown field(s) {', '.join(unknown)}")
        values = [
            _price_value(entry.get(name), f"{variable}[{model!r}].{name}")
            for name in ("input_per_million", "output_per_million")
        ]
        prices[model] = ModelPrice(input_per_million=values[0], output_per_million=values[1])
    return prices


def _price_value(value: object, where: str) -> float:
    # bool is an int to Python but never a price.
    if value is None:
        raise ValueError(f"{where} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {json.dumps(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{where} must be a non-negative number, got {value}")
    return number


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
