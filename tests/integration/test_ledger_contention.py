"""Ledger transactions under contention, on the Firestore emulator: retried while another
transaction holds the document, a TransientError once that outlasts the timeout.

The emulator locks a document a transaction has read and aborts a contending commit with
ABORTED "Transaction lock timeout." after about 2 s; Firestore aborts contended
transactions as well (https://cloud.google.com/firestore/docs/transaction-data-contention).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from batchline.adapters.ledger.transactions import LedgerContention, run_transaction
from batchline.domain.errors import TransientError

pytestmark = pytest.mark.integration


@pytest.fixture
def client(firestore_emulator: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project="batchline-contention")


def hold(client: Any, document: Any, seconds: float) -> threading.Timer:
    """Keep `document` read by an open transaction for `seconds`."""
    transaction = client.transaction()
    transaction._begin()
    document.get(transaction=transaction)
    timer = threading.Timer(seconds, transaction._rollback)
    timer.start()
    return timer


def increment(document: Any) -> Any:
    def work(transaction: Any) -> int:
        value = int(document.get(transaction=transaction).get("value")) + 1
        transaction.update(document, {"value": value})
        return value

    return work


def test_a_transaction_waits_out_a_short_contention(client: Any) -> None:
    document = client.collection("counters").document(uuid.uuid4().hex)
    document.set({"value": 1})
    released = hold(client, document, 1.0)
    assert run_transaction(client, increment(document), timeout=20) == 2
    released.join()
    assert document.get().get("value") == 2


def test_contention_past_the_timeout_is_a_transient_error(client: Any) -> None:
    document = client.collection("counters").document(uuid.uuid4().hex)
    document.set({"value": 1})
    released = hold(client, document, 6.0)
    try:
        with pytest.raises(LedgerContention, match="contended for 1 s") as raised:
            run_transaction(client, increment(document), timeout=1.0)
    finally:
        released.join()
    assert isinstance(raised.value, TransientError)
    assert document.get().get("value") == 1, "nothing written"
