"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs.

`JobLedger` is the list of operations the steps use. Every change runs in a Firestore
transaction (batchline.adapters.ledger.transactions) that reads the current state and applies
the rules of `batchline.domain.states`, so a change happens once however often (and however
concurrently) an event arrives: the methods return True only to the caller that made it. A
job's change re-derives its source's state in the same transaction.

Three claims guard against a worker that dies half-way, all leases
(batchline.adapters.ledger.leases): submitting a `received` source, loading a finished job,
and sending a final source's notification. A lapsed claim is taken over by the next attempt.

Documents (collection names from BATCHLINE_LEDGER_COLLECTION): sources in `<collection>`, jobs
in `<collection>-parts`, a separate top-level collection rather than a subcollection, so that
a job is found by its name alone and "jobs in flight" is a plain single-field query (no
collection-group index to provision). Their fields: batchline.adapters.ledger.records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, TypeVar

from batchline.adapters.ledger.leases import Lease
from batchline.adapters.ledger.records import (
    MANAGED_JOB_FIELDS,
    ClaimResult,
    JobRecord,
    SourceRecord,
)
from batchline.adapters.ledger.transactions import run_transaction
from batchline.domain.batch_jobs import job_id_from_name
from batchline.domain.states import (
    JOB_IN_FLIGHT,
    SOURCE_TERMINAL,
    JobState,
    Outcome,
    SourceRef,
    SourceState,
    decide_job,
    decide_source,
    derive_source_state,
    job_document_id,
)
from batchline.domain.totals import JobTotals

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient
    from google.cloud.firestore import (
        CollectionReference,
        DocumentReference,
        DocumentSnapshot,
        Transaction,
    )

__all__ = [
    "JOBS_COLLECTION_SUFFIX",
    "JobLedger",
    "LedgerError",
    "NotifyClaim",
    "UnknownJob",
    "UnknownSource",
]

JOBS_COLLECTION_SUFFIX: Final = "-parts"
AWAITING_NOTIFICATION: Final = "awaiting_notification"
UNREADABLE_SINCE: Final = "unreadable_since"

_T = TypeVar("_T")


class NotifyClaim(StrEnum):
    """What claiming a source's notification found."""

    CLAIMED = "claimed"  # this caller sends it
    SENT = "sent"  # it went out already
    HELD = "held"  # another caller's claim is live: it is being sent, or that caller died


class LedgerError(RuntimeError):
    """The ledger cannot do what was asked (a bug in the caller, not a transient failure)."""


class UnknownSource(LedgerError, KeyError):
    """No ledger record for this source: it was never claimed."""


