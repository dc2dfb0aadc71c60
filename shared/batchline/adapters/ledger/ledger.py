"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs.

Layout (collection names from BATCHLINE_LEDGER_COLLECTION, default "batchline-jobs"):

- `<collection>/<sha256 of gs://bucket/object#generation>`: one document per source (one
  generation of one uploaded object) with bucket, object, generation, source_uri, state,
  attempt, part_count, parts (map "part number" -> job resource name), report_uri,
  error_count, error, totals and timestamps.
- `<collection>-parts/<sha256 of the job resource name>`: one document per Vertex AI job
  (one part of a source) with job_name, job_id, source_id, source_uri, part, state,
  vertex_state, output_prefix, finished_notified, totals, load_claimed_time, error and
  timestamps. A separate top-level collection, not a subcollection, so that a job is found
  by its name alone and "jobs in flight" is a plain single-field query (no collection-group
  index to provision).

Every change runs in a Firestore transaction that reads the current state and applies the
rules of `batchline.domain.states`, so a change happens once however often (and however
concurrently) an event arrives: the methods return True only to the caller that made it.
A job's change also re-derives its source's state in the same transaction.

Two leases guard against a worker that dies half-way: a `received` source whose claim is
older than `claim_lease` can be claimed again (the submit retry takes over), and a finished
job whose load claim is older than `load_lease` can be claimed for loading again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from batchline.domain.batch_jobs import job_id_from_name
from batchline.domain.states import (
    JOB_IN_FLIGHT,
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
    from google.cloud.firestore import (
        Client as FirestoreClient,
    )
    from google.cloud.firestore import (
        CollectionReference,
        DocumentReference,
        DocumentSnapshot,
        Transaction,
    )

__all__ = [
    "JOBS_COLLECTION_SUFFIX",
    "ClaimResult",
    "JobLedger",
    "JobRecord",
    "LedgerError",
    "SourceRecord",
    "UnknownJob",
    "UnknownSource",
]

JOBS_COLLECTION_SUFFIX: Final = "-parts"

# Fields the ledger manages itself; `transition_job(**fields)` may not overwrite them.
_MANAGED_JOB_FIELDS: Final = frozenset(
    {
        "job_name",
        "job_id",
        "source_id",
        "source_uri",
        "part",
        "state",
        "output_prefix",
        "finished_notified",
        "notified_time",
        "load_claimed_time",
        "load_attempt",
        "created_time",
        "updated_time",
    }
)

_T = TypeVar("_T")


class LedgerError(RuntimeError):
    """The ledger cannot do what was asked (a bug in the caller, not a transient failure)."""


class UnknownSource(LedgerError, KeyError):
    """No ledger record for this source: it was never claimed."""


class UnknownJob(LedgerError, KeyError):
    """No ledger record for this job: it was never recorded."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A source's ledger document, typed."""

    source: SourceRef
    state: SourceState
    attempt: int
    part_count: int | None
    parts: dict[int, str]
    report_uri: str | None
    error_count: int | None
    error: str | None
    totals: JobTotals | None
    created_time: datetime | None
    updated_time: datetime | None
    claimed_time: datetime | None
    loaded_time: datetime | None
    notified_time: datetime | None = None
    notify_claimed_time: datetime | None = None
    first_errors: tuple[str, ...] = ()

    @property
    def document_id(self) -> str:
        return self.source.document_id

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> SourceRecord:
        totals = data.get("totals")
        return cls(
            source=SourceRef(
                bucket=data["bucket"], name=data["object"], generation=int(data["generation"])
            ),
            state=SourceState(data["state"]),
            attempt=int(data.get("attempt") or 1),
            part_count=_optional_int(data.get("part_count")),
            parts={int(part): str(name) for part, name in (data.get("parts") or {}).items()},
            report_uri=data.get("report_uri"),
            error_count=_optional_int(data.get("error_count")),
            error=data.get("error"),
            totals=JobTotals.from_dict(totals) if isinstance(totals, Mapping) else None,
            created_time=data.get("created_time"),
            updated_time=data.get("updated_time"),
            claimed_time=data.get("claimed_time"),
            loaded_time=data.get("loaded_time"),
            notified_time=data.get("notified_time"),
            notify_claimed_time=data.get("notify_claimed_time"),
            first_errors=tuple(str(error) for error in data.get("first_errors") or ()),
        )


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job's ledger document, typed; fields given to transition_job are in `extra`."""

    job_name: str
    job_id: str
    source: SourceRef
    part: int
    state: JobState
    vertex_state: str | None
    output_prefix: str
    model: str | None
    finished_notified: bool
    totals: JobTotals | None
    error: str | None
    created_time: datetime | None
    updated_time: datetime | None
    load_claimed_time: datetime | None
    loaded_time: datetime | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> JobRecord:
        known = {
            "job_name",
            "job_id",
            "source_id",
            "source_uri",
            "part",
            "state",
            "vertex_state",
            "output_prefix",
            "model",
            "finished_notified",
            "totals",
            "error",
            "created_time",
            "updated_time",
            "load_claimed_time",
            "loaded_time",
        }
        totals = data.get("totals")
        return cls(
            job_name=data["job_name"],
            job_id=data["job_id"],
            source=SourceRef.parse(data["source_uri"]),
            part=int(data["part"]),
            state=JobState(data["state"]),
            vertex_state=data.get("vertex_state"),
            output_prefix=data["output_prefix"],
            model=data.get("model"),
            finished_notified=bool(data.get("finished_notified")),
            totals=JobTotals.from_dict(totals) if isinstance(totals, Mapping) else None,
            error=data.get("error"),
            created_time=data.get("created_time"),
            updated_time=data.get("updated_time"),
            load_claimed_time=data.get("load_claimed_time"),
            loaded_time=data.get("loaded_time"),
            extra={key: value for key, value in data.items() if key not in known},
        )


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """Whether this caller now owns the source's submission, and the record as it stands."""

    claimed: bool
    record: SourceRecord


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


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
        claim_lease: timedelta = timedelta(minutes=10),
        load_lease: timedelta = timedelta(minutes=15),
        notify_lease: timedelta = timedelta(minutes=2),
        max_attempts: int = 20,
    ) -> None:
        self._client = client
        self._sources: CollectionReference = client.collection(collection)
        self._jobs: CollectionReference = client.collection(collection + JOBS_COLLECTION_SUFFIX)
        self._clock = clock
        self.claim_lease = claim_lease
        self.load_lease = load_lease
        self.notify_lease = notify_lease
        self._max_attempts = max_attempts

    # --- sources ----------------------------------------------------------------------------

    def claim_source(self, source: SourceRef) -> ClaimResult:
        """Create the source's record in state `received`, once.

        claimed=True: this caller owns the submission (first claim, or a takeover of a
        `received` claim older than `claim_lease`, whose worker presumably died).
        claimed=False: someone else has it; `record.state` says where it stands. A `received`
        record then means "in progress elsewhere": raise to have the event retried, the lease
        lets a later retry take over if that worker died.
        """
        from google.api_core.exceptions import AlreadyExists

        ref = self._sources.document(source.document_id)
        now = self._clock()
        data = {
            "bucket": source.bucket,
            "object": source.name,
            "generation": source.generation,
            "source_uri": source.uri,
            "state": SourceState.RECEIVED.value,
            "attempt": 1,
            "parts": {},
            "created_time": now,
            "updated_time": now,
            "claimed_time": now,
        }
        try:
            # A create is one atomic write that fails if the document exists: exactly one
            # caller wins, without the lock contention of concurrent transactions.
            ref.create(data)
            return ClaimResult(True, SourceRecord.from_document(data))
        except AlreadyExists:
            pass

        def take_over(transaction: Transaction) -> ClaimResult:
            current = _data(_read(transaction, ref))
            record = SourceRecord.from_document(current)
            now = self._clock()
            claimed_time = record.claimed_time
            if record.state == SourceState.RECEIVED and (
                claimed_time is None or now - claimed_time >= self.claim_lease
            ):
                changes = {"attempt": record.attempt + 1, "claimed_time": now, "updated_time": now}
                transaction.update(ref, changes)
                return ClaimResult(True, SourceRecord.from_document({**current, **changes}))
            return ClaimResult(False, record)

        return self._transact(take_over)

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
        ref = self._sources.document(source.document_id)

        def submit(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            missing = sorted(set(range(1, part_count + 1)) - set(record.parts))
            if missing:
                raise LedgerError(f"{source.uri}: parts {missing} have no job recorded")
            jobs = self._read_jobs(transaction, record.parts.values())
            if decide_source(record.state, SourceState.SUBMITTED) != Outcome.APPLY:
                return False
            now = self._clock()
            changes: dict[str, Any] = {
                "state": SourceState.SUBMITTED.value,
                "part_count": part_count,
                "submitted_time": now,
                "updated_time": now,
            }
            derived = derive_source_state(
                SourceState.SUBMITTED, part_count, (job.state for job in jobs)
            )
            changes["state"] = derived.value
            changes.update(_source_changes_for(derived, jobs, now))
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
        source_ref = self._sources.document(source.document_id)
        job_ref = self._jobs.document(job_document_id(job_name))

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
            transaction.create(
                job_ref,
                {
                    "job_name": job_name,
                    "job_id": job_id_from_name(job_name),
                    "source_id": source.document_id,
                    "source_uri": source.uri,
                    "part": part,
                    "state": JobState.SUBMITTED.value,
                    "vertex_state": None,
                    "output_prefix": output_prefix,
                    "model": model,
                    "finished_notified": False,
                    "created_time": now,
                    "updated_time": now,
                    "submitted_time": now,
                },
            )
            return job_name

        return self._transact(record)

    def claim_source_notification(self, source: SourceRef) -> bool:
        """Claim the sending of the source's notification: True for one caller per
        `notify_lease`, and never once it was sent. Two completions that finish a source
        at the same moment (or a redelivery during the publish) then send it once."""
        ref = self._sources.document(source.document_id)

        def claim(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            now = self._clock()
            claimed = record.notify_claimed_time
            if record.notified_time is not None or (
                claimed is not None and now - claimed < self.notify_lease
            ):
                return False
            transaction.update(ref, {"notify_claimed_time": now, "updated_time": now})
            return True

        return self._transact(claim)

    def release_source_notification(self, source: SourceRef) -> None:
        """Give up a notification claim whose publish failed, for the retry to take."""
        self._release(self._sources.document(source.document_id), "notify_claimed_time")

    def release_claim(self, source: SourceRef) -> None:
        """Give up a `received` claim after a failure this attempt survived (a 429, a 503),
        so that the event's retry takes over at once instead of after `claim_lease`."""
        self._release(self._sources.document(source.document_id), "claimed_time")

    def release_job_load(self, job_name: str) -> None:
        """Give up a load claim after a failure this attempt survived."""
        self._release(self._jobs.document(job_document_id(job_name)), "load_claimed_time")

    def _release(self, ref: DocumentReference, field_name: str) -> None:
        # A plain update: clearing a lease early only lets a retry start sooner.
        ref.update({field_name: None, "updated_time": self._clock()})

    def mark_source_notified(self, source: SourceRef) -> bool:
        """Record that the source's completion notification went out; True the first time."""
        ref = self._sources.document(source.document_id)
        seen = self.get_source(source)
        if seen is None:
            raise UnknownSource(f"no ledger record for {source.uri}; claim it first")
        if seen.notified_time is not None:
            return False

        def mark(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if record.notified_time is not None:
                return False
            now = self._clock()
            transaction.update(ref, {"notified_time": now, "updated_time": now})
            return True

        return self._transact(mark)

    def get_source(self, source: SourceRef) -> SourceRecord | None:
        snapshot = self._sources.document(source.document_id).get()
        return SourceRecord.from_document(_data(snapshot)) if snapshot.exists else None

    def list_sources(self, limit: int = 20) -> list[SourceRecord]:
        """The most recently received sources first (for `batchline jobs`)."""
        from google.cloud.firestore import Query

        query = self._sources.order_by("created_time", direction=Query.DESCENDING).limit(limit)
        return [SourceRecord.from_document(_data(snapshot)) for snapshot in query.stream()]

    # --- jobs -------------------------------------------------------------------------------

    def get_job(self, job_name: str) -> JobRecord | None:
        snapshot = self._jobs.document(job_document_id(job_name)).get()
        return JobRecord.from_document(_data(snapshot)) if snapshot.exists else None

    def list_jobs_for_source(self, source: SourceRef) -> list[JobRecord]:
        """A source's jobs, by part number."""
        from google.cloud.firestore import FieldFilter

        query = self._jobs.where(filter=FieldFilter("source_id", "==", source.document_id))
        jobs = [JobRecord.from_document(_data(snapshot)) for snapshot in query.stream()]
        return sorted(jobs, key=lambda job: job.part)

    def list_in_flight_jobs(self) -> list[JobRecord]:
        """Jobs in state submitted or running: the ones a poll must look at."""
        from google.cloud.firestore import FieldFilter

        states = sorted(state.value for state in JOB_IN_FLIGHT)
        query = self._jobs.where(filter=FieldFilter("state", "in", states))
        return [JobRecord.from_document(_data(snapshot)) for snapshot in query.stream()]

    def list_jobs_to_notify(self) -> list[JobRecord]:
        """Finished jobs whose job-finished message was not confirmed sent (a poll resends)."""
        from google.cloud.firestore import FieldFilter

        query = self._jobs.where(filter=FieldFilter("state", "==", JobState.FINISHED.value)).where(
            filter=FieldFilter("finished_notified", "==", False)
        )
        return [JobRecord.from_document(_data(snapshot)) for snapshot in query.stream()]

    def transition_job(self, job_name: str, new_state: JobState, **fields: Any) -> bool:
        """Move a job to `new_state`, storing `fields` with it; True only for the caller that
        made the change (a repeated or late event gets False and writes nothing).

        `fields` are extra values to keep on the job (vertex_state, error, output_directory,
        start_time, ...): Firestore values, not the ledger's own fields. The source's state
        is re-derived from its jobs in the same transaction.
        """
        clashing = sorted(set(fields) & _MANAGED_JOB_FIELDS)
        if clashing:
            raise ValueError(f"fields managed by the ledger cannot be set: {clashing}")
        return self._move_job(job_name, JobState(new_state), fields)

    def mark_finished_notified(self, job_name: str) -> bool:
        """Record that the job-finished message went out; True the first time."""
        ref = self._jobs.document(job_document_id(job_name))
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
        """Claim the loading of a finished job's rows; True for one caller per `load_lease`.

        False when the job is loaded already, is not finished, or someone claimed it less
        than `load_lease` ago (a retry after that takes over from a worker that died).
        """
        ref = self._jobs.document(job_document_id(job_name))
        if not self._may_claim_load(self._peek_job(ref, job_name)):
            return False

        def claim(transaction: Transaction) -> bool:
            job = self._read_job(transaction, ref, job_name)
            if not self._may_claim_load(job):
                return False
            now = self._clock()
            attempt = int(job.extra.get("load_attempt") or 0) + 1
            transaction.update(
                ref, {"load_claimed_time": now, "load_attempt": attempt, "updated_time": now}
            )
            return True

        return self._transact(claim)

    def mark_job_loaded(self, job_name: str, totals: JobTotals, **fields: Any) -> bool:
        """finished -> loaded with the job's totals; the source becomes loaded with its last
        part. True only for the caller that made the change."""
        return self.transition_job(job_name, JobState.LOADED, totals=totals.as_dict(), **fields)

    def _may_claim_load(self, job: JobRecord) -> bool:
        if job.state != JobState.FINISHED:
            return False
        claimed = job.load_claimed_time
        return claimed is None or self._clock() - claimed >= self.load_lease

    # --- machinery --------------------------------------------------------------------------

    def _move_source(
        self, source: SourceRef, requested: SourceState, changes: Mapping[str, Any]
    ) -> bool:
        ref = self._sources.document(source.document_id)

        def move(transaction: Transaction) -> bool:
            record = self._read_source(transaction, ref, source)
            if decide_source(record.state, requested) != Outcome.APPLY:
                return False
            now = self._clock()
            transaction.update(
                ref,
                {
                    **changes,
                    "state": requested.value,
                    f"{requested.value}_time": now,
                    "updated_time": now,
                },
            )
            return True

        return self._transact(move)

    def _move_job(self, job_name: str, requested: JobState, fields: Mapping[str, Any]) -> bool:
        job_ref = self._jobs.document(job_document_id(job_name))
        # A plain read first: a repeated or late event (the common case under at-least-once
        # delivery) is answered without a transaction. States only move forward, so what this
        # read shows as done stays done.
        seen = self._peek_job(job_ref, job_name)
        if decide_job(seen.state, requested) != Outcome.APPLY:
            return False

        def move(transaction: Transaction) -> bool:
            # Firestore transactions read everything before the first write.
            job = self._read_job(transaction, job_ref, job_name)
            source_ref = self._sources.document(job.source.document_id)
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
            moved = _with_state(job, requested, fields.get("totals"))
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
        refs = [self._jobs.document(job_document_id(name)) for name in job_names]
        if not refs:
            return []
        snapshots = transaction.get_all(refs)
        return [JobRecord.from_document(_data(s)) for s in snapshots if s.exists]

    def _transact(self, work: Callable[[Transaction], _T]) -> _T:
        """Run `work` in a transaction, again on contention, with jittered backoff.

        The library would retry an aborted commit at once; contenders that aborted together
        then collide again in lockstep. One attempt per transaction object, and a random
        pause between attempts, spreads them out. An abort during the reads surfaces as
        Aborted, one at commit as the library's ValueError wrapping Aborted.
        """
        from google.api_core.exceptions import Aborted
        from google.cloud.firestore import transactional

        attempts = 0
        while True:
            attempts += 1
            transaction = self._client.transaction(max_attempts=1)
            try:
                result: _T = transactional(work)(transaction)
                return result
            except Aborted:
                if attempts >= self._max_attempts:
                    raise
            except ValueError as exc:
                if not isinstance(exc.__cause__, Aborted) or attempts >= self._max_attempts:
                    raise
            time.sleep(random.uniform(0, 0.1) * min(attempts, 5))


def _read(transaction: Transaction, ref: DocumentReference) -> DocumentSnapshot[DocumentReference]:
    return next(iter(transaction.get(ref)))


def _job_record(snapshot: DocumentSnapshot[DocumentReference], job_name: str) -> JobRecord:
    if not snapshot.exists:
        raise UnknownJob(f"no ledger record for job {job_name}; record it first")
    return JobRecord.from_document(_data(snapshot))


def _data(snapshot: DocumentSnapshot[DocumentReference]) -> dict[str, Any]:
    return snapshot.to_dict() or {}


def _with_state(job: JobRecord, state: JobState, totals: Any) -> JobRecord:
    return JobRecord(
        job_name=job.job_name,
        job_id=job.job_id,
        source=job.source,
        part=job.part,
        state=state,
        vertex_state=job.vertex_state,
        output_prefix=job.output_prefix,
        model=job.model,
        finished_notified=job.finished_notified,
        totals=JobTotals.from_dict(totals) if isinstance(totals, Mapping) else job.totals,
        error=job.error,
        created_time=job.created_time,
        updated_time=job.updated_time,
        load_claimed_time=job.load_claimed_time,
        loaded_time=job.loaded_time,
        extra=job.extra,
    )


def _source_changes_for(
    derived: SourceState, jobs: list[JobRecord], now: datetime
) -> dict[str, Any]:
    """Fields a source gains on reaching `derived` from its jobs."""
    changes: dict[str, Any] = {}
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
