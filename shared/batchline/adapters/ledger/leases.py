"""Claims that lapse: how one attempt owns a piece of work until it is done or dies.

A lease is a timestamp field on a document. Claiming writes now into it, in a transaction that
first checks that no live claim is there (`held`); releasing clears it, so that a retry may go
ahead at once; an attempt that died leaves it to lapse after `duration`, and the next attempt
takes over. The ledger's three claims (submitting a source, loading a job, sending a source's
notification) are all leases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["Lease"]


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim stored in the document field `field`, live for `duration` after it is taken."""

    field: str
    duration: timedelta

    def held(self, document: Mapping[str, Any], now: datetime) -> bool:
        """Someone claimed it less than `duration` ago."""
        return self.live(document.get(self.field), now)

    def live(self, claimed: object, now: datetime) -> bool:
        """Whether a claim taken at `claimed` (the field's value, None when unclaimed) still
        holds at `now`."""
        return isinstance(claimed, datetime) and now - claimed < self.duration

    def claim(self, now: datetime) -> dict[str, Any]:
        """The changes that take the lease."""
        return {self.field: now, "updated_time": now}

    def release(self, now: datetime) -> dict[str, Any]:
        """The changes that give it up."""
        return {self.field: None, "updated_time": now}
