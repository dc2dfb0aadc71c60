"""What the ledger refuses: a caller's mistake, never a transient failure."""

from __future__ import annotations

__all__ = ["LedgerError", "UnknownJob", "UnknownSource"]


class LedgerError(RuntimeError):
    """The ledger cannot do what was asked (a bug in the caller, not a transient failure)."""


class UnknownSource(LedgerError, KeyError):
    """No ledger record for this source: it was never claimed."""


class UnknownJob(LedgerError, KeyError):
    """No ledger record for this attempt: it was never queued."""
