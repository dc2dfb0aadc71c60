"""Estimated cost of a batch job from its token sums (no cloud client).

Tokens as billed, per request:
- prompt tokens not served from the cache, and tool-use prompt tokens, at the input rate;
- cached prompt tokens (implicit caching, usageMetadata.cachedContentTokenCount, a part of
  promptTokenCount) at the cached input rate: the 90% cache discount takes precedence over
  the batch discount (they do not stack), so the cached rate is billed as it is;
- output tokens and thoughts tokens (usageMetadata.candidatesTokenCount leaves thoughts out)
  at the output rate;
- a request whose prompt is above the model's long-context threshold pays the long-context
  rates for all of its tokens: JobTotals keeps those requests' tokens apart for that.
Everything but cached input costs BATCH_DISCOUNT (50%) of the online price.

The built-in online prices are the data file prices.json beside this module (with the page
they come from and the day it was read); the runtime reads BATCHLINE_PRICES over them, model
by model. A model missing from the price table gives no cost (None) with `priced` False and a
reason: an estimate is never worth failing a load over.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

from batchline.domain.totals import JobTotals

__all__ = [
    "BATCH_DISCOUNT",
    "CACHED_INPUT_SHARE",
    "DEFAULT_PRICES",
    "PRICES_FILE",
    "CostEstimate",
    "ModelPrice",
    "Rates",
    "TokenCounts",
    "estimate_cost",
    "estimate_job_cost",
    "load_price_file",
    "parse_prices",
    "price_for",
    "price_key",
]

BATCH_DISCOUNT: Final = 0.5
# Implicit caching bills cached input at 10% of the online input price (a 90% discount);
# the default for a price that gives no cached rate of its own.
CACHED_INPUT_SHARE: Final = 0.1
PRICES_FILE: Final = "prices.json"

_RATE_FIELDS: Final = (
    "input_per_million",
    "output_per_million",
    "cached_input_per_million",
    "long_context_input_per_million",
    "long_context_output_per_million",
    "long_context_cached_input_per_million",
)
_THRESHOLD_FIELD: Final = "long_context_threshold"
_FIELDS: Final = frozenset({*_RATE_FIELDS, _THRESHOLD_FIELD})


@dataclass(frozen=True, slots=True)
class Rates:
    """Online USD prices per million tokens of one tier (short or long context)."""

    input_per_million: float
    cached_input_per_million: float
    output_per_million: float


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Online (non-batch) USD prices per million tokens for one model.

    Only input and output are required. Without `cached_input_per_million` cached input costs
    CACHED_INPUT_SHARE of the input price; without `long_context_threshold` the model has one
    tier at any prompt size. A long-context rate not given is the short one (its cached rate:
    CACHED_INPUT_SHARE of the long-context input price).
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None
    long_context_threshold: int | None = None
    long_context_input_per_million: float | None = None
    long_context_output_per_million: float | None = None
    long_context_cached_input_per_million: float | None = None

    def rates(self, long_context: bool = False) -> Rates:
        """The rates of a request above the threshold (`long_context`) or not."""
        if long_context and self.long_context_threshold is not None:
            long_input = _given(self.long_context_input_per_million, self.input_per_million)
            return Rates(
                input_per_million=long_input,
                cached_input_per_million=_given(
                    self.long_context_cached_input_per_million, long_input * CACHED_INPUT_SHARE
                ),
                output_per_million=_given(
                    self.long_context_output_per_million, self.output_per_million
                ),
            )
        return Rates(
            input_per_million=self.input_per_million,
            cached_input_per_million=_given(
                self.cached_input_per_million, self.input_per_million * CACHED_INPUT_SHARE
            ),
            output_per_million=self.output_per_million,
        )


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _price_table(table: Any, where: str, *, complete: bool) -> dict[str, ModelPrice]:
    """Model id -> price from JSON; `complete` (the data file) requires every field."""
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a JSON object of model id -> prices")
    prices: dict[str, ModelPrice] = {}
    for model, entry in table.items():
        if not model:
            raise ValueError(f"{where} has an empty model id")
        prices[model] = _model_price(entry, f"{where}[{model!r}]", complete=complete)
    return prices


def _model_price(entry: Any, where: str, *, complete: bool) -> ModelPrice:
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object with input_per_million and output_per_million")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {', '.join(unknown)}")
    absent = sorted(_FIELDS - set(entry)) if complete else []
    if absent:
        raise ValueError(f"{where} lacks field(s) {', '.join(absent)}")
    rates: dict[str, float | None] = {}
    for name in _RATE_FIELDS:
        value = entry.get(name)
        required = name in ("input_per_million", "output_per_million")
        if complete and name == "cached_input_per_million":
            required = True  # the data file states every rate it knows
        rates[name] = (
            _price_value(value, f"{where}.{name}") if required or value is not None else None
        )
    threshold = _threshold(entry.get(_THRESHOLD_FIELD), f"{where}.{_THRESHOLD_FIELD}")
    long_rates = [name for name in _RATE_FIELDS if name.startswith("long_context_")]
    if threshold is None:
        given = [name for name in long_rates if rates[name] is not None]
        if given:
            raise ValueError(f"{where} gives {', '.join(given)} without {_THRESHOLD_FIELD}")
    else:
        needed = long_rates if complete else long_rates[:2]
        missing = [name for name in needed if rates[name] is None]
        if missing:
            raise ValueError(f"{where} has a {_THRESHOLD_FIELD} but no {', '.join(missing)}")
    return ModelPrice(
        input_per_million=rates["input_per_million"] or 0.0,
        output_per_million=rates["output_per_million"] or 0.0,
        cached_input_per_million=rates["cached_input_per_million"],
        long_context_threshold=threshold,
        long_context_input_per_million=rates["long_context_input_per_million"],
        long_context_output_per_million=rates["long_context_output_per_million"],
        long_context_cached_input_per_million=rates["long_context_cached_input_per_million"],
    )


def _threshold(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{where} must be a whole number of tokens above 0, got {json.dumps(value)}"
        )
    return value


def load_price_file(text: str, where: str = PRICES_FILE) -> dict[str, ModelPrice]:
    """The `models` of a price data file (prices.json's form), every field required."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or "models" not in document:
        raise ValueError(f'{where} must be a JSON object with the prices under "models"')
    return _price_table(document["models"], f"{where} models", complete=True)


def parse_prices(text: str, variable: str = "BATCHLINE_PRICES") -> dict[str, ModelPrice]:
    """Parse a JSON price table `{"model": {"input_per_million": n, "output_per_million": n,
    ...}}`: the optional fields as in prices.json (cached_input_per_million,
    long_context_threshold and the long_context_* rates)."""
    try:
        table = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{variable} is not valid JSON: {exc}") from exc
    return _price_table(table, variable, complete=False)


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


# The built-in prices: read once, when the module is first imported.
DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    load_price_file(resources.files(__package__).joinpath(PRICES_FILE).read_text("utf-8"))
)


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
class TokenCounts:
    """Token sums of some requests, as billing sees them (see JobTotals)."""

    prompt_tokens: int = 0
    output_tokens: int = 0
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    tool_use_prompt_tokens: int = 0

    def minus(self, part: TokenCounts) -> TokenCounts:
        """These counts without `part` (the long-context requests among them)."""
        return TokenCounts(
            prompt_tokens=self.prompt_tokens - part.prompt_tokens,
            output_tokens=self.output_tokens - part.output_tokens,
            thoughts_tokens=self.thoughts_tokens - part.thoughts_tokens,
            cached_tokens=self.cached_tokens - part.cached_tokens,
            tool_use_prompt_tokens=self.tool_use_prompt_tokens - part.tool_use_prompt_tokens,
        )


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """A job's estimated cost in USD; `usd` is None when the model has no price. The split:
    input (uncached prompt and tool-use tokens), cached input, output (thoughts included)."""

    usd: float | None
    priced: bool
    reason: str | None = None
    input_usd: float | None = None
    cached_input_usd: float | None = None
    output_usd: float | None = None


