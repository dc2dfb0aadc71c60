"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs.

`JobLedger` is the list of operations the steps use. Every change runs in a Firestore
transaction (batchline.adapters.ledger.transactions) that reads the current state and applies
the rules of `batchline.domain.states`, so a change happens once however often (and however
concurrently) an event arrives: the methods return True only to the caller that made it. An
attempt's change re-derives its source's state in the same transaction.

Claims that guard against a worker that dies half-way are leases
(batchline.adapters.ledger.leases): submitting a `received` source, starting a queued
attempt's job, loading a finished one, sending a final source's notification. A lapsed claim
is taken over by the next attempt.

Documents (collection names from BATCHLINE_LEDGER_COLLECTION): sources in `<collection>`,
attempts in `<collection>-parts` (one per Vertex AI job, created before the job is, while it
waits for capacity), a separate top-level collection so that "jobs in flight" and "jobs
waiting" are plain single-field queries (no composite index to provision), and the running
jobs cap's places in `<collection>-slots`. Their fields:
batchline.adapters.ledger.records; the attempts of a part: batchline.adapters.ledger.attempts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from batchline.adapters.ledger.attempts import AWAITING_NOTIFICATION, AttemptStore
from batchline.adapters.ledger.errors import UnknownSource
from batchline.adapters.ledger.leases import Lease
from batchline.adapters.ledger.records import ClaimResult, NewAttempt, SourceRecord
from batchline.domain.budget import BudgetLimits, Hold, decide_hold
from batchline.domain.states import (
    SOURCE_TERMINAL,
    JobState,
    Outcome,
    SourceRef,
    SourceState,
    decide_source,
)
from batchline.domain.totals import JobTotals

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient
    from google.cloud.firestore import Transaction

__all__ = [
    "AWAITING_NOTIFICATION",
    "JOBS_COLLECTION_SUFFIX",
    "JobLedger",
    "NotifyClaim",
    "QueueOutcome",
]

JOBS_COLLECTION_SUFFIX: Final = "-parts"
# The running-jobs cap's places: `<collection>-slots/slot-NNNNN`, one per job in flight.
SLOTS_COLLECTION_SUFFIX: Final = "-slots"
# The daily budget's spend: `<collection>-spend/YYYY-MM-DD` (UTC), the estimated cost (high
# end) of the files submitted or released that day. Written only while a daily budget is set:
# every submission of the day goes through that one document, in a transaction.
SPEND_COLLECTION_SUFFIX: Final = "-spend"


class QueueOutcome(StrEnum):
    """What asking to submit a file within the budget did."""

    QUEUED = "queued"  # its parts are queued: it is submitted
    HELD = "held"  # a limit holds it: no part queued
    ALREADY = "already"  # another caller moved it on first: nothing done


class NotifyClaim(StrEnum):
    """What claiming a source's notification found."""

    CLAIMED = "claimed"  # this caller sends it
    SENT = "sent"  # it went out already
    HELD = "held"  # another caller's claim is live: it is being sent, or that caller died


def _utc_now() -> datetime:
    return datetime.now(UTC)


