"""The budget guard's rules, without Firestore: whether a file may be submitted now.

A file is checked on the high end of its estimate (batchline.domain.estimate: every request
writing its maxOutputTokens, or the model's maximum). It is an estimate, not a bound: the
input side is counted at 4 characters per token and assumed sizes for media, without tool
declarations, candidateCount or long-context rates, so a file can still cost more. It is held when that is over BATCHLINE_MAX_FILE_COST_USD,
or when it would take the UTC day's estimated spend over BATCHLINE_DAILY_BUDGET_USD. A file
whose cost cannot be estimated (no price for its model) is held while any limit is set: a
limit that cannot be checked is not waved through.

A release (`batchline release`) is a person's approval: it bypasses both limits, and its
estimate counts in the spend of the day it is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BudgetLimits", "Hold", "decide_hold"]

MAX_FILE_COST_VARIABLE = "BATCHLINE_MAX_FILE_COST_USD"
DAILY_BUDGET_VARIABLE = "BATCHLINE_DAILY_BUDGET_USD"


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """The two limits in USD; None is no limit."""

    max_file_usd: float | None = None
    daily_usd: float | None = None

    @property
    def any(self) -> bool:
        return self.max_file_usd is not None or self.daily_usd is not None


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a file is held: which limit, at how much, against what estimate."""

    limit: str  # the variable's name
    limit_usd: float | None
    estimate_usd: float | None  # the high end of the estimate; None: unpriced
    reason: str
    day: str | None = None  # the UTC day, for the daily budget
    spent_usd: float | None = None  # that day's estimated spend before this file

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_usd": self.limit_usd,
            "estimate_usd": self.estimate_usd,
            "reason": self.reason,
            "day": self.day,
            "spent_usd": self.spent_usd,
        }

    @classmethod
    def from_json(cls, data: Any) -> Hold | None:
        if not isinstance(data, dict):
            return None
        return cls(
            limit=str(data.get("limit", "")),
            limit_usd=data.get("limit_usd"),
            estimate_usd=data.get("estimate_usd"),
            reason=str(data.get("reason", "")),
            day=data.get("day"),
            spent_usd=data.get("spent_usd"),
        )


def decide_hold(
    estimate_usd: float | None,
    limits: BudgetLimits,
    *,
    day: str,
    spent_today_usd: float,
    unpriced_reason: str | None = None,
) -> Hold | None:
    """The hold a file of this estimate (its high end) meets today, or None to submit it."""
    if estimate_usd is None:
        if not limits.any:
            return None
        variable = (
            MAX_FILE_COST_VARIABLE if limits.max_file_usd is not None else DAILY_BUDGET_VARIABLE
        )
        limit_usd = limits.max_file_usd if limits.max_file_usd is not None else limits.daily_usd
        return Hold(
            variable,
            limit_usd,
            None,
            f"the cost cannot be estimated ({unpriced_reason or 'no price'}), so {variable} "
            "cannot be checked",
        )
    if limits.max_file_usd is not None and estimate_usd > limits.max_file_usd:
        return Hold(
            MAX_FILE_COST_VARIABLE,
            limits.max_file_usd,
            estimate_usd,
            f"the estimated cost, up to ${estimate_usd:,.4f}, is over "
            f"{MAX_FILE_COST_VARIABLE}=${limits.max_file_usd:,.2f}",
        )
    if limits.daily_usd is not None and spent_today_usd + estimate_usd > limits.daily_usd:
        return Hold(
            DAILY_BUDGET_VARIABLE,
            limits.daily_usd,
            estimate_usd,
            f"the estimated cost, up to ${estimate_usd:,.4f}, on top of ${spent_today_usd:,.4f} "
            f"estimated for files submitted on {day} (UTC), is over "
            f"{DAILY_BUDGET_VARIABLE}=${limits.daily_usd:,.2f}",
            day=day,
            spent_usd=spent_today_usd,
        )
    return None
