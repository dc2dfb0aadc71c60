"""Cloud Storage reads and writes, streamed: no object is held in memory whole."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from batchline.domain.errors import PermanentError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Small enough to keep a function's memory flat, large enough for few round trips.
CHUNK_BYTES = 8 * 1024 * 1024
READ_BUFFER = 1024 * 1024


def split_uri(uri: str) -> tuple[str, str]:
    """gs://bucket/name -> (bucket, name)."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


class ObjectGone(PermanentError):
    """The object (that generation of it) does not exist: deleted, or replaced in a bucket
    that keeps no old versions. Reading it again cannot help."""


class Storage:
    def __init__(self, client: Any) -> None:
        self._client = client

    def reader(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        """A buffered binary stream of the object (this generation of it, when given);
        ObjectGone when it does not exist.

        The library's BlobReader has no readline of its own: io's fallback reads one byte
        per call, about 3 MB/s. A BufferedReader on top reads it a buffer at a time.
        """
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        # A missing object is found out before any read (exists() leaves the blob's
        # properties alone: the download URL stays the library's own).
        if not blob.exists():
            where = f"gs://{bucket}/{name}" + (f"#{generation}" if generation else "")
            raise ObjectGone(f"{where} does not exist")
        stream = _Positioned(blob.open("rb", chunk_size=CHUNK_BYTES))
        return io.BufferedReader(stream, buffer_size=READ_BUFFER)

    def writer(self, bucket: str, name: str, content_type: str) -> IO[bytes]:
        """A binary stream that becomes the object when closed (`abort` discards it)."""
        blob = self._client.bucket(bucket).blob(name)
        stream: IO[bytes] = blob.open(
            "wb", chunk_size=CHUNK_BYTES, content_type=content_type, ignore_flush=True
        )
        return stream

    def write_text(self, bucket: str, name: str, text: str, content_type: str) -> str:
        self._client.bucket(bucket).blob(name).upload_from_string(
            text.encode("utf-8"), content_type=content_type
        )
        return f"gs://{bucket}/{name}"

    def exists(self, bucket: str, name: str) -> bool:
        return bool(self._client.bucket(bucket).blob(name).exists())

    def delete(self, bucket: str, name: str) -> None:
        """Delete the object if it exists (a repeated delete is not an error)."""
        from google.api_core.exceptions import NotFound

        try:
            self._client.bucket(bucket).blob(name).delete()
        except NotFound:
            return

    def names(self, bucket: str, prefix: str, suffix: str = "") -> list[str]:
        return sorted(
            blob.name
            for blob in self._client.list_blobs(bucket, prefix=prefix)
            if blob.name.endswith(suffix)
        )

    def lines(self, bucket: str, name: str) -> Iterator[bytes]:
        with self.reader(bucket, name) as stream:
            yield from stream


class _Positioned(io.RawIOBase):
    """A BlobReader as the raw stream under a BufferedReader, counting its own position.

    A BufferedReader asks its raw stream for its position when it is made. BlobReader
    answers by loading the object's metadata (a request more), and from then on downloads
    through the metadata's mediaLink rather than the URL the library builds from the name
    and generation: Cloud Storage's mediaLink names the generation, fake-gcs-server's (the
    local cloud's storage) does not, and there the live generation would be read instead.
    """

    def __init__(self, reader: IO[bytes]) -> None:
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read(len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def abort(stream: IO[bytes]) -> None:
    """Discard what a writer from `Storage.writer` holds, without creating the object."""
    terminate = getattr(stream, "terminate", None)
    if terminate is not None:
        terminate()  # BlobWriter: cancels the upload session
    elif not stream.closed:
        stream.close()
