"""The notification claim as the announcer uses it, with a ledger of our own in memory: a
live claim seen on the record backs off without a transaction, a lapsed one is taken over,
a failed publish gives the claim back and one whose outcome is unknown keeps it."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchline.adapters.ledger import NotifyClaim, SourceRecord
from batchline.adapters.ledger.leases import Lease
from batchline.adapters.pubsub import Publisher, PublishOutcomeUnknown
from batchline.domain.states import SourceRef, SourceState
from batchline.steps.announce import Announcer, NotificationInProgress

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)
SOURCE = SourceRef("in", "bad.jsonl", 7)


@dataclass
class Settings:
    model: str = "gemini-3.5-flash"
    prices: dict[str, Any] = field(default_factory=dict)
    notify_lease: timedelta = LEASE


@dataclass
class MemoryLedger:
    """The announcer's side of the ledger, with each call it received."""

    record: SourceRecord
    calls: list[str] = field(default_factory=list)
    notify_lease: Lease = field(default_factory=lambda: Lease("notify_claimed_time", LEASE))

    def get_source(self, source: SourceRef) -> SourceRecord:
        return self.record

    def claim_source_notification(self, source: SourceRef, state: SourceState) -> NotifyClaim:
        self.calls.append("claim")
        self.record = replace(self.record, notify_claimed_time=NOW)
        return NotifyClaim.CLAIMED

    def release_source_notification(self, source: SourceRef) -> None:
        self.calls.append("release")
        self.record = replace(self.record, notify_claimed_time=None)

    def mark_source_notified(self, source: SourceRef, state: SourceState) -> bool:
        self.calls.append("mark")
        self.record = replace(self.record, notified_time=NOW)
        return True


class FailingPublisher:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def notify(self, notification: Any) -> str:
        raise self.error


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def notify(self, notification: Any) -> str:
        self.sent.append(notification)
        return "1"


def rejected(claimed: datetime | None = None) -> SourceRecord:
    return SourceRecord(
        source=SOURCE,
        state=SourceState.REJECTED,
        report_uri="gs://in/r.txt",
        error_count=1,
        notify_claimed_time=claimed,
    )


def announcer(ledger: MemoryLedger, publisher: Any) -> Announcer:
    return Announcer(Settings(), ledger, publisher, "p.t", "p.j", now=lambda: NOW)  # type: ignore[arg-type]


def test_a_live_claim_on_the_record_backs_off_without_claiming() -> None:
    ledger = MemoryLedger(rejected(claimed=NOW - LEASE / 2))
    with pytest.raises(NotificationInProgress):
        announcer(ledger, RecordingPublisher()).announce_if_done(SOURCE)
    assert ledger.calls == []


def test_a_lapsed_claim_is_taken_over_and_the_notification_sent_once() -> None:
    ledger = MemoryLedger(rejected(claimed=NOW - LEASE - timedelta(seconds=1)))
    publisher = RecordingPublisher()
    assert announcer(ledger, publisher).announce_if_done(SOURCE)
    assert [n.event for n in publisher.sent] == ["file.rejected"]
    assert ledger.calls == ["claim", "mark"]


def test_a_failed_publish_gives_the_claim_back_for_the_retry() -> None:
    from google.api_core.exceptions import ServiceUnavailable

    ledger = MemoryLedger(rejected())
    with pytest.raises(ServiceUnavailable):
        announcer(ledger, FailingPublisher(ServiceUnavailable("down"))).announce_if_done(SOURCE)
    assert ledger.calls == ["claim", "release"]


def test_a_publish_of_unknown_outcome_keeps_the_claim_until_it_lapses() -> None:
    ledger = MemoryLedger(rejected())
    unknown = PublishOutcomeUnknown("not settled")
    with pytest.raises(PublishOutcomeUnknown):
        announcer(ledger, FailingPublisher(unknown)).announce_if_done(SOURCE)
    assert ledger.calls == ["claim"]
    # The redelivery finds the claim live and waits: no second publish while it may go out.
    with pytest.raises(NotificationInProgress):
        announcer(ledger, RecordingPublisher()).announce_if_done(SOURCE)


class StalledClient:
    """A publisher client whose batch never settles (its thread stalled)."""

    def publish(self, topic: str, data: bytes, **kwargs: Any) -> concurrent.futures.Future[str]:
        return concurrent.futures.Future()


def test_a_publish_the_client_never_settles_is_of_unknown_outcome() -> None:
    publisher = Publisher(StalledClient(), "projects/p/topics/t", timeout=0.2)
    with pytest.raises(PublishOutcomeUnknown, match="not settled"):
        publisher.publish(b"{}", {})
