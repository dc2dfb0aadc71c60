"""The BigQuery emulator in-process, the official client pointed at it, a fresh dataset.

Every answer the emulator sends during a test is checked against BigQuery's v2 discovery
document afterwards: a test whose traffic does not conform fails in teardown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from localcloud.bigquery import BigQueryEmulator, Exchange
from localcloud.bigquery.conformance import DiscoveryDocument
from localcloud.ports import wait_until_healthy

PROJECT = "batchline-test"


def make_client(url: str, project: str = PROJECT) -> bigquery.Client:
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )


def nonconforming(exchanges: list[Exchange]) -> list[str]:
    """Every way the recorded answers differ from the discovery document."""
    document = DiscoveryDocument.bundled()
    problems = []
    for exchange in exchanges:
        if exchange.body is None or exchange.method_id is None:
            continue
        for problem in document.check_response(
            exchange.method_id, exchange.body, error=exchange.status >= 400
        ):
            problems.append(f"{exchange.http_method} {exchange.path} {exchange.status}: {problem}")
    return problems


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[BigQueryEmulator]:
    """The emulator in memory on a free port, recording answers for conformance checks."""
    emulator = BigQueryEmulator(port=0, record_exchanges=True).start()
    wait_until_healthy(f"{emulator.url}/healthz")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(autouse=True)
def answers_conform(bigquery_emulator: BigQueryEmulator) -> Iterator[None]:
    bigquery_emulator.take_exchanges()
    yield
    bigquery_emulator.faults.clear()
    problems = nonconforming(bigquery_emulator.take_exchanges())
    assert not problems, "answers differ from the BigQuery v2 discovery document:\n" + "\n".join(
        problems
    )


@pytest.fixture
def client(bigquery_emulator: BigQueryEmulator) -> bigquery.Client:
    return make_client(bigquery_emulator.url)


@pytest.fixture
def client_for() -> Callable[[str], bigquery.Client]:
    """Builds a client for another emulator (one a test starts itself)."""
    return make_client


@pytest.fixture
def dataset(client: bigquery.Client) -> str:
    """A new, empty dataset for one test: `project.dataset`."""
    dataset_id = f"ds_{uuid.uuid4().hex[:12]}"
    client.create_dataset(dataset_id)
    return f"{PROJECT}.{dataset_id}"
