"""The release step: a file the budget guard held is submitted on a person's word.

`batchline release gs://BUCKET/OBJECT[#GENERATION]` calls it. The file's parts were staged
when it was checked; the release queues their first attempts in one ledger transaction that
reads the state (held -> submitted), so a repeated or concurrent release does nothing, and
starts what the running-jobs cap allows (poll ticks start the rest). A release bypasses
BATCHLINE_MAX_FILE_COST_USD and BATCHLINE_DAILY_BUDGET_USD (a person approved the cost); while
a daily budget is set, the file's estimate counts in the spend of the day it is released.
The released file ends in its own notification (job.succeeded or job.failed). Its staged
parts live under the work bucket's staging/ prefix, which expires (Terraform's
staging_retention_days): a release after that is refused, naming the missing part and what to
do, and the file stays held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from batchline.adapters.ledger import JobLedger, SourceRecord
from batchline.adapters.storage import Storage, split_uri
from batchline.domain.states import JobState, SourceRef, SourceState
from batchline.steps.start import Starter
from batchline.steps.submit import first_attempt

log = logging.getLogger(__name__)


class ReleaseSettings(Protocol):
    @property
    def work_bucket(self) -> str: ...

    @property
    def daily_budget_usd(self) -> float | None: ...


@dataclass(frozen=True)
class ReleaseResult:
    released: bool
    message: str
    started: int = 0
    refused: bool = False  # it cannot be released at all (not: it was already)


@dataclass
class Releaser:
    settings: ReleaseSettings
    ledger: JobLedger
    starter: Starter
    storage: Storage

    def release(self, record: SourceRecord) -> ReleaseResult:
        source = record.source
        if record.state != SourceState.HELD:
            return ReleaseResult(False, _not_held(source, record.state))
        parts = record.part_count or 0
        attempts = [
            first_attempt(self.settings.work_bucket, source, part) for part in range(1, parts + 1)
        ]
        gone = next(
            (
                uri
                for a in attempts
                for uri in a.input_uris
                if not self.storage.exists(*split_uri(uri))
            ),
            None,
        )
        if gone is not None:
            return ReleaseResult(
                False,
                f"{source.uri} cannot be released: its staged part {gone} no longer exists (the "
                "work bucket's staging/ copies expire); upload the file again to submit it",
                refused=True,
            )
        if not attempts or not self.ledger.release_held(
            source, attempts, count_spend=self.settings.daily_budget_usd is not None
        ):
            now = self.ledger.get_source(source)
            state = now.state if now is not None else record.state
            return ReleaseResult(False, _not_held(source, state))
        log.warning("released %s past the budget guard", source.uri)
        waiting = [
            job for job in self.ledger.list_jobs_for_source(source) if job.state == JobState.QUEUED
        ]
        started = self.starter.start_all(waiting).started
        return ReleaseResult(
            True,
            f"released {source.uri}: {parts} part(s) queued, {started} job(s) started now",
            started,
        )


def _not_held(source: SourceRef, state: SourceState) -> str:
    return (
        f"{source.uri} is {state}, not held: nothing to release (a repeated release does nothing)"
    )
