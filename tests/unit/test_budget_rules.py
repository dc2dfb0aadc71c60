"""The budget guard's rules (batchline.domain.budget) and the held state's transitions."""

from __future__ import annotations

import pytest

from batchline.domain.budget import BudgetLimits, decide_hold
from batchline.domain.notifications import FILE_HELD, held
from batchline.domain.states import (
    InvalidTransition,
    JobState,
    Outcome,
    SourceState,
    decide_source,
    derive_source_state,
)

pytestmark = pytest.mark.unit

DAY = "2026-12-01"


def test_no_limits_never_hold() -> None:
    assert decide_hold(1e9, BudgetLimits(), day=DAY, spent_today_usd=1e9) is None
    assert decide_hold(None, BudgetLimits(), day=DAY, spent_today_usd=0) is None


def test_the_file_limit_holds_a_file_over_it_only() -> None:
    limits = BudgetLimits(max_file_usd=5.0)
    assert decide_hold(5.0, limits, day=DAY, spent_today_usd=0) is None
    hold = decide_hold(5.01, limits, day=DAY, spent_today_usd=0)
    assert hold is not None and hold.limit == "BATCHLINE_MAX_FILE_COST_USD"
    assert (hold.limit_usd, hold.estimate_usd) == (5.0, 5.01)
    assert "over BATCHLINE_MAX_FILE_COST_USD=$5.00" in hold.reason


def test_the_daily_budget_counts_what_the_day_spent() -> None:
    limits = BudgetLimits(daily_usd=10.0)
    assert decide_hold(4.0, limits, day=DAY, spent_today_usd=6.0) is None
    hold = decide_hold(4.0, limits, day=DAY, spent_today_usd=6.5)
    assert hold is not None and hold.limit == "BATCHLINE_DAILY_BUDGET_USD"
    assert (hold.day, hold.spent_usd) == (DAY, 6.5)
    assert "on 2026-12-01 (UTC)" in hold.reason


def test_an_unpriced_file_is_held_while_a_limit_is_set() -> None:
    hold = decide_hold(
        None, BudgetLimits(daily_usd=10.0), day=DAY, spent_today_usd=0, unpriced_reason="x"
    )
    assert hold is not None and "cannot be estimated (x)" in hold.reason


def test_held_sits_between_received_and_submitted() -> None:
    assert decide_source(SourceState.RECEIVED, SourceState.HELD) == Outcome.APPLY
    assert decide_source(SourceState.HELD, SourceState.SUBMITTED) == Outcome.APPLY
    assert decide_source(SourceState.HELD, SourceState.HELD) == Outcome.DUPLICATE
    assert decide_source(SourceState.HELD, SourceState.FAILED) == Outcome.APPLY
    assert decide_source(SourceState.SUBMITTED, SourceState.HELD) == Outcome.STALE
    with pytest.raises(InvalidTransition):
        decide_source(SourceState.HELD, SourceState.REJECTED)
    # A held file has no jobs to derive a state from.
    assert derive_source_state(SourceState.HELD, 1, [JobState.QUEUED]) == SourceState.HELD


def test_the_held_notification_carries_estimate_limit_and_release() -> None:
    note = held(
        "in",
        "a.jsonl",
        7,
        report_uri="gs://in/r.txt",
        estimate={"cost_usd": {"high": 9.0}},
        hold={"limit": "BATCHLINE_MAX_FILE_COST_USD", "limit_usd": 5.0},
    )
    assert note.event == FILE_HELD and note.attributes()["status"] == "held"
    assert note.body["release_command"] == "batchline release gs://in/a.jsonl#7"
