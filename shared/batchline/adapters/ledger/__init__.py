"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs.

- `ledger`: JobLedger, the operations the steps use (a source's submission and notification);
- `attempts`: the attempts at a source's parts (queued, started, watched, loaded, resumed);
- `records`: the source and attempt documents, the one table of their fields, and the
  values of starting an attempt (NewAttempt, StartClaim);
- `leases`: claims that lapse (submitting, starting, loading, notifying);
- `transactions`: Firestore transactions retried on contention;
- `errors`: what the ledger refuses.
"""

from batchline.adapters.ledger.errors import LedgerError, UnknownJob, UnknownSource
from batchline.adapters.ledger.ledger import (
    JOBS_COLLECTION_SUFFIX,
    JobLedger,
    NotifyClaim,
    QueueOutcome,
)
from batchline.adapters.ledger.records import (
    ClaimResult,
    JobRecord,
    NewAttempt,
    SourceRecord,
    StartClaim,
    StartOutcome,
)

__all__ = [
    "JOBS_COLLECTION_SUFFIX",
    "ClaimResult",
    "JobLedger",
    "JobRecord",
    "LedgerError",
    "NewAttempt",
    "NotifyClaim",
    "QueueOutcome",
    "SourceRecord",
    "StartClaim",
    "StartOutcome",
    "UnknownJob",
    "UnknownSource",
]
