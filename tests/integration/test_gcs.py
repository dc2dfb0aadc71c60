"""Cloud Storage streams through the official client, against the storage emulator
(fake-gcs-server, which keeps Cloud Storage's generations)."""

from __future__ import annotations

import io
import uuid

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from batchline.adapters.storage import ObjectGone, Storage, abort
from batchline.domain.limits import JobLimits
from batchline.domain.staging import Stager

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(storage_emulator: str) -> storage.Bucket:
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    return client.create_bucket(f"gcs-{uuid.uuid4().hex[:10]}")


def test_reader_is_buffered_and_reads_every_line(bucket: storage.Bucket) -> None:
    """The library's reader alone falls back to one-byte reads for readline."""
    lines = [f'{{"n": {n}, "pad": "{"x" * (n % 97)}"}}\n'.encode() for n in range(40_000)]
    bucket.blob("big.jsonl").upload_from_string(b"".join(lines))
    gcs = Storage(bucket.client)
    with gcs.reader(bucket.name, "big.jsonl") as stream:
        assert isinstance(stream, io.BufferedReader)
        assert list(stream) == lines
    assert list(gcs.lines(bucket.name, "big.jsonl"))[-1] == lines[-1]


def test_the_reader_reads_the_generation_it_is_given(storage_emulator: str) -> None:
    """The submit function reads the upload its event names, even once it is replaced: the
    input bucket keeps old versions (https://cloud.google.com/storage/docs/object-versioning)."""
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    bucket = client.bucket(f"gcs-{uuid.uuid4().hex[:10]}")
    bucket.versioning_enabled = True
    bucket.create()
    bucket.blob("in.jsonl").upload_from_string(b'{"v": 1}\n')
    first = bucket.get_blob("in.jsonl")
    bucket.blob("in.jsonl").upload_from_string(b'{"v": 2}\n' * 3)
    assert first is not None
    gcs = Storage(client)
    with gcs.reader(bucket.name, "in.jsonl", first.generation) as stream:
        assert stream.read() == b'{"v": 1}\n'
    with gcs.reader(bucket.name, "in.jsonl") as stream:
        assert stream.read() == b'{"v": 2}\n' * 3
    with pytest.raises(ObjectGone, match=f"in.jsonl#{first.generation - 1} does not exist"):
        gcs.reader(bucket.name, "in.jsonl", first.generation - 1)


def test_an_aborted_part_creates_no_object(bucket: storage.Bucket) -> None:
    gcs = Storage(bucket.client)

    def open_part(part: int) -> tuple[io.RawIOBase, io.RawIOBase]:
        return (
            gcs.writer(bucket.name, f"part-{part}.jsonl", "application/jsonl"),
            gcs.writer(bucket.name, f"part-{part}.index.jsonl", "application/jsonl"),
        )

    stager = Stager(open_part, JobLimits(max_requests=2))  # type: ignore[arg-type]
    request = {"contents": [{"parts": {"text": "hi"}}]}
    for line in (1, 2, 3):
        stager.add(line, {"request": request, "key": f"k{line}"})
    stager.abort(abort)  # part 2 was being written
    names = sorted(blob.name for blob in bucket.list_blobs())
    assert names == ["part-1.index.jsonl", "part-1.jsonl"], "part 1 complete, part 2 never made"
    staged = bucket.blob("part-1.jsonl").download_as_text().splitlines()
    assert len(staged) == 2 and '"parts":[{"text":"hi"}]' in staged[0].replace(" ", "")
