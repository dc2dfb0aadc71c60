"""The storage emulator fixture serves the official client (the base the other tests use)."""

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

pytestmark = pytest.mark.integration


def test_round_trip_through_official_client(storage_emulator: str) -> None:
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.create_bucket("roundtrip")
    bucket.blob("a/b.jsonl").upload_from_string(b'{"x": 1}\n')
    assert [b.name for b in client.list_blobs("roundtrip", prefix="a/")] == ["a/b.jsonl"]
    assert bucket.blob("a/b.jsonl").download_as_bytes() == b'{"x": 1}\n'