class JobLedger(AttemptStore):
    """The ledger's operations; each is one Firestore transaction. The attempts' own
    operations (start, watch, load, resume) come from AttemptStore."""

    def __init__(
        self,
        client: FirestoreClient,
        collection: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        submit_lease: timedelta = timedelta(minutes=10),
        start_lease: timedelta = timedelta(minutes=5),
        load_lease: timedelta = timedelta(minutes=15),
        notify_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        super().__init__(
            client,
            client.collection(collection),
            client.collection(collection + JOBS_COLLECTION_SUFFIX),
            client.collection(collection + SLOTS_COLLECTION_SUFFIX),
            clock=clock,
            start_lease=Lease("start_claimed_time", start_lease),
            load_lease=Lease("load_claimed_time", load_lease),
        )
        self._spend = client.collection(collection + SPEND_COLLECTION_SUFFIX)
        self.submit_lease = Lease("claimed_time", submit_lease)
        self.notify_lease = Lease("notify_claimed_time", notify_lease)

    # --- a source's submission -------------------------------------------------------------

    def claim_source(self, source: SourceRef) -> ClaimResult:
        """Create the source's record in state `received`, once.

        claimed=True: this caller owns the submission (first claim, or a takeover of a
        `received` claim whose lease lapsed: its worker presumably died).
        claimed=False: someone else has it; `record.state` says where it stands. A `received`
        record then means "in progress elsewhere": raise to have the event retried, the lease
        lets a later retry take over if that worker died.
        """
        from google.api_core.exceptions import AlreadyExists

        ref = self._source_ref(source)
        document = SourceRecord.new_document(source, self._clock())
        try:
            # A create is one atomic write that fails if the document exists: exactly one
            # caller wins, without the lock contention of concurrent transactions.
            ref.create(document)
            return ClaimResult(True, SourceRecord.from_document(document))
        except AlreadyExists:
            pass

        def take_over(transaction: Transaction) -> ClaimResult:
            current = self._data(self._read(transaction, ref))
            record = SourceRecord.from_document(current)
            now = self._clock()
            if record.state != SourceState.RECEIVED or self.submit_lease.held(current, now):
                return ClaimResult(False, record)
            changes = {"attempt": record.attempt + 1, **self.submit_lease.claim(now)}
            transaction.update(ref, changes)
            return ClaimResult(True, SourceRecord.from_document({**current, **changes}))

        return self._transact(take_over)

    def release_claim(self, source: SourceRef) -> None:
        """Give up a `received` claim after a failure this attempt survived (a 429, a 503),
        so that the event's retry takes over at once instead of after the lease."""
        self._source_ref(source).update(self.submit_lease.release(self._clock()))

    def mark_rejected(
        self,
        source: SourceRef,
        report_uri: str,
        error_count: int,
        first_errors: Sequence[str] = (),
    ) -> bool:
        """received -> rejected, with where the validation report is, how many errors, and
        the first few (for the notification, also when it has to be sent again)."""
        return self._move_source(
            source,
            SourceState.REJECTED,
            {
                "report_uri": report_uri,
                "error_count": error_count,
                "first_errors": list(first_errors),
            },
        )

    def queue_parts_within_budget(
        self,
        source: SourceRef,
        attempts: Sequence[NewAttempt],
        model: str,
        *,
        limits: BudgetLimits,
        estimate: Mapping[str, Any],
        report_uri: str,
    ) -> tuple[QueueOutcome, Hold | None]:
        """received -> submitted (each part's first attempt recorded, `queued` until its job
        is started by the submit step or a poll tick, within the running-jobs cap), or
        received -> held when a limit
        holds the file (batchline.domain.budget, on the estimate's high end). The day's
        spend is read and added to in the same transaction as the move, so files submitted at
        once cannot together pass a daily budget none of them passes alone."""
        if not attempts:
            raise ValueError("a submitted source has at least one part")
        ref = self._source_ref(source)
        cost = estimate.get("cost_usd", {}).get("high")

        def queue(transaction: Transaction) -> tuple[QueueOutcome, Hold | None]:
            record = self._read_source(transaction, ref, source)
            if record.state != SourceState.RECEIVED:
                return QueueOutcome.ALREADY, None
            now = self._clock()
            day = now.date().isoformat()
            spend_ref = self._spend.document(day)
            spent = 0.0
            if limits.daily_usd is not None:
                spent = float(self._data(self._read(transaction, spend_ref)).get("spent_usd", 0))
            hold = decide_hold(
                cost,
                limits,
                day=day,
                spent_today_usd=spent,
                unpriced_reason=estimate.get("unpriced_reason"),
            )
            if hold is not None:
                transaction.update(
                    ref,
                    {
                        "state": SourceState.HELD.value,
                        "part_count": len(attempts),
                        "model": model,
                        "hold": hold.to_json(),
                        "estimate": dict(estimate),
                        "report_uri": report_uri,
                        "held_time": now,
                        "updated_time": now,
                        AWAITING_NOTIFICATION: True,
                    },
                )
                return QueueOutcome.HELD, hold
            self._write_queue(
                transaction, ref, source, attempts, model, now, {"estimate": dict(estimate)}
            )
            if limits.daily_usd is not None and cost is not None:
                self._add_spend(transaction, spend_ref, day, spent, cost, now)
            return QueueOutcome.QUEUED, None

        return self._transact(queue)

    def release_held(
        self, source: SourceRef, attempts: Sequence[NewAttempt], *, count_spend: bool
    ) -> bool:
        """held -> submitted on a person's word (`batchline release`): the limits are not
        checked again; with `count_spend` (a daily budget is set) the file's estimate is added
        to the spend of the day it is released. True for the one caller that did it: the
        state is read in the transaction, so of two concurrent releases one sees `held`."""
        ref = self._source_ref(source)

        def release(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if record.state != SourceState.HELD:
                return False
            now = self._clock()
            day = now.date().isoformat()
            spend_ref = self._spend.document(day)
            cost = (record.estimate or {}).get("cost_usd", {}).get("high")
            spent = 0.0
            if count_spend and cost is not None:
                spent = float(self._data(self._read(transaction, spend_ref)).get("spent_usd", 0))
            self._write_queue(
                transaction,
                ref,
                source,
                attempts,
                record.model or "",
                now,
                {
                    "released_time": now,
                    # The held notification went out; the release's own comes when it ends.
                    "notified_time": None,
                    "notify_claimed_time": None,
                    AWAITING_NOTIFICATION: False,
                },
            )
            if count_spend and cost is not None:
                self._add_spend(transaction, spend_ref, day, spent, cost, now)
            return True

        return self._transact(release)

    def spent_on(self, day: str) -> float:
        """The estimated spend recorded for a UTC day (YYYY-MM-DD)."""
        snapshot = self._spend.document(day).get()
        return float((snapshot.to_dict() or {}).get("spent_usd", 0)) if snapshot.exists else 0.0

    def _write_queue(
        self,
        transaction: Transaction,
        ref: Any,
        source: SourceRef,
        attempts: Sequence[NewAttempt],
        model: str,
        now: datetime,
        extra: Mapping[str, Any],
    ) -> None:
        for new in attempts:
            job = new.record(source, model)
            transaction.create(self._job_ref(job.attempt_id), job.new_document(now))
        transaction.update(
            ref,
            {
                **extra,
                "state": SourceState.SUBMITTED.value,
                "part_count": len(attempts),
                "parts": {str(new.part): 1 for new in attempts},
                "model": model,
                "submitted_time": now,
                "updated_time": now,
            },
        )

    @staticmethod
    def _add_spend(
        transaction: Transaction, spend_ref: Any, day: str, spent: float, cost: float, now: datetime
    ) -> None:
        from google.cloud.firestore import Increment

        # set+merge creates the day's document on its first file; the read above, in the same
        # transaction, makes a concurrent writer retry rather than both pass the budget.
        transaction.set(
            spend_ref,
            {"day": day, "spent_usd": spent + cost, "files": Increment(1), "updated_time": now},
            merge=True,
        )

    def fail_source(self, source: SourceRef, reason: str) -> list[str]:
        """Any non-terminal state -> failed, with the reason; its attempts that wait fail with
        it. Returns the jobs still running for it, for the caller to cancel (they would be
        billed for a file reported as failed)."""
        ref = self._source_ref(source)

        def fail(transaction: Transaction) -> list[str]:
            record = self._read_source(transaction, ref, source)
            latest = self._read_latest(transaction, record)
            if decide_source(record.state, SourceState.FAILED) != Outcome.APPLY:
                return []
            now = self._clock()
            running = []
            for job in latest:
                if job.state in (JobState.QUEUED, JobState.STARTING):
                    transaction.update(
                        self._job_ref(job.attempt_id),
                        {
                            "state": JobState.FAILED.value,
                            "error": f"not started: {reason}",
                            "failed_time": now,
                            "updated_time": now,
                        },
                    )
                elif job.job_name and job.state in (JobState.SUBMITTED, JobState.RUNNING):
                    running.append(job.job_name)
            transaction.update(
                ref,
                {
                    "error": reason,
                    "state": SourceState.FAILED.value,
                    "failed_time": now,
                    "updated_time": now,
                    AWAITING_NOTIFICATION: True,
                },
            )
            return running

        return self._transact(fail)

    # --- a source's notification -----------------------------------------------------------

    def claim_source_notification(self, source: SourceRef, state: SourceState) -> NotifyClaim:
        """Claim the sending of the notification of a source final in `state`: CLAIMED for
        one caller per lease, SENT once it went out (or when the source has left that state:
        a held file released meanwhile gets its own notification when it ends), HELD while
        another caller's claim is live. Two completions that finish a source at the same
        moment (or a redelivery during the publish) then send it once; a claim whose sender
        died lapses for the next caller."""
        ref = self._source_ref(source)

        def claim(transaction: Transaction) -> NotifyClaim:
            current = self._data(self._read(transaction, ref))
            if not current:
                raise UnknownSource(f"no ledger record for {source.uri}; claim it first")
            now = self._clock()
            if current.get("notified_time") is not None or current.get("state") != state.value:
                return NotifyClaim.SENT
            if self.notify_lease.held(current, now):
                return NotifyClaim.HELD
            transaction.update(ref, self.notify_lease.claim(now))
            return NotifyClaim.CLAIMED

        return self._transact(claim)

    def release_source_notification(self, source: SourceRef) -> None:
        """Give up a notification claim whose publish failed, for the retry to take."""
        self._source_ref(source).update(self.notify_lease.release(self._clock()))

    def mark_source_notified(self, source: SourceRef, state: SourceState) -> bool:
        """Record that the notification of the source final in `state` went out; True the
        first time. Nothing is recorded when the source has left that state (a held file
        released while its file.held was published): its next notification is still due."""
        ref = self._source_ref(source)

        def mark(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if record.notified_time is not None or record.state != state:
                return False
            now = self._clock()
            transaction.update(
                ref, {"notified_time": now, AWAITING_NOTIFICATION: False, "updated_time": now}
            )
            return True

        return self._transact(mark)

    def list_sources_awaiting_notification(self, limit: int = 100) -> list[SourceRecord]:
        """Final sources whose notification was not confirmed sent: an attempt died between
        the final state and the publish, or during it. The poll's sweep sends them."""
        from google.cloud.firestore import FieldFilter

        query = self._sources.where(filter=FieldFilter(AWAITING_NOTIFICATION, "==", True))
        return [SourceRecord.from_document(self._data(s)) for s in query.limit(limit).stream()]

    # --- reading -----------------------------------------------------------------------------

    def get_source(self, source: SourceRef) -> SourceRecord | None:
        snapshot = self._source_ref(source).get()
        return SourceRecord.from_document(self._data(snapshot)) if snapshot.exists else None

    def list_sources(self, limit: int = 20) -> list[SourceRecord]:
        """The most recently received sources first (for `batchline jobs`)."""
        from google.cloud.firestore import Query

        query = self._sources.order_by("created_time", direction=Query.DESCENDING).limit(limit)
        return [SourceRecord.from_document(self._data(snapshot)) for snapshot in query.stream()]

    def find_sources(self, bucket: str, name: str) -> list[SourceRecord]:
        """Every generation of one object that the ledger knows, newest first."""
        from google.cloud.firestore import FieldFilter

        query = self._sources.where(filter=FieldFilter("bucket", "==", bucket)).where(
            filter=FieldFilter("object", "==", name)
        )
        records = [SourceRecord.from_document(self._data(s)) for s in query.stream()]
        return sorted(records, key=lambda record: record.source.generation, reverse=True)

    def mark_job_loaded(
        self,
        attempt_id: str,
        totals: JobTotals,
        resume: NewAttempt | None = None,
        **fields: Any,
    ) -> bool:
        """finished -> loaded with the attempt's totals. With `resume`, the part's next
        attempt is queued in the same transaction (the file is not final until it is done);
        without, the source becomes loaded with its last part. True only for the caller that
        made the change."""
        return self._load(attempt_id, totals, resume, fields)

    def retry_source(self, source: SourceRef, attempts: Sequence[NewAttempt]) -> bool:
        """Queue another attempt at these parts of a final source (`batchline retry`): the
        source runs again and is notified again once it is final. True for the one caller
        that did it: the attempts' ids make a repeat a no-op."""
        ref = self._source_ref(source)

        def retry(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if record.state not in (SourceState.LOADED, SourceState.FAILED) or not attempts:
                return False
            previous = self._read_latest(transaction, record)
            for new in attempts:
                if record.parts.get(new.part, 0) >= new.attempt:
                    return False
            now = self._clock()
            parts = {str(part): attempt for part, attempt in record.parts.items()}
            by_part = {job.part: job for job in previous}
            for new in attempts:
                job = new.record(source, record.model or "")
                transaction.create(self._job_ref(job.attempt_id), job.new_document(now))
                parts[str(new.part)] = new.attempt
                handed_on = by_part[new.part].totals or JobTotals()
                handed_on.retried_failed += new.asks_failed
                handed_on.retried_missing += new.asks_missing
                transaction.update(
                    self._job_ref(by_part[new.part].attempt_id),
                    {"totals": handed_on.as_dict(), "updated_time": now},
                )
            transaction.update(
                ref,
                {
                    "parts": parts,
                    "state": SourceState.RUNNING.value,
                    "error": None,
                    "notified_time": None,
                    "notify_claimed_time": None,
                    AWAITING_NOTIFICATION: False,
                    "retried_time": now,
                    "updated_time": now,
                },
            )
            return True

        return self._transact(retry)

    # --- machinery --------------------------------------------------------------------------

    def _move_source(
        self, source: SourceRef, requested: SourceState, changes: Mapping[str, Any]
    ) -> bool:
        ref = self._source_ref(source)

        def move(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if decide_source(record.state, requested) != Outcome.APPLY:
                return False
            now = self._clock()
            final = {AWAITING_NOTIFICATION: True} if requested in SOURCE_TERMINAL else {}
            transaction.update(
                ref,
                {
                    **changes,
                    **final,
                    "state": requested.value,
                    f"{requested.value}_time": now,
                    "updated_time": now,
                },
            )
            return True

        return self._transact(move)
