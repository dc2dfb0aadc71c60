"""Firestore transactions retried on contention through google.api_core.retry.

The library would retry an aborted commit at once, and contenders that aborted together then
collide again in lockstep. Here each try runs on a transaction of its own (max_attempts=1) and
the tries are spaced by api_core's exponential backoff with full jitter, which spreads them.
An abort during the reads surfaces as Aborted; one at commit as the library's ValueError
wrapping Aborted: both are contention. Contention that outlasts the timeout is a
LedgerContention, a TransientError: the event is delivered again later, with one warning
line and no stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient
    from google.cloud.firestore import Transaction

from batchline.domain.errors import TransientError

__all__ = ["CONTENTION_TIMEOUT_SECONDS", "LedgerContention", "run_transaction"]

# How long a transaction keeps trying under contention before the failure propagates (and the
# event is retried by the platform).
CONTENTION_TIMEOUT_SECONDS = 30.0

_T = TypeVar("_T")


class LedgerContention(TransientError):
    """Other attempts kept the same ledger documents busy past the contention timeout."""


def _contention(exc: Exception) -> bool:
    from google.api_core.exceptions import Aborted

    return isinstance(exc, Aborted) or (
        isinstance(exc, ValueError) and isinstance(exc.__cause__, Aborted)
    )


def run_transaction(
    client: FirestoreClient,
    work: Callable[[Transaction], _T],
    timeout: float = CONTENTION_TIMEOUT_SECONDS,
) -> _T:
    """Run `work` in a Firestore transaction, again (on a new one) while it meets contention,
    for up to `timeout` seconds; LedgerContention after that."""
    from google.api_core.exceptions import RetryError
    from google.api_core.retry import Retry
    from google.cloud.firestore import transactional

    def attempt() -> _T:
        result: _T = transactional(work)(client.transaction(max_attempts=1))
        return result

    retry: Any = Retry(
        predicate=_contention,
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        timeout=timeout,
    )
    try:
        result: _T = retry(attempt)()
    except RetryError as exc:
        if isinstance(exc.cause, Exception) and _contention(exc.cause):
            raise LedgerContention(f"the ledger stayed contended for {timeout:.0f} s") from exc
        raise
    return result
