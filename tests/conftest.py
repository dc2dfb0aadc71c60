"""Fixtures shared by every tier: emulators started in-process or as subprocesses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localcloud.gcloud_emulators import start_firestore, start_pubsub
from localcloud.ports import free_port, wait_until_healthy


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[str]:
    """gcp-storage-emulator in memory on a free port; STORAGE_EMULATOR_HOST points at it."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    host = f"http://127.0.0.1:{port}"
    wait_until_healthy(f"{host}/storage/v1/b?project=test")
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    try:
        yield host
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        server.stop()


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
