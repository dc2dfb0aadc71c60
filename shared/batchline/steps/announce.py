"""A file's one public notification, sent when its outcome is final (or, held by the budget
guard, final until a release: file.held; a released file is notified again when it ends).

Every step that may have just finished a file asks `announce_if_done`: the submit step
(rejected, failed at submission, or all parts loaded before it recorded them all) and the
complete step (the last part loaded, or given up), also on a repeated event. The ledger's
notification claim makes concurrent callers send it once. A caller that finds another's
claim live raises NotificationInProgress (a transient error: its event comes back, and by
then the notification went out or the claim lapsed); a publish that fails releases the
claim, one whose outcome is unknown keeps it until it lapses. A sender that died mid-publish
leaves its claim to lapse: the next event of that file, or the poll's sweep
(`send_overdue`), sends it then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from batchline.adapters.ledger import JobLedger, JobRecord, NotifyClaim, SourceRecord
from batchline.adapters.pubsub import Publisher, PublishOutcomeUnknown
from batchline.domain.errors import TransientError
from batchline.domain.log_events import FILE_NOTIFIED
from batchline.domain.notifications import (
    JOB_FAILED,
    JOB_SUCCEEDED,
    Notification,
    held,
    rejected,
)
from batchline.domain.pricing import ModelPrice, estimate_job_cost
from batchline.domain.states import SOURCE_ANNOUNCED, SourceRef, SourceState
from batchline.domain.totals import JobTotals

log = logging.getLogger(__name__)

SUCCEEDED_STATES = frozenset({"JOB_STATE_SUCCEEDED"})


class NotificationInProgress(TransientError):
    """Another attempt holds the file's notification claim: try again once it lapsed."""


class AnnounceSettings(Protocol):
    """What the announcer reads of the settings."""

    @property
    def model(self) -> str: ...

    @property
    def prices(self) -> Mapping[str, ModelPrice]: ...

    @property
    def notify_lease(self) -> timedelta: ...


def latest_attempts(jobs: Iterable[JobRecord]) -> list[JobRecord]:
    """Each part's last attempt, by part."""
    latest: dict[int, JobRecord] = {}
    for job in jobs:
        if job.part not in latest or job.attempt > latest[job.part].attempt:
            latest[job.part] = job
    return [latest[part] for part in sorted(latest)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Announcer:
    settings: AnnounceSettings
    ledger: JobLedger
    notifications: Publisher
    predictions_table: str
    jobs_table: str
    now: Callable[[], datetime] = field(default=_utc_now)

    def announce_if_done(self, source: SourceRef) -> bool:
        """Send the source's notification if its outcome is final and it was not sent;
        True when this call sent it. NotificationInProgress when another caller's claim on
        it is live."""
        record = self.ledger.get_source(source)
        if record is None or record.notified_time is not None:
            return False
        if record.state not in SOURCE_ANNOUNCED:
            return False
        if self.ledger.notify_lease.live(record.notify_claimed_time, self.now()):
            # Seen live without a transaction: a redelivered event does not contend with the
            # sender's own mark of the notification, which would delay it past the claim.
            raise NotificationInProgress(f"the notification of {source.uri} is being sent")
        claim = self.ledger.claim_source_notification(source, record.state)
        if claim == NotifyClaim.SENT:
            return False
        if claim == NotifyClaim.HELD:
            raise NotificationInProgress(f"the notification of {source.uri} is being sent")
        notification = self._notification(record)
        try:
            self.notifications.notify(notification)
        except PublishOutcomeUnknown:
            raise  # it may still go out: the claim lapses rather than invite a second sender
        except Exception:
            self.ledger.release_source_notification(source)  # the retry sends it
            raise
        self.ledger.mark_source_notified(source, record.state)
        level = logging.ERROR if notification.event == JOB_FAILED else logging.INFO
        log.log(
            level,
            "notified %s",
            notification.event,
            extra={
                "event": FILE_NOTIFIED,
                "notification": notification.event,
                "source_uri": source.uri,
            },
        )
        return True

    def send_overdue(self) -> int:
        """Send the notifications of final sources that were not confirmed sent one lease
        after the source became final (its sender died); how many this call sent."""
        sent = 0
        for record in self.ledger.list_sources_awaiting_notification():
            final = record.updated_time
            if final is not None and self.now() - final < self.settings.notify_lease:
                continue  # still in the hands of the step that finished it
            try:
                if self.announce_if_done(record.source):
                    log.warning("sent the overdue notification of %s", record.source.uri)
                    sent += 1
            except NotificationInProgress:
                continue
        return sent

    def _notification(self, record: SourceRecord) -> Notification:
        source = record.source
        if record.state == SourceState.REJECTED:
            return rejected(
                source.bucket,
                source.name,
                source.generation,
                report_uri=record.report_uri or "",
                error_count=record.error_count or 0,
                requests=0,
                first_errors=record.first_errors,
            )
        if record.state == SourceState.HELD:
            return held(
                source.bucket,
                source.name,
                source.generation,
                report_uri=record.report_uri or "",
                estimate=record.estimate or {},
                hold=record.hold or {},
            )
        jobs = self.ledger.list_jobs_for_source(source)
        return Notification(
            self._event(record, jobs),
            source.bucket,
            source.name,
            source.generation,
            self._body(record, jobs),
        )

    def _event(self, record: SourceRecord, jobs: Sequence[JobRecord]) -> str:
        """job.succeeded when every part's last attempt loaded a job that SUCCEEDED (an
        earlier attempt that ended otherwise was made good by its resume)."""
        latest = latest_attempts(jobs)
        succeeded = record.state == SourceState.LOADED and all(
            job.vertex_state in SUCCEEDED_STATES for job in latest
        )
        return JOB_SUCCEEDED if succeeded and latest else JOB_FAILED

    def _body(self, record: SourceRecord, jobs: Sequence[JobRecord]) -> dict[str, object]:
        totals = JobTotals.final(job.totals or JobTotals() for job in jobs)
        # Every part of a source runs on the model chosen for the file.
        model = next((job.model for job in jobs if job.model), self.settings.model)
        cost = estimate_job_cost(model, totals, self.settings.prices)
        return {
            "error": record.error,
            "job_ids": [job.job_id for job in jobs if job.job_id],
            "attempts": max((job.attempt for job in jobs), default=0),
            "jobs": [
                {
                    "job_id": job.job_id,
                    "part": job.part,
                    "attempt": job.attempt,
                    "state": job.vertex_state,
                    "loaded": job.state == "loaded",
                    "error": job.error,
                }
                for job in jobs
            ],
            "model": model,
            "counts": {
                "total": totals.total,
                "succeeded": totals.succeeded,
                "failed": totals.failed,
                "blocked": totals.blocked,
                "missing": totals.missing,
            },
            "tokens": {
                "prompt": totals.prompt_tokens,
                "output": totals.output_tokens,
                "thoughts": totals.thoughts_tokens,
                "total": totals.total_tokens,
                "cached": totals.cached_tokens,
                "tool_use_prompt": totals.tool_use_prompt_tokens,
                "long_context_prompt": totals.long_context_prompt_tokens,
                "long_context_requests": totals.long_context_requests,
            },
            "estimated_cost_usd": cost.usd,
            # The estimate by kind of token (null when the model has no price).
            "estimated_cost_split_usd": {
                "input": cost.input_usd,
                "cached_input": cost.cached_input_usd,
                "output": cost.output_usd,
            },
            "table": self.predictions_table,
            "jobs_table": self.jobs_table,
            "received_time": record.created_time,
            "loaded_time": record.loaded_time,
        }