class UnknownJob(LedgerError, KeyError):
    """No ledger record for this job: it was never recorded."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class JobLedger:
    """The ledger's operations; each is one Firestore transaction."""

    def __init__(
        self,
        client: FirestoreClient,
        collection: str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        submit_lease: timedelta = timedelta(minutes=10),
        load_lease: timedelta = timedelta(minutes=15),
        notify_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._client = client
        self._sources: CollectionReference = client.collection(collection)
        self._jobs: CollectionReference = client.collection(collection + JOBS_COLLECTION_SUFFIX)
        self._clock = clock
        self.submit_lease = Lease("claimed_time", submit_lease)
        self.load_lease = Lease("load_claimed_time", load_lease)
        self.notify_lease = Lease("notify_claimed_time", notify_lease)

    # --- sources ----------------------------------------------------------------------------

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
            current = _data(_read(transaction, ref))
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
        self._release(self._source_ref(source), self.submit_lease)

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

    def mark_source_failed(self, source: SourceRef, reason: str) -> bool:
        """Any non-terminal state -> failed, with the reason."""
        return self._move_source(source, SourceState.FAILED, {"error": reason})

    def mark_submitted(self, source: SourceRef, part_count: int) -> bool:
        """received -> submitted once all `part_count` jobs are recorded.

        Jobs may already have moved on (a poll can run between two parts' submissions): the
        source takes the state its jobs give it at once.
        """
        if part_count < 1:
            raise ValueError(f"a submitted source has at least one part, not {part_count}")
        ref = self._source_ref(source)

        def submit(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            missing = sorted(set(range(1, part_count + 1)) - set(record.parts))
            if missing:
                raise LedgerError(f"{source.uri}: parts {missing} have no job recorded")
            jobs = self._read_jobs(transaction, record.parts.values())
            if decide_source(record.state, SourceState.SUBMITTED) != Outcome.APPLY:
                return False
            now = self._clock()
            derived = derive_source_state(
                SourceState.SUBMITTED, part_count, (job.state for job in jobs)
            )
            changes: dict[str, Any] = {
                "state": derived.value,
                "part_count": part_count,
                "submitted_time": now,
                "updated_time": now,
                **_source_changes_for(derived, jobs, now),
            }
            transaction.update(ref, changes)
            return True

        return self._transact(submit)

    def record_job(
        self,
        source: SourceRef,
        part: int,
        job_name: str,
        output_prefix: str,
        *,
        model: str | None = None,
    ) -> str:
        """Record part `part`'s Vertex AI job; idempotent per part.

        Returns the job name recorded for the part: `job_name` the first time, the earlier
        one afterwards. If that differs from `job_name`, the caller created a second job for
        the same part (there is no idempotency token at Vertex AI) and should cancel it.
        """
        if part < 1:
            raise ValueError(f"part numbers start at 1, not {part}")
        source_ref = self._source_ref(source)
        job_ref = self._job_ref(job_name)
        job = JobRecord(
            job_name=job_name,
            job_id=job_id_from_name(job_name),
            source_uri=source.uri,
            source_id=source.document_id,
            part=part,
            state=JobState.SUBMITTED,
            output_prefix=output_prefix,
            model=model,
        )

        def record(transaction: Transaction) -> str:
            current = self._read_source(transaction, source_ref, source)
            existing = current.parts.get(part)
            job_snapshot = _read(transaction, job_ref)
            if existing is not None:
                return existing
            if job_snapshot.exists:
                raise LedgerError(f"job {job_name} is already recorded for another part")
            now = self._clock()
            parts = {str(number): name for number, name in current.parts.items()}
            parts[str(part)] = job_name
            transaction.update(source_ref, {"parts": parts, "updated_time": now})
            transaction.create(job_ref, job.new_document(now))
            return job_name

        return self._transact(record)

    def claim_source_notification(self, source: SourceRef) -> NotifyClaim:
        """Claim the sending of a final source's notification: CLAIMED for one caller per
        lease, SENT once it went out, HELD while another caller's claim is live. Two
        completions that finish a source at the same moment (or a redelivery during the
        publish) then send it once; a claim whose sender died lapses for the next caller."""
        ref = self._source_ref(source)

        def claim(transaction: Transaction) -> NotifyClaim:
            current = _data(_read(transaction, ref))
            if not current:
                raise UnknownSource(f"no ledger record for {source.uri}; claim it first")
            now = self._clock()
            if current.get("notified_time") is not None:
                return NotifyClaim.SENT
            if self.notify_lease.held(current, now):
                return NotifyClaim.HELD
            transaction.update(ref, self.notify_lease.claim(now))
            return NotifyClaim.CLAIMED

        return self._transact(claim)

    def release_source_notification(self, source: SourceRef) -> None:
        """Give up a notification claim whose publish failed, for the retry to take."""
        self._release(self._source_ref(source), self.notify_lease)

    def mark_source_notified(self, source: SourceRef) -> bool:
        """Record that the source's completion notification went out; True the first time."""
        ref = self._source_ref(source)

        def mark(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if record.notified_time is not None:
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
        return [SourceRecord.from_document(_data(s)) for s in query.limit(limit).stream()]

    def get_source(self, source: SourceRef) -> SourceRecord | None:
        snapshot = self._source_ref(source).get()
        return SourceRecord.from_document(_data(snapshot)) if snapshot.exists else None

    def list_sources(self, limit: int = 20) -> list[SourceRecord]:
        """The most recently received sources first (for `batchline jobs`)."""
        from google.cloud.firestore import Query

        query = self._sources.order_by("created_time", direction=Query.DESCENDING).limit(limit)
        return [SourceRecord.from_document(_data(snapshot)) for snapshot in query.stream()]

    # --- jobs -------------------------------------------------------------------------------

    def get_job(self, job_name: str) -> JobRecord | None:
        snapshot = self._job_ref(job_name).get()
        return JobRecord.from_document(_data(snapshot)) if snapshot.exists else None

    def list_jobs_for_source(self, source: SourceRef) -> list[JobRecord]:
        """A source's jobs, by part number."""
        jobs = self._query_jobs("source_id", "==", source.document_id)
        return sorted(jobs, key=lambda job: job.part)

    def list_in_flight_jobs(self) -> list[JobRecord]:
        """Jobs in state submitted or running: the ones a poll must look at."""
        return self._query_jobs("state", "in", sorted(state.value for state in JOB_IN_FLIGHT))

    def list_jobs_to_notify(self) -> list[JobRecord]:
        """Finished jobs whose job-finished message was not confirmed sent (a poll resends)."""
        finished = self._query_jobs("state", "==", JobState.FINISHED.value)
        return [job for job in finished if not job.finished_notified]

    def transition_job(self, job_name: str, new_state: JobState, **fields: Any) -> bool:
        """Move a job to `new_state`, storing `fields` with it; True only for the caller that
        made the change (a repeated or late event gets False and writes nothing).

        `fields` are extra values to keep on the job (vertex_state, error, output_directory,
        start_time, ...): Firestore values, not the ledger's own fields. The source's state
        is re-derived from its jobs in the same transaction.
        """
        clashing = sorted(set(fields) & MANAGED_JOB_FIELDS)
        if clashing:
            raise ValueError(f"fields managed by the ledger cannot be set: {clashing}")
        return self._move_job(job_name, JobState(new_state), fields)

    def note_job_unreadable(self, job_name: str, reason: str) -> datetime:
        """Record that reading the job failed (for a reason that may pass); returns since
        when it has been unreadable, so that the poll can give up on it past a limit."""
        ref = self._job_ref(job_name)

        def note(transaction: Transaction) -> datetime:
            job = self._read_job(transaction, ref, job_name)
            now = self._clock()
            since = job.extra.get(UNREADABLE_SINCE)
            changes: dict[str, Any] = {"unreadable_reason": reason, "updated_time": now}
            if not isinstance(since, datetime):
                since = changes[UNREADABLE_SINCE] = now
            transaction.update(ref, changes)
            return since

        return self._transact(note)

    def clear_job_unreadable(self, job: JobRecord) -> None:
        """The job could be read again: forget since when it could not."""
        if job.extra.get(UNREADABLE_SINCE) is not None:
            self._job_ref(job.job_name).update(
                {UNREADABLE_SINCE: None, "unreadable_reason": None, "updated_time": self._clock()}
            )

    def mark_finished_notified(self, job_name: str) -> bool:
        """Record that the job-finished message went out; True the first time."""
        ref = self._job_ref(job_name)
        if self._peek_job(ref, job_name).finished_notified:
            return False

        def mark(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, job_name)
            if job.finished_notified:
                return False
            now = self._clock()
            transaction.update(
                ref, {"finished_notified": True, "notified_time": now, "updated_time": now}
            )
            return True

        return self._transact(mark)

    def claim_job_load(self, job_name: str) -> bool:
        """Claim the loading of a finished job's rows; True for one caller per lease.

        False when the job is loaded already, is not finished, or someone claimed it less
        than a lease ago (a retry after that takes over from a worker that died).
        """
        ref = self._job_ref(job_name)
        if not self._may_claim_load(_data(ref.get())):
            return False

        def claim(transaction: Transaction) -> bool:
            current = _data(_read(transaction, ref))
            if not self._may_claim_load(current):
                return False
            attempt = JobRecord.from_document(current).load_attempt + 1
            claim_changes = self.load_lease.claim(self._clock())
            transaction.update(ref, {"load_attempt": attempt, **claim_changes})
            return True

        return self._transact(claim)

    def release_job_load(self, job_name: str) -> None:
        """Give up a load claim after a failure this attempt survived."""
        self._release(self._job_ref(job_name), self.load_lease)

    def mark_job_loaded(self, job_name: str, totals: JobTotals, **fields: Any) -> bool:
        """finished -> loaded with the job's totals; the source becomes loaded with its last
        part. True only for the caller that made the change."""
        return self.transition_job(job_name, JobState.LOADED, totals=totals.as_dict(), **fields)

    def _may_claim_load(self, document: Mapping[str, Any]) -> bool:
        return document.get("state") == JobState.FINISHED.value and not self.load_lease.held(
            document, self._clock()
        )

    # --- machinery --------------------------------------------------------------------------

    def _source_ref(self, source: SourceRef) -> DocumentReference:
        return self._sources.document(source.document_id)

    def _job_ref(self, job_name: str) -> DocumentReference:
        return self._jobs.document(job_document_id(job_name))

    def _query_jobs(self, field_path: str, op: str, value: Any) -> list[JobRecord]:
        from google.cloud.firestore import FieldFilter

        query = self._jobs.where(filter=FieldFilter(field_path, op, value))
        return [JobRecord.from_document(_data(snapshot)) for snapshot in query.stream()]

    def _release(self, ref: DocumentReference, lease: Lease) -> None:
        # A plain update: clearing a lease early only lets a retry start sooner.
        ref.update(lease.release(self._clock()))

    def _move_source(
        self, source: SourceRef, requested: SourceState, changes: Mapping[str, Any]
    ) -> bool:
        ref = self._source_ref(source)

        def move(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if decide_source(record.state, requested) != Outcome.APPLY:
                return False
            now = self._clock()
            transaction.update(
                ref,
                {
                    **changes,
                    **_final_changes(requested),
                    "state": requested.value,
                    f"{requested.value}_time": now,
                    "updated_time": now,
                },
            )
            return True

        return self._transact(move)

    def _move_job(self, job_name: str, requested: JobState, fields: Mapping[str, Any]) -> bool:
        job_ref = self._job_ref(job_name)
        # A plain read first: a repeated or late event (the common case under at-least-once
        # delivery) is answered without a transaction. States only move forward, so what this
        # read shows as done stays done.
        seen = self._peek_job(job_ref, job_name)
        if decide_job(seen.state, requested) != Outcome.APPLY:
            return False

        def move(transaction: Transaction) -> bool:
            # Firestore transactions read everything before the first write.
            job = self._read_job(transaction, job_ref, job_name)
            source_ref = self._source_ref(job.source)
            source = self._read_source(transaction, source_ref, job.source)
            siblings = self._read_jobs(
                transaction, (name for name in source.parts.values() if name != job_name)
            )
            if decide_job(job.state, requested) != Outcome.APPLY:
                return False
            now = self._clock()
            transaction.update(
                job_ref,
                {
                    **fields,
                    "state": requested.value,
                    f"{requested.value}_time": now,
                    "updated_time": now,
                },
            )
            totals = fields.get("totals")
            moved = dataclasses.replace(
                job,
                state=requested,
                totals=JobTotals.from_dict(totals) if isinstance(totals, Mapping) else job.totals,
            )
            jobs = [*siblings, moved]
            derived = derive_source_state(
                source.state, source.part_count, (sibling.state for sibling in jobs)
            )
            if derived != source.state:
                changes = {"state": derived.value, "updated_time": now}
                changes.update(_source_changes_for(derived, jobs, now))
                transaction.update(source_ref, changes)
            return True

        return self._transact(move)

    def _peek_job(self, ref: DocumentReference, job_name: str) -> JobRecord:
        return _job_record(ref.get(), job_name)

    def _read_source(
        self, transaction: Transaction, ref: DocumentReference, source: SourceRef
    ) -> SourceRecord:
        snapshot = _read(transaction, ref)
        if not snapshot.exists:
            raise UnknownSource(f"no ledger record for {source.uri}; claim it first")
        return SourceRecord.from_document(_data(snapshot))

    def _read_job(
        self, transaction: Transaction, ref: DocumentReference, job_name: str
    ) -> JobRecord:
        return _job_record(_read(transaction, ref), job_name)

    def _read_jobs(self, transaction: Transaction, job_names: Iterable[str]) -> list[JobRecord]:
        refs = [self._job_ref(name) for name in job_names]
        if not refs:
            return []
        snapshots = transaction.get_all(refs)
        return [JobRecord.from_document(_data(s)) for s in snapshots if s.exists]

    def _transact(self, work: Callable[[Transaction], _T]) -> _T:
        return run_transaction(self._client, work)


def _read(transaction: Transaction, ref: DocumentReference) -> DocumentSnapshot[DocumentReference]:
    return next(iter(transaction.get(ref)))


def _job_record(snapshot: DocumentSnapshot[DocumentReference], job_name: str) -> JobRecord:
    if not snapshot.exists:
        raise UnknownJob(f"no ledger record for job {job_name}; record it first")
    return JobRecord.from_document(_data(snapshot))


def _data(snapshot: DocumentSnapshot[DocumentReference]) -> dict[str, Any]:
    return snapshot.to_dict() or {}


def _final_changes(state: SourceState) -> dict[str, Any]:
    """A source that reaches a final state awaits its notification until it is sent: the
    flag the poll's sweep queries (a single-field index, no composite one to provision)."""
    return {AWAITING_NOTIFICATION: True} if state in SOURCE_TERMINAL else {}


def _source_changes_for(
    derived: SourceState, jobs: list[JobRecord], now: datetime
) -> dict[str, Any]:
    """Fields a source gains on reaching `derived` from its jobs."""
    changes: dict[str, Any] = _final_changes(derived)
    if derived in (SourceState.LOADED, SourceState.FAILED):
        total = JobTotals()
        for job in jobs:
            if job.totals is not None:
                total = total.merged(job.totals)
        changes["totals"] = total.as_dict()
    if derived == SourceState.LOADED:
        changes["loaded_time"] = now
    elif derived == SourceState.FAILED:
        failed_parts = sorted(job.part for job in jobs if job.state == JobState.FAILED)
        changes["error"] = f"part(s) {failed_parts} failed"
        changes["failed_time"] = now
    elif derived != SourceState.SUBMITTED:
        changes[f"{derived.value}_time"] = now
    return changes
