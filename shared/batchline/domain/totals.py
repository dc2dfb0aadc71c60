"""Counts and token sums over a job's rows, and over a file's jobs (no cloud client)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from batchline.domain.retries import may_pass

if TYPE_CHECKING:
    from batchline.domain.rows import PredictionRow

__all__ = ["JobTotals"]


@dataclass(slots=True)
class JobTotals:
    """Counts and token sums over a job's rows.

    total = succeeded + failed + blocked + missing. `missing` counts expected input lines with
    no output line; `duplicates` output lines dropped because their input line already had a
    row; `unmatched` rows whose input line could not be found (they are kept, and their input
    line, if expected, also counts as missing); `unreadable` output lines that were not a JSON
    object (skipped). `retryable` counts the failed rows whose failure may pass
    (batchline.domain.retries); `retried_failed` and `retried_missing` the failed and missing
    lines handed to the part's next attempt (a resume): `final` takes them out again.

    Tokens as billed: `cached_tokens` (implicit caching) are part of `prompt_tokens`,
    `tool_use_prompt_tokens` are not. A request whose prompt is above its model's long-context
    threshold is billed at the long-context rates for all its tokens, so the `long_context_*`
    sums hold the tokens of those requests (a part of each sum above, counted in it too) and
    `long_context_requests` how many there were: the job's estimate stays exact per request.
    """

    succeeded: int = 0
    failed: int = 0
    blocked: int = 0
    missing: int = 0
    duplicates: int = 0
    unmatched: int = 0
    unreadable: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    thoughts_tokens: int = 0
    total_tokens: int = 0
    retryable: int = 0
    retried_failed: int = 0
    retried_missing: int = 0
    cached_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    long_context_requests: int = 0
    long_context_prompt_tokens: int = 0
    long_context_cached_tokens: int = 0
    long_context_tool_use_prompt_tokens: int = 0
    long_context_output_tokens: int = 0
    long_context_thoughts_tokens: int = 0

    @property
    def rows(self) -> int:
        return self.succeeded + self.failed + self.blocked

    @property
    def total(self) -> int:
        return self.rows + self.missing

    def add(self, row: PredictionRow, long_context_threshold: int | None = None) -> None:
        """Count one row; its tokens go to the long-context sums too when its prompt is
        above `long_context_threshold` (None: the model has no long-context rates)."""
        status = row["status"]
        if status == "SUCCEEDED":  # rows.Status, a StrEnum
            self.succeeded += 1
        elif status == "BLOCKED":
            self.blocked += 1
        else:
            self.failed += 1
            if may_pass(row["error"]):
                self.retryable += 1
        self.prompt_tokens += row["prompt_tokens"] or 0
        self.output_tokens += row["output_tokens"] or 0
        self.thoughts_tokens += row["thoughts_tokens"] or 0
        self.total_tokens += row["total_tokens"] or 0
        self.cached_tokens += row["cached_tokens"] or 0
        self.tool_use_prompt_tokens += row["tool_use_prompt_tokens"] or 0
        prompt = row["prompt_tokens"] or 0
        if long_context_threshold is not None and prompt > long_context_threshold:
            self.long_context_requests += 1
            self.long_context_prompt_tokens += prompt
            self.long_context_cached_tokens += row["cached_tokens"] or 0
            self.long_context_tool_use_prompt_tokens += row["tool_use_prompt_tokens"] or 0
            self.long_context_output_tokens += row["output_tokens"] or 0
            self.long_context_thoughts_tokens += row["thoughts_tokens"] or 0

    @classmethod
    def final(cls, attempts: Iterable[JobTotals]) -> JobTotals:
        """A file's outcome over all its attempts: each line counted once, by how its last
        attempt ended (a resumed line by its resume), tokens summed over every attempt."""
        total = cls()
        for totals in attempts:
            total = total.merged(totals)
        total.failed -= total.retried_failed
        total.missing -= total.retried_missing
        total.retryable -= total.retried_failed
        total.retried_failed = total.retried_missing = 0
        return total

    def merged(self, other: JobTotals) -> JobTotals:
        """The sum of two totals (a source's parts)."""
        return JobTotals(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        """Every count, `total` included (the form the ledger stores)."""
        return {**asdict(self), "total": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobTotals:
        return cls(**{f.name: int(data.get(f.name) or 0) for f in fields(cls)})
