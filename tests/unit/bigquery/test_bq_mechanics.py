"""The BigQuery emulator's small machines: insertId window, faults, upload parsing."""

from __future__ import annotations

import pytest
from google.resumable_media._upload import construct_multipart_request

from localcloud.bigquery.errors import BigQueryError
from localcloud.bigquery.rest import InsertIdCache
from localcloud.bigquery.server import Fault
from localcloud.bigquery.uploads import ResumableUploads, parse_multipart_related
from localcloud.serving import FaultQueue

pytestmark = pytest.mark.unit


def test_insert_ids_are_remembered_per_table_within_the_window() -> None:
    now = [0.0]
    cache = InsertIdCache(window_seconds=60, clock=lambda: now[0])
    assert cache.check_and_remember("p:d.t", "a") is False
    assert cache.check_and_remember("p:d.t", "a") is True
    assert cache.check_and_remember("p:d.other", "a") is False

    now[0] = 59.0
    assert cache.check_and_remember("p:d.t", "a") is True
    now[0] = 120.0
    # Seen last at 0 s (a repeat does not extend the window): forgotten after 60 s.
    assert cache.check_and_remember("p:d.t", "a") is False

    cache.forget_table("p:d.t")
    assert cache.check_and_remember("p:d.t", "a") is False


def test_faults_are_consumed_in_order() -> None:
    queue = FaultQueue([Fault(503, 2).injected(), Fault(429, 1, reason="quotaExceeded").injected()])
    taken = [queue.take("bigquery.datasets.get") for _ in range(4)]
    assert [(e.code, e.reason) for e in taken if isinstance(e, BigQueryError)] == [
        (503, "backendError"),
        (503, "backendError"),
        (429, "quotaExceeded"),
    ]
    assert taken[3] is None
    assert queue.pending() == []


@pytest.mark.parametrize(("status", "count"), [(418, 1), (503, 0)])
def test_impossible_faults_are_refused(status: int, count: int) -> None:
    with pytest.raises(ValueError):
        Fault(status, count)


def test_multipart_upload_is_split_as_the_client_builds_it() -> None:
    data = 'é{"k": 1}\n'.encode()
    body, boundary = construct_multipart_request(data, {"configuration": {"load": {}}}, "*/*")
    content_type = f'multipart/related; boundary="{boundary.decode()}"'
    metadata, media = parse_multipart_related(content_type, body)
    assert metadata == {"configuration": {"load": {}}}
    assert media == data


def test_multipart_needs_two_parts() -> None:
    with pytest.raises(BigQueryError):
        parse_multipart_related("application/json", b"{}")


def test_resumable_chunks_accumulate_until_the_total() -> None:
    uploads = ResumableUploads()
    upload_id = uploads.open("p", {"configuration": {"load": {}}})
    first = uploads.add_chunk(upload_id, "bytes 0-2/*", b"abc")
    assert (first.complete, first.received) == (False, 3)
    status = uploads.add_chunk(upload_id, "bytes */*", b"")
    assert (status.complete, status.received) == (False, 3)
    last = uploads.add_chunk(upload_id, "bytes 3-4/5", b"de")
    assert last.complete
    assert bytes(last.session.received) == b"abcde"

    with pytest.raises(BigQueryError):
        uploads.add_chunk(upload_id, "bytes 9-9/10", b"x")
    uploads.close(upload_id)
    with pytest.raises(BigQueryError) as raised:
        uploads.add_chunk(upload_id, "bytes 0-0/1", b"x")
    assert raised.value.code == 404


def test_an_empty_resumable_upload_completes() -> None:
    uploads = ResumableUploads()
    upload_id = uploads.open("p", {})
    assert uploads.add_chunk(upload_id, "bytes */0", b"").complete
