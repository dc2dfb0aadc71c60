"""The job ledger in Firestore: what happened to each uploaded file and each of its jobs."""

from batchline.adapters.ledger.ledger import (
    JOBS_COLLECTION_SUFFIX,
    ClaimResult,
    JobLedger,
    JobRecord,
    LedgerError,
    SourceRecord,
    UnknownJob,
    UnknownSource,
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
