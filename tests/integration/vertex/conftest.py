"""Fixtures for the Vertex AI emulator tests: the emulator, the official clients, a bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, storage
from vertex_support import PROJECT, BatchRunner, RecordedBodies

from localcloud.vertex import Faults, VertexEmulator


@pytest.fixture
def vertex_emulator(storage_emulator: str) -> Iterator[VertexEmulator]:
    """A fresh emulator per test (starting one takes milliseconds); states last no time."""
    with VertexEmulator(port=0, faults=Faults()) as emulator:
        yield emulator


@pytest.fixture
def recorded_bodies() -> RecordedBodies:
    return RecordedBodies()


@pytest.fixture
def job_client(
    vertex_emulator: VertexEmulator, recorded_bodies: RecordedBodies
) -> aiplatform_v1.JobServiceClient:
    client = aiplatform_v1.JobServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": vertex_emulator.url},
    )
    # Observe (not alter) the HTTP answers, for the conformance checks.
    client.transport._session.hooks["response"].append(recorded_bodies.record)
    return client


@pytest.fixture(scope="session")
def storage_client(storage_emulator: str) -> storage.Client:
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


@pytest.fixture
def bucket(storage_client: storage.Client) -> storage.Bucket:
    return storage_client.create_bucket(f"vertex-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def batch(job_client: aiplatform_v1.JobServiceClient, bucket: storage.Bucket) -> BatchRunner:
    return BatchRunner(job_client, bucket)
