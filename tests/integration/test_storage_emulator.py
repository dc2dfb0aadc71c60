"""The storage emulator fixture (fake-gcs-server) serves the official client with Cloud
Storage's semantics, the base the other tests stand on: preconditions hold
(https://cloud.google.com/storage/docs/request-preconditions), a versioned bucket serves an
older generation by number (https://cloud.google.com/storage/docs/object-versioning), and
names may hold any character (https://cloud.google.com/storage/docs/objects#naming)."""

import uuid

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

pytestmark = pytest.mark.integration


@pytest.fixture
def client(storage_emulator: str) -> storage.Client:
    return storage.Client(project="test", credentials=AnonymousCredentials())


def versioned_bucket(client: storage.Client) -> storage.Bucket:
    bucket = client.bucket(f"versioned-{uuid.uuid4().hex[:10]}")
    bucket.versioning_enabled = True
    bucket.create()
    return bucket


def test_round_trip_through_official_client(client: storage.Client) -> None:
    bucket = client.create_bucket(f"roundtrip-{uuid.uuid4().hex[:10]}")
    bucket.blob("a/b.jsonl").upload_from_string(b'{"x": 1}\n')
    assert [b.name for b in client.list_blobs(bucket.name, prefix="a/")] == ["a/b.jsonl"]
    assert bucket.blob("a/b.jsonl").download_as_bytes() == b'{"x": 1}\n'


def test_a_failed_precondition_surfaces_as_412_and_changes_nothing(client: storage.Client) -> None:
    bucket = versioned_bucket(client)
    blob = bucket.blob("once.jsonl")
    blob.upload_from_string(b"first\n", if_generation_match=0)  # "only if it does not exist"
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("once.jsonl").upload_from_string(b"second\n", if_generation_match=0)
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.blob("once.jsonl").upload_from_string(
            b"second\n", if_generation_match=blob.generation + 1
        )
    assert bucket.blob("once.jsonl").download_as_bytes() == b"first\n"
    bucket.blob("once.jsonl").upload_from_string(b"third\n", if_generation_match=blob.generation)
    assert bucket.blob("once.jsonl").download_as_bytes() == b"third\n"


def test_an_older_generation_is_served_by_number(client: storage.Client) -> None:
    bucket = versioned_bucket(client)
    bucket.blob("r.jsonl").upload_from_string(b"v1\n")
    first = bucket.get_blob("r.jsonl")
    bucket.blob("r.jsonl").upload_from_string(b"v2\n")
    second = bucket.get_blob("r.jsonl")
    assert first is not None and second is not None
    assert first.generation != second.generation
    assert bucket.blob("r.jsonl", generation=first.generation).download_as_bytes() == b"v1\n"
    assert bucket.blob("r.jsonl").download_as_bytes() == b"v2\n"
    missing = bucket.blob("r.jsonl", generation=first.generation - 1)
    assert not missing.exists()
    with pytest.raises(exceptions.NotFound):
        missing.download_as_bytes()


@pytest.mark.parametrize(
    "name", ["#hash ?query & more.jsonl", "100% done.jsonl", "two\nlines.jsonl", "評価 😀.jsonl"]
)
def test_names_of_any_character_are_stored_and_served(client: storage.Client, name: str) -> None:
    bucket = client.create_bucket(f"names-{uuid.uuid4().hex[:10]}")
    bucket.blob(name).upload_from_string(b"x\n")
    assert [blob.name for blob in client.list_blobs(bucket.name)] == [name]
    assert bucket.blob(name).download_as_bytes() == b"x\n"
