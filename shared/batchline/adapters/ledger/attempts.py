"""The attempts at a source's parts: queued, started within the running-jobs cap, watched,
loaded, and resumed with their failed lines. Part of JobLedger (batchline.adapters.ledger).

An attempt's document exists before its Vertex AI job does: it waits `queued` until the
submit step or a poll tick claims it (`starting`, a lease) while fewer than the cap's jobs are
in flight, creates its job (or finds the one a dead attempt created, by its labels) and
records it (`submitted`). A refusal that may pass (429, no capacity) puts it back in the
queue, not before a backoff. Once its rows are loaded, the part may get another attempt at its
failed lines (a resume), queued in the same transaction.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from batchline.adapters.ledger.errors import UnknownJob, UnknownSource
from batchline.adapters.ledger.leases import Lease
from batchline.adapters.ledger.records import (
    MANAGED_JOB_FIELDS,
    JobRecord,
    NewAttempt,
    SourceRecord,
    StartClaim,
    StartOutcome,
)
from batchline.adapters.ledger.transactions import run_transaction
from batchline.domain.batch_jobs import job_id_from_name
from batchline.domain.states import (
    JOB_WATCHED,
    SOURCE_TERMINAL,
    JobState,
    Outcome,
    SourceRef,
    SourceState,
    attempt_document_id,
    decide_job,
    derive_source_state,
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

__all__ = ["AWAITING_NOTIFICATION", "UNREADABLE_SINCE", "AttemptStore"]

AWAITING_NOTIFICATION: Final = "awaiting_notification"
UNREADABLE_SINCE: Final = "unreadable_since"

_T = TypeVar("_T")


class AttemptStore:
    """The attempts' operations, and the machinery JobLedger shares with them."""

    def __init__(
        self,
        client: FirestoreClient,
        sources: CollectionReference,
        jobs: CollectionReference,
        slots: CollectionReference,
        *,
        clock: Callable[[], datetime],
        start_lease: Lease,
        load_lease: Lease,
    ) -> None:
        self._client = client
        self._sources = sources
        self._jobs = jobs
        self._slots = slots
        self._clock = clock
        self.start_lease = start_lease
        self.load_lease = load_lease

    # --- starting ---------------------------------------------------------------------------

    def list_waiting_jobs(self) -> list[JobRecord]:
        """Attempts whose job is not created yet, oldest first: `queued` ones, and `starting`
        ones whose claim lapsed (the attempt that claimed them died)."""
        now = self._clock()
        waiting = [
            job
            for job in self._query_jobs("state", "in", [JobState.QUEUED, JobState.STARTING])
            if job.state == JobState.QUEUED or not self._held(job, self.start_lease, now)
        ]
        return sorted(waiting, key=lambda job: (job.created_time or now, job.part))

    def claim_start(self, attempt_id: str, max_running: int) -> StartClaim:
        """Claim the creation of a waiting attempt's job. CLAIMED (with the record, now
        `starting`) for one caller; NOT_DUE while it backs off, is claimed by a live caller,
        or has its job already; FULL when `max_running` jobs are in flight.

        The cap is `max_running` slot documents. A start takes a slot whose holder is not in
        flight (its job ended, its start was refused, its starter died) and moves the attempt
        to `starting` in one batched write whose preconditions are the two documents' last
        update times: two starters that pick the same slot, or the same attempt, cannot both
        succeed, and no lock is held (a transaction over a count of every job in flight is
        what concurrent submissions would queue behind). No slot is released by hand: it is
        free as soon as its holder's state says so.
        """
        ref = self._job_ref(attempt_id)
        while True:
            now = self._clock()
            snapshot = ref.get()
            job = self._job_record(snapshot, attempt_id)
            if not self._may_start(job, now):
                return StartClaim(StartOutcome.NOT_DUE)
            free = self._free_slots(attempt_id, max_running, now)
            if not free:
                return StartClaim(StartOutcome.FULL)
            for number, slot in random.sample(free, len(free)):
                outcome = self._take_slot(ref, snapshot, number, slot, attempt_id, now)
                if outcome == "taken":
                    claimed = dataclasses.replace(
                        job, state=JobState.STARTING, start_claimed_time=now
                    )
                    return StartClaim(StartOutcome.CLAIMED, claimed)
                if outcome == "attempt moved":
                    break  # another starter got the attempt (or it changed): look again
            else:
                return StartClaim(StartOutcome.FULL)

    def _free_slots(
        self, attempt_id: str, max_running: int, now: datetime
    ) -> list[tuple[int, DocumentSnapshot[Any] | None]]:
        """The slots under the cap whose holder is not in flight, with their snapshots
        (None for a slot never taken)."""
        taken = {snapshot.id: snapshot for snapshot in self._slots.stream()}
        slots = [(n, taken.get(_slot_id(n))) for n in range(max_running)]
        holders = {
            str(holder)
            for _, slot in slots
            if slot is not None
            and (holder := self._data(slot).get("holder")) not in (None, attempt_id)
        }
        in_flight = {
            job.attempt_id
            for job in (
                JobRecord.from_document(self._data(snapshot))
                for snapshot in (
                    self._client.get_all([self._job_ref(h) for h in holders]) if holders else ()
                )
                if snapshot.exists
            )
            if self._in_flight(job, now)
        }
        return [
            (n, slot)
            for n, slot in slots
            if slot is None or self._data(slot).get("holder") not in in_flight
        ]

    def _take_slot(
        self,
        ref: DocumentReference,
        attempt: DocumentSnapshot[Any],
        number: int,
        slot: DocumentSnapshot[Any] | None,
        attempt_id: str,
        now: datetime,
    ) -> str:
        """taken, slot taken (by another starter), or attempt moved."""
        from google.api_core.exceptions import (
            Aborted,
            AlreadyExists,
            FailedPrecondition,
            NotFound,
        )

        slot_ref = self._slots.document(_slot_id(number))
        batch = self._client.batch()
        held = {"holder": attempt_id, "claimed_time": now}
        if slot is None:
            batch.create(slot_ref, held)
        else:
            batch.update(
                slot_ref, held, option=self._client.write_option(last_update_time=slot.update_time)
            )
        batch.update(
            ref,
            {"state": JobState.STARTING.value, "slot": number, **self.start_lease.claim(now)},
            option=self._client.write_option(last_update_time=attempt.update_time),
        )
        try:
            batch.commit()
        except Aborted:
            # Contention with a transaction on one of the two documents: nothing was
            # written; look at the attempt and the slots again.
            return "attempt moved"
        except (AlreadyExists, FailedPrecondition, NotFound):
            current = ref.get()
            return "slot taken" if current.update_time == attempt.update_time else "attempt moved"
        return "taken"

    def _may_start(self, job: JobRecord, now: datetime) -> bool:
        if job.state == JobState.STARTING:
            return not self._held(job, self.start_lease, now)  # its starter died
        return job.state == JobState.QUEUED and not (job.not_before and job.not_before > now)

    def _in_flight(self, job: JobRecord, now: datetime) -> bool:
        """Whether a job holds its place under the cap: it exists and has not ended, or it is
        being created by a live starter."""
        if job.state == JobState.STARTING:
            return self._held(job, self.start_lease, now)
        return job.state in JOB_WATCHED

    def defer_start(self, attempt_id: str, reason: str, delay: timedelta) -> None:
        """Creating the job was refused for now (429, capacity): back to the queue, not
        before `delay` has passed."""
        ref = self._job_ref(attempt_id)

        def defer(transaction: Transaction) -> None:
            job = self._read_job(transaction, ref, attempt_id)
            if job.state != JobState.STARTING:
                return
            now = self._clock()
            transaction.update(
                ref,
                {
                    "state": JobState.QUEUED.value,
                    "not_before": now + delay,
                    "start_failures": job.start_failures + 1,
                    "last_start_error": reason,
                    **self.start_lease.release(now),
                },
            )

        self._transact(defer)

    def record_started(self, attempt_id: str, job_name: str) -> str:
        """Record the attempt's Vertex AI job (`submitted`). Returns the job recorded for it:
        `job_name` the first time, the earlier one afterwards; if that differs, the caller
        made a second job for the attempt (no idempotency token at Vertex AI): cancel it."""
        ref = self._job_ref(attempt_id)

        def record(transaction: Transaction) -> str:
            job = self._read_job(transaction, ref, attempt_id)
            if job.job_name:
                return job.job_name
            if job.state in (JobState.FAILED, JobState.LOADED):
                return job_name  # given up on meanwhile: the caller's job is not recorded
            self._write_move(
                transaction,
                job,
                JobState.SUBMITTED,
                {"job_name": job_name, "job_id": job_id_from_name(job_name)},
                check=False,
            )
            return job_name

        result: str = self._transact(record)
        return result

    # --- reading ----------------------------------------------------------------------------

    def get_job(self, attempt_id: str) -> JobRecord | None:
        snapshot = self._job_ref(attempt_id).get()
        return JobRecord.from_document(self._data(snapshot)) if snapshot.exists else None

    def list_jobs_for_source(self, source: SourceRef) -> list[JobRecord]:
        """Every attempt at every part of a source, by part and attempt."""
        jobs = self._query_jobs("source_id", "==", source.document_id)
        return sorted(jobs, key=lambda job: (job.part, job.attempt))

    def list_in_flight_jobs(self) -> list[JobRecord]:
        """Attempts whose job exists and has not ended: the ones a poll asks about."""
        return self._query_jobs("state", "in", sorted(JOB_WATCHED))

    def list_jobs_to_notify(self) -> list[JobRecord]:
        """Finished attempts whose job-finished message was not confirmed sent."""
        finished = self._query_jobs("state", "==", JobState.FINISHED.value)
        return [job for job in finished if not job.finished_notified]

    # --- watching ---------------------------------------------------------------------------

    def transition_job(self, attempt_id: str, new_state: JobState, **fields: Any) -> bool:
        """Move an attempt to `new_state`, storing `fields` with it; True only for the caller
        that made the change (a repeated or late event gets False and writes nothing).

        `fields` are extra values to keep (vertex_state, error, output_directory, start_time,
        ...), not the ledger's own fields. The source's state is re-derived in the same
        transaction.
        """
        clashing = sorted(set(fields) & MANAGED_JOB_FIELDS)
        if clashing:
            raise ValueError(f"fields managed by the ledger cannot be set: {clashing}")
        requested = JobState(new_state)
        ref = self._job_ref(attempt_id)
        # A plain read first: a repeated or late event (the common case under at-least-once
        # delivery) is answered without a transaction. States only move forward.
        if decide_job(self._peek_job(ref, attempt_id).state, requested) != Outcome.APPLY:
            return False

        def move(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, attempt_id)
            return self._write_move(transaction, job, requested, fields)

        result: bool = self._transact(move)
        return result

    def note_vertex_state(self, attempt_id: str, vertex_state: str) -> None:
        """Keep the state Vertex AI last gave a job that has not run yet (PENDING, ...)."""
        self._job_ref(attempt_id).update(
            {"vertex_state": vertex_state, "updated_time": self._clock()}
        )

    def mark_finished_notified(self, attempt_id: str) -> bool:
        """Record that the job-finished message went out; True the first time."""
        return self._set_flag(attempt_id, "finished_notified", notified_time=True)

    def mark_stalled_logged(self, attempt_id: str) -> bool:
        """Record that the attempt's `job.stalled` event was logged; True the first time."""
        return self._set_flag(attempt_id, "stalled_logged")

    def note_job_unreadable(self, attempt_id: str, reason: str) -> datetime:
        """Record that reading the job failed (for a reason that may pass); returns since
        when it has been unreadable, so that the poll can give up on it past a limit."""
        ref = self._job_ref(attempt_id)

        def note(transaction: Transaction) -> datetime:
            job = self._read_job(transaction, ref, attempt_id)
            now = self._clock()
            since = job.extra.get(UNREADABLE_SINCE)
            changes: dict[str, Any] = {"unreadable_reason": reason, "updated_time": now}
            if not isinstance(since, datetime):
                since = changes[UNREADABLE_SINCE] = now
            transaction.update(ref, changes)
            return since

        result: datetime = self._transact(note)
        return result

    def clear_job_unreadable(self, job: JobRecord) -> None:
        """The job could be read again: forget since when it could not."""
        if job.extra.get(UNREADABLE_SINCE) is not None:
            self._job_ref(job.attempt_id).update(
                {UNREADABLE_SINCE: None, "unreadable_reason": None, "updated_time": self._clock()}
            )

    # --- loading ----------------------------------------------------------------------------

    def claim_job_load(self, attempt_id: str) -> bool:
        """Claim the loading of a finished attempt's rows; True for one caller per lease."""
        ref = self._job_ref(attempt_id)
        if not self._may_claim_load(self._peek_job(ref, attempt_id)):
            return False

        def claim(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, attempt_id)
            if not self._may_claim_load(job):
                return False
            claim_changes = self.load_lease.claim(self._clock())
            transaction.update(ref, {"load_attempt": job.load_attempt + 1, **claim_changes})
            return True

        result: bool = self._transact(claim)
        return result

    def release_job_load(self, attempt_id: str) -> None:
        """Give up a load claim after a failure this attempt survived."""
        self._job_ref(attempt_id).update(self.load_lease.release(self._clock()))

    def _load(
        self,
        attempt_id: str,
        totals: JobTotals,
        resume: NewAttempt | None,
        fields: Mapping[str, Any],
    ) -> bool:
        ref = self._job_ref(attempt_id)

        def load(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, attempt_id)
            changes = {**fields, "totals": totals.as_dict()}
            if resume is None:
                return self._write_move(transaction, job, JobState.LOADED, changes)
            if decide_job(job.state, JobState.LOADED) != Outcome.APPLY:
                return False
            source = job.source
            record = self._read_source(transaction, self._source_ref(source), source)
            next_job = resume.record(source, job.model or "")
            next_ref = self._job_ref(next_job.attempt_id)
            if self._read(transaction, next_ref).exists:
                return False
            now = self._clock()
            transaction.update(ref, self._state_changes(JobState.LOADED, changes, now))
            transaction.create(next_ref, next_job.new_document(now))
            parts = {str(part): attempt for part, attempt in record.parts.items()}
            parts[str(resume.part)] = resume.attempt
            transaction.update(
                self._source_ref(source),
                {"parts": parts, "state": SourceState.RUNNING.value, "updated_time": now},
            )
            return True

        result: bool = self._transact(load)
        return result

    def _may_claim_load(self, job: JobRecord) -> bool:
        return job.state == JobState.FINISHED and not self._held(
            job, self.load_lease, self._clock()
        )

    # --- machinery --------------------------------------------------------------------------

    def _write_move(
        self,
        transaction: Transaction,
        job: JobRecord,
        requested: JobState,
        fields: Mapping[str, Any],
        *,
        check: bool = True,
    ) -> bool:
        """Move `job` to `requested` in `transaction`, re-deriving its source's state from
        each part's latest attempt. All reads come first: Firestore transactions read
        everything before their first write."""
        source_ref = self._source_ref(job.source)
        source = self._read_source(transaction, source_ref, job.source)
        others = [
            attempt_document_id(job.source, part, attempt)
            for part, attempt in source.parts.items()
            if attempt_document_id(job.source, part, attempt) != job.attempt_id
        ]
        siblings = self._read_jobs(transaction, others)
        if check and decide_job(job.state, requested) != Outcome.APPLY:
            return False
        now = self._clock()
        transaction.update(
            self._job_ref(job.attempt_id), self._state_changes(requested, fields, now)
        )
        if source.parts.get(job.part) != job.attempt:
            return True  # an older attempt: the part's latest one sets the source's state
        totals = fields.get("totals")
        moved = dataclasses.replace(
            job,
            state=requested,
            totals=JobTotals.from_dict(totals) if isinstance(totals, Mapping) else job.totals,
        )
        latest = [*siblings, moved]
        derived = derive_source_state(
            source.state, source.part_count, (attempt.state for attempt in latest)
        )
        if derived != source.state:
            changes = {"state": derived.value, "updated_time": now}
            changes.update(derived_changes(derived, latest, now))
            transaction.update(source_ref, changes)
        return True

    @staticmethod
    def _state_changes(state: JobState, fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        return {**fields, "state": state.value, f"{state.value}_time": now, "updated_time": now}

    def _set_flag(self, attempt_id: str, flag: str, *, notified_time: bool = False) -> bool:
        ref = self._job_ref(attempt_id)
        if getattr(self._peek_job(ref, attempt_id), flag):
            return False

        def mark(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, attempt_id)
            if getattr(job, flag):
                return False
            now = self._clock()
            changes: dict[str, Any] = {flag: True, "updated_time": now}
            if notified_time:
                changes["notified_time"] = now
            transaction.update(ref, changes)
            return True

        result: bool = self._transact(mark)
        return result

    def _held(self, job: JobRecord, lease: Lease, now: datetime) -> bool:
        claimed = getattr(job, lease.field)
        return lease.held({lease.field: claimed}, now)

    def _query_jobs(
        self, field_path: str, op: str, value: Any, *, transaction: Transaction | None = None
    ) -> list[JobRecord]:
        from google.cloud.firestore import FieldFilter

        query = self._jobs.where(filter=FieldFilter(field_path, op, value))
        snapshots = transaction.get(query) if transaction is not None else query.stream()
        return [JobRecord.from_document(self._data(snapshot)) for snapshot in snapshots]

    def _read_latest(self, transaction: Transaction, record: SourceRecord) -> list[JobRecord]:
        """Each part's latest attempt."""
        ids = [
            attempt_document_id(record.source, part, attempt)
            for part, attempt in record.parts.items()
        ]
        return self._read_jobs(transaction, ids)

    def _read_source(
        self, transaction: Transaction, ref: DocumentReference, source: SourceRef
    ) -> SourceRecord:
        snapshot = self._read(transaction, ref)
        if not snapshot.exists:
            raise UnknownSource(f"no ledger record for {source.uri}; claim it first")
        return SourceRecord.from_document(self._data(snapshot))

    def _read_job(
        self, transaction: Transaction, ref: DocumentReference, attempt_id: str
    ) -> JobRecord:
        return self._job_record(self._read(transaction, ref), attempt_id)

    def _peek_job(self, ref: DocumentReference, attempt_id: str) -> JobRecord:
        return self._job_record(ref.get(), attempt_id)

    def _read_jobs(self, transaction: Transaction, attempt_ids: Iterable[str]) -> list[JobRecord]:
        refs = [self._job_ref(attempt_id) for attempt_id in attempt_ids]
        if not refs:
            return []
        snapshots = transaction.get_all(refs)
        return [JobRecord.from_document(self._data(s)) for s in snapshots if s.exists]

    def _job_record(
        self, snapshot: DocumentSnapshot[DocumentReference], attempt_id: str
    ) -> JobRecord:
        if not snapshot.exists:
            raise UnknownJob(f"no ledger record for attempt {attempt_id}")
        return JobRecord.from_document(self._data(snapshot))

    @staticmethod
    def _read(transaction: Transaction, ref: DocumentReference) -> DocumentSnapshot[Any]:
        return next(iter(transaction.get(ref)))

    @staticmethod
    def _data(snapshot: DocumentSnapshot[Any]) -> dict[str, Any]:
        return snapshot.to_dict() or {}

    def _job_ref(self, attempt_id: str) -> DocumentReference:
        return self._jobs.document(attempt_id)

    def _source_ref(self, source: SourceRef) -> DocumentReference:
        return self._sources.document(source.document_id)

    def _transact(self, work: Callable[[Transaction], _T]) -> _T:
        return run_transaction(self._client, work)


def _slot_id(number: int) -> str:
    return f"slot-{number:05d}"


def derived_changes(derived: SourceState, jobs: list[JobRecord], now: datetime) -> dict[str, Any]:
    """Fields a source gains on reaching `derived` from each part's latest attempt."""
    changes: dict[str, Any] = {AWAITING_NOTIFICATION: True} if derived in SOURCE_TERMINAL else {}
    if derived == SourceState.LOADED:
        changes["loaded_time"] = now
    elif derived == SourceState.FAILED:
        failed_parts = sorted(job.part for job in jobs if job.state == JobState.FAILED)
        changes["error"] = f"part(s) {failed_parts} failed"
        changes["failed_time"] = now
    elif derived != SourceState.SUBMITTED:
        changes[f"{derived.value}_time"] = now
    return changes
