"""The ledger's two kinds of Firestore document, and the one table of their fields.

Each record class lists the document's fields once (its dataclass fields, with how a stored
value is read back); reading a document, writing a new one and refusing writes to fields the
ledger manages itself all use that table.

- A source document (`<collection>/<sha256 of gs://bucket/object#generation>`) per uploaded
  object generation: where it stands, each part's latest attempt, its report or error.
- A job document (`<collection>-parts/<sha256 of source, part and attempt>`) per attempt at a
  part: one Vertex AI job, known before the job exists (it waits `queued`), with its input,
  its state and the Vertex state beside it, its totals and its claims.

Beside them, the values of starting an attempt: NewAttempt (one to queue) and StartClaim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from batchline.domain.states import JobState, SourceRef, SourceState, attempt_document_id
from batchline.domain.totals import JobTotals

__all__ = [
    "JOB_FIELDS_SET_BY_TRANSITIONS",
    "ClaimResult",
    "JobRecord",
    "SourceRecord",
]


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _totals(value: Any) -> JobTotals | None:
    return JobTotals.from_dict(value) if isinstance(value, Mapping) else None


def _parts(value: Any) -> dict[int, int]:
    return {int(part): int(attempt) for part, attempt in (value or {}).items()}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


# How a stored value is read back, for the fields that are not stored as they are typed.
_SOURCE_READERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "state": SourceState,
    "attempt": lambda value: int(value or 1),
    "part_count": _optional_int,
    "parts": _parts,
    "error_count": _optional_int,
    "first_errors": _strings,
}
_JOB_READERS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "part": int,
    "attempt": lambda value: int(value or 1),
    "state": JobState,
    "input_uris": _strings,
    "finished_notified": bool,
    "stalled_logged": bool,
    "totals": _totals,
    "load_attempt": lambda value: int(value or 0),
    "start_failures": lambda value: int(value or 0),
}


def _read_fields(
    cls: type[Any], data: Mapping[str, Any], readers: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in fields(cls):
        if item.name in ("source", "extra"):
            continue
        raw = data.get(item.name)
        values[item.name] = readers[item.name](raw) if item.name in readers else raw
    return values


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A source's ledger document, typed. `bucket`, `object` and `generation` are stored as
    fields of their own (and as `source_uri`); they make up `source`."""

    source: SourceRef
    state: SourceState
    attempt: int = 1  # of the submit step's claim: how many attempts took it on
    part_count: int | None = None
    parts: dict[int, int] = field(default_factory=dict)  # part -> its latest attempt
    report_uri: str | None = None
    error_count: int | None = None
    error: str | None = None
    model: str | None = None
    created_time: datetime | None = None
    updated_time: datetime | None = None
    claimed_time: datetime | None = None
    loaded_time: datetime | None = None
    notified_time: datetime | None = None
    notify_claimed_time: datetime | None = None
    first_errors: tuple[str, ...] = ()
    # The budget guard: the file's estimate (FileEstimate.to_json) and, while or since it was
    # held, the hold (batchline.domain.budget.Hold.to_json).
    estimate: dict[str, Any] | None = None
    hold: dict[str, Any] | None = None
    held_time: datetime | None = None
    released_time: datetime | None = None

    @property
    def document_id(self) -> str:
        return self.source.document_id

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> SourceRecord:
        source = SourceRef(data["bucket"], data["object"], int(data["generation"]))
        return cls(source=source, **_read_fields(cls, data, _SOURCE_READERS))

    @staticmethod
    def new_document(source: SourceRef, now: datetime) -> dict[str, Any]:
        """A freshly claimed source: `received`, claimed now."""
        return {
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


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One attempt at one part of a source, typed: a Vertex AI job once it is created
    (`job_name` is None while it waits). Stored fields the table does not name are in `extra`
    (the times of each state, the output directory, the last start error, ...)."""

    attempt_id: str
    source_uri: str
    source_id: str
    part: int
    attempt: int
    state: JobState
    input_uris: tuple[str, ...]
    index_name: str  # the work bucket's object listing this attempt's input lines and keys
    output_prefix: str
    job_name: str | None = None
    job_id: str | None = None
    vertex_state: str | None = None
    model: str | None = None
    finished_notified: bool = False
    totals: JobTotals | None = None
    error: str | None = None
    created_time: datetime | None = None
    updated_time: datetime | None = None
    not_before: datetime | None = None
    start_failures: int = 0
    start_claimed_time: datetime | None = None
    load_claimed_time: datetime | None = None
    load_attempt: int = 0
    loaded_time: datetime | None = None
    notified_time: datetime | None = None
    stalled_logged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> SourceRef:
        return SourceRef.parse(self.source_uri)

    @property
    def label(self) -> str:
        """How logs and messages name it: its job, or its part and attempt while it waits."""
        return self.job_name or f"{self.source_uri} part {self.part} attempt {self.attempt}"

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> JobRecord:
        extra = {key: value for key, value in data.items() if key not in _JOB_FIELD_NAMES}
        return cls(extra=extra, **_read_fields(cls, data, _JOB_READERS))

    def new_document(self, now: datetime) -> dict[str, Any]:
        """The document that records this attempt for the first time."""
        document = {name: getattr(self, name) for name in _JOB_FIELD_NAMES}
        document.update(
            state=self.state.value,
            input_uris=list(self.input_uris),
            totals=self.totals.as_dict() if self.totals else None,
            created_time=now,
            updated_time=now,
            **{f"{self.state.value}_time": now},
        )
        return document


_JOB_FIELD_NAMES: Final = frozenset(item.name for item in fields(JobRecord)) - {"extra"}
# What `transition_job(**fields)` may store beside a state change: the table's fields the
# ledger does not manage itself, and any field outside the table.
JOB_FIELDS_SET_BY_TRANSITIONS: Final = frozenset(
    {"vertex_state", "model", "totals", "error", "loaded_time"}
)
MANAGED_JOB_FIELDS: Final = _JOB_FIELD_NAMES - JOB_FIELDS_SET_BY_TRANSITIONS


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """Whether this caller now owns the source's submission, and the record as it stands."""

    claimed: bool
    record: SourceRecord


class StartOutcome(StrEnum):
    CLAIMED = "claimed"  # this caller creates the job
    NOT_DUE = "not due"  # backing off, claimed by a live caller, or started already
    FULL = "full"  # the running-jobs cap is reached: nothing more starts now


@dataclass(frozen=True, slots=True)
class StartClaim:
    outcome: StartOutcome
    job: JobRecord | None = None


@dataclass(frozen=True, slots=True)
class NewAttempt:
    """An attempt to queue: which part, which attempt, what its job reads and writes."""

    part: int
    attempt: int
    input_uris: tuple[str, ...]
    index_name: str
    output_prefix: str
    # The previous attempt's lines it asks again: failed ones, and ones never answered.
    asks_failed: int = 0
    asks_missing: int = 0

    def record(self, source: SourceRef, model: str) -> JobRecord:
        return JobRecord(
            attempt_id=attempt_document_id(source, self.part, self.attempt),
            source_uri=source.uri,
            source_id=source.document_id,
            part=self.part,
            attempt=self.attempt,
            state=JobState.QUEUED,
            input_uris=self.input_uris,
            index_name=self.index_name,
            output_prefix=self.output_prefix,
            model=model,
        )
