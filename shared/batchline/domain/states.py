"""The job ledger's rules, without Firestore: which state may follow which, and what a repeated
or late event means. `batchline.adapters.ledger` applies them inside Firestore transactions.

A source is one generation of one uploaded object. It moves:

    received -> rejected                      (the file failed validation; terminal)
    received -> submitted -> running -> finished -> loaded
    received -> held -> submitted             (over a cost limit: held until released)
    any non-terminal state -> failed          (the pipeline gave up; terminal)

Once submitted, a source's state is derived from its parts: the latest attempt of each part
(one Vertex AI batch prediction job each) counts, the least advanced sets the source's state,
and it never moves backwards, except that a resume (a new attempt at a part's failed lines)
takes a finished source back to running. An attempt moves:

    queued -> starting -> submitted -> running -> finished -> loaded
    starting -> queued                        (creating its job was refused for now: later)
    submitted -> finished                     (the job ended between two polls)
    any non-terminal state -> failed

`queued` waits for capacity (BATCHLINE_MAX_RUNNING_JOBS); `starting` holds a claim while its
job is being created. `finished` means Vertex AI reached a terminal state (SUCCEEDED, FAILED,
CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED; the Vertex state is kept beside it): even a failed
Vertex job has rows to load. `failed` means Batchline gave up on the attempt (say, its output
could not be read).

An event that asks for the state a record already has is a duplicate; one that asks for an
earlier state, or any change of a terminal record, is stale. Both are ignored without error,
which is what makes at-least-once delivery safe. Skipping a step that carries work (loading a
job that never finished) is a programming error: InvalidTransition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "JOB_IN_FLIGHT",
    "JOB_TERMINAL",
    "JOB_WATCHED",
    "SOURCE_ANNOUNCED",
    "SOURCE_TERMINAL",
    "InvalidTransition",
    "JobState",
    "Outcome",
    "SourceRef",
    "SourceState",
    "attempt_document_id",
    "decide_job",
    "decide_source",
    "derive_source_state",
]


class SourceState(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    # Valid, staged, but over BATCHLINE_MAX_FILE_COST_USD or the day's budget: no job until
    # `batchline release`.
    HELD = "held"
    SUBMITTED = "submitted"
    RUNNING = "running"
    FINISHED = "finished"
    LOADED = "loaded"
    FAILED = "failed"


class JobState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    FINISHED = "finished"
    LOADED = "loaded"
    FAILED = "failed"


class Outcome(StrEnum):
    """What a requested transition amounts to."""

    APPLY = "apply"  # a real change: write it
    DUPLICATE = "duplicate"  # already in that state: a repeated event
    STALE = "stale"  # the record is further along, or terminal: a late event


SOURCE_TERMINAL = frozenset({SourceState.REJECTED, SourceState.LOADED, SourceState.FAILED})
# Where a file's story ends for now, so its one notification is due: the terminal states, and
# held (file.held; a release later ends in a notification of its own).
SOURCE_ANNOUNCED = SOURCE_TERMINAL | {SourceState.HELD}
JOB_TERMINAL = frozenset({JobState.LOADED, JobState.FAILED})
# What counts against BATCHLINE_MAX_RUNNING_JOBS: attempts whose job exists or is being made.
JOB_IN_FLIGHT = frozenset({JobState.STARTING, JobState.SUBMITTED, JobState.RUNNING})
# What a poll asks Vertex AI about: attempts whose job exists and has not ended.
JOB_WATCHED = frozenset({JobState.SUBMITTED, JobState.RUNNING})

# Position along the main path; a request to go to a lower rank is stale.
_SOURCE_RANK = {
    SourceState.RECEIVED: 0,
    SourceState.HELD: 1,
    SourceState.SUBMITTED: 2,
    SourceState.RUNNING: 3,
    SourceState.FINISHED: 4,
    SourceState.LOADED: 5,
}
_JOB_RANK = {
    JobState.QUEUED: 0,
    JobState.STARTING: 1,
    JobState.SUBMITTED: 2,
    JobState.RUNNING: 3,
    JobState.FINISHED: 4,
    JobState.LOADED: 5,
}

# Forward moves along the main path; any other forward jump skips work.
_SOURCE_FORWARD = {
    SourceState.RECEIVED: frozenset(
        {SourceState.SUBMITTED, SourceState.REJECTED, SourceState.HELD}
    ),
    SourceState.HELD: frozenset({SourceState.SUBMITTED}),
    # Derived from the jobs, which may all have moved on between two writes.
    SourceState.SUBMITTED: frozenset(
        {SourceState.RUNNING, SourceState.FINISHED, SourceState.LOADED}
    ),
    SourceState.RUNNING: frozenset({SourceState.FINISHED, SourceState.LOADED}),
    SourceState.FINISHED: frozenset({SourceState.LOADED}),
}
_JOB_FORWARD = {
    JobState.QUEUED: frozenset({JobState.STARTING}),
    JobState.STARTING: frozenset({JobState.SUBMITTED}),
    JobState.SUBMITTED: frozenset({JobState.RUNNING, JobState.FINISHED}),
    JobState.RUNNING: frozenset({JobState.FINISHED}),
    JobState.FINISHED: frozenset({JobState.LOADED}),
}


class InvalidTransition(ValueError):
    """A transition that skips a step with work in it: a bug in the caller, not an event."""


def decide_source(current: SourceState, requested: SourceState) -> Outcome:
    """What moving a source from `current` to `requested` means."""
    if requested == current:
        return Outcome.DUPLICATE
    if current in SOURCE_TERMINAL:
        return Outcome.STALE
    if requested == SourceState.FAILED:
        return Outcome.APPLY
    if requested == SourceState.REJECTED:
        # Only a file still being checked can be rejected; later it has jobs.
        if current == SourceState.RECEIVED:
            return Outcome.APPLY
        raise InvalidTransition(f"a {current} source cannot be rejected")
    if _SOURCE_RANK[requested] < _SOURCE_RANK[current]:
        return Outcome.STALE
    if requested in _SOURCE_FORWARD[current]:
        return Outcome.APPLY
    raise InvalidTransition(f"a source cannot go from {current} to {requested}")


def decide_job(current: JobState, requested: JobState) -> Outcome:
    """What moving a job from `current` to `requested` means."""
    if requested == current:
        return Outcome.DUPLICATE
    if current in JOB_TERMINAL:
        return Outcome.STALE
    if requested == JobState.FAILED:
        return Outcome.APPLY
    if _JOB_RANK[requested] < _JOB_RANK[current]:
        return Outcome.STALE
    if requested in _JOB_FORWARD[current]:
        return Outcome.APPLY
    raise InvalidTransition(f"a job cannot go from {current} to {requested}")


def derive_source_state(
    current: SourceState, part_count: int | None, job_states: Iterable[JobState]
) -> SourceState:
    """The state a source should have given its jobs; never earlier than `current`.

    `job_states` are the states of each part's latest attempt. Until the submitter has
    queued every part (`part_count` None), the source stays where it is. A failed attempt
    fails the source once every other part is done with (loaded or failed), so the loaded
    parts still count and nothing waits on a job that will never load.
    """
    if (
        current in SOURCE_TERMINAL
        or current in (SourceState.RECEIVED, SourceState.HELD)
        or part_count is None
    ):
        return current
    states = list(job_states)
    if len(states) < part_count:
        return current
    if any(state == JobState.FAILED for state in states):
        if all(state in JOB_TERMINAL for state in states):
            return SourceState.FAILED
        derived = SourceState.RUNNING
    elif all(state == JobState.LOADED for state in states):
        derived = SourceState.LOADED
    elif all(state in (JobState.FINISHED, JobState.LOADED) for state in states):
        derived = SourceState.FINISHED
    elif all(state in (JobState.QUEUED, JobState.STARTING, JobState.SUBMITTED) for state in states):
        derived = SourceState.SUBMITTED
    else:
        derived = SourceState.RUNNING
    return derived if _SOURCE_RANK[derived] > _SOURCE_RANK[current] else current


@dataclass(frozen=True, slots=True)
class SourceRef:
    """One generation of one object in the input bucket: the unit the ledger tracks."""

    bucket: str
    name: str
    generation: int

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ValueError(f"not a bucket name: {self.bucket!r}")
        if not self.name:
            raise ValueError("an object name is required")
        if self.generation <= 0:
            raise ValueError(f"an object generation is a positive number, not {self.generation}")

    @property
    def uri(self) -> str:
        """gs://bucket/object#generation, the form the predictions table stores."""
        return f"gs://{self.bucket}/{self.name}#{self.generation}"

    @property
    def object_uri(self) -> str:
        """gs://bucket/object, without the generation (what Vertex AI and BigQuery take)."""
        return f"gs://{self.bucket}/{self.name}"

    @property
    def document_id(self) -> str:
        """A Firestore-safe id: object names may hold '/' and other characters ids may not."""
        return hashlib.sha256(self.uri.encode("utf-8")).hexdigest()

    @classmethod
    def parse(cls, uri: str) -> SourceRef:
        """Read gs://bucket/object#generation back."""
        if not uri.startswith("gs://"):
            raise ValueError(f"not a gs:// URI: {uri!r}")
        path, sep, generation = uri[5:].rpartition("#")
        bucket, slash, name = path.partition("/")
        if not sep or not slash or not generation.isdigit():
            raise ValueError(f"expected gs://bucket/object#generation, got {uri!r}")
        return cls(bucket=bucket, name=name, generation=int(generation))


def attempt_document_id(source: SourceRef, part: int, attempt: int) -> str:
    """A Firestore-safe id for one attempt at one part of a source (known before its job is)."""
    return hashlib.sha256(f"{source.uri}|part={part}|attempt={attempt}".encode()).hexdigest()
