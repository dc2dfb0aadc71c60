"""Fixtures shared by every tier: emulators started in-process or as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.gcloud_emulators import start_firestore, start_pubsub
from localcloud.storage import start_storage


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[str]:
    """fake-gcs-server in memory on a free port; STORAGE_EMULATOR_HOST points at it."""
    with start_storage() as emulator, pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
        yield emulator.url


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """The Pub/Sub emulator's host:port; PUBSUB_EMULATOR_HOST points at it."""
    with start_pubsub() as emulator, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        yield emulator.host


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[str]:
    """The Firestore emulator's host:port; FIRESTORE_EMULATOR_HOST points at it."""
    with start_firestore() as emulator, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIRESTORE_EMULATOR_HOST", emulator.host)
        yield emulator.host


@pytest.fixture(scope="session")
def vertex_server(storage_emulator: str) -> Iterator[Any]:
    """The Vertex AI emulator for the pipeline's tests; job states last no time."""
    from localcloud.vertex import Faults, VertexEmulator

    with VertexEmulator(port=0, faults=Faults()) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def bigquery_server(storage_emulator: str) -> Iterator[Any]:
    """The BigQuery emulator (in memory) for the pipeline's tests."""
    from localcloud.bigquery import BigQueryEmulator

    with BigQueryEmulator(port=0) as emulator:
        yield emulator


@pytest.fixture
def cloud(
    storage_emulator: str,
    pubsub_emulator: str,
    firestore_emulator: str,
    vertex_server: Any,
    bigquery_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """A fresh deployment on the emulators: its own buckets, topics, ledger and dataset,
    configured through the same environment variables Terraform sets."""
    from pipeline_support import Cloud

    cloud = Cloud.deploy(monkeypatch, vertex_server, bigquery_server)
    try:
        yield cloud
    finally:
        cloud.teardown()