def _tier_cost(tokens: TokenCounts, rates: Rates, discount: float) -> tuple[float, float, float]:
    """(input, cached input, output) USD of some requests billed at `rates`."""
    cached = max(0, tokens.cached_tokens)
    # cachedContentTokenCount is a part of promptTokenCount; tool-use tokens come on top.
    uncached = max(0, tokens.prompt_tokens - cached) + max(0, tokens.tool_use_prompt_tokens)
    billed_output = tokens.output_tokens + tokens.thoughts_tokens
    return (
        uncached * rates.input_per_million * discount / 1_000_000,
        cached * rates.cached_input_per_million / 1_000_000,  # the cache discount, not batch's
        billed_output * rates.output_per_million * discount / 1_000_000,
    )


def estimate_cost(
    model: str,
    *,
    prompt_tokens: int,
    output_tokens: int,
    thoughts_tokens: int,
    prices: Mapping[str, ModelPrice],
    discount: float = BATCH_DISCOUNT,
    cached_tokens: int = 0,
    tool_use_prompt_tokens: int = 0,
    long_context: TokenCounts | None = None,
) -> CostEstimate:
    """Cost at batch prices of requests with these token sums (module docstring). The sums
    are over all the requests; `long_context` is the part of them that came from requests
    above the model's long-context threshold, billed at its long-context rates."""
    price = price_for(model, prices)
    if price is None:
        return CostEstimate(
            usd=None, priced=False, reason=f"no price for model {price_key(model)!r}"
        )
    every = TokenCounts(
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        thoughts_tokens=thoughts_tokens,
        cached_tokens=cached_tokens,
        tool_use_prompt_tokens=tool_use_prompt_tokens,
    )
    long = long_context or TokenCounts()
    short_costs = _tier_cost(every.minus(long), price.rates(long_context=False), discount)
    long_costs = _tier_cost(long, price.rates(long_context=True), discount)
    input_usd, cached_usd, output_usd = (
        short + extra for short, extra in zip(short_costs, long_costs, strict=True)
    )
    return CostEstimate(
        usd=input_usd + cached_usd + output_usd,
        priced=True,
        input_usd=input_usd,
        cached_input_usd=cached_usd,
        output_usd=output_usd,
    )


def estimate_job_cost(
    model: str, totals: JobTotals, prices: Mapping[str, ModelPrice]
) -> CostEstimate:
    """`estimate_cost` over a job's totals, its long-context requests at their rates."""
    return estimate_cost(
        model,
        prompt_tokens=totals.prompt_tokens,
        output_tokens=totals.output_tokens,
        thoughts_tokens=totals.thoughts_tokens,
        cached_tokens=totals.cached_tokens,
        tool_use_prompt_tokens=totals.tool_use_prompt_tokens,
        long_context=TokenCounts(
            prompt_tokens=totals.long_context_prompt_tokens,
            output_tokens=totals.long_context_output_tokens,
            thoughts_tokens=totals.long_context_thoughts_tokens,
            cached_tokens=totals.long_context_cached_tokens,
            tool_use_prompt_tokens=totals.long_context_tool_use_prompt_tokens,
        ),
        prices=prices,
    )
