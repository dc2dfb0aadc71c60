"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs.

- `ledger`: JobLedger, the operations the steps use;
- `records`: the source and job documents, and the one table of their fields;
- `leases`: claims that lapse (submitting, loading, notifying);
- `transactions`: Firestore transactions retried on contention.
"""

from batchline.adapters.ledger.ledger import (
    JOBS_COLLECTION_SUFFIX,
    JobLedger,
    LedgerError,
    NotifyClaim,
    UnknownJob,
    UnknownSource,
)
from batchline.adapters.ledger.records import ClaimResult, JobRecord, SourceRecord

__all__ = [
    "JOBS_COLLECTION_SUFFIX",
    "ClaimResult",
    "JobLedger",
    "JobRecord",
    "LedgerError",
    "NotifyClaim",
    "SourceRecord",
    "UnknownJob",
    "UnknownSource",
]
