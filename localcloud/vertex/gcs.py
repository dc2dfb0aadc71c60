"""Cloud Storage access for jobs, through google-cloud-storage (honours STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage  # type: ignore[attr-defined]

_WILDCARD = re.compile(r"[*?\[]")


class StorageProblem(Exception):
    """An input or output location cannot be used; the message names it."""


@dataclass(frozen=True)
class ObjectPath:
    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> ObjectPath:
        if not uri.startswith("gs://"):
            raise StorageProblem(f"{uri} is not a Cloud Storage URI (gs://bucket/object).")
        bucket, _, name = uri[len("gs://") :].partition("/")
        if not bucket:
            raise StorageProblem(f"{uri} names no bucket.")
        return cls(bucket, name)

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Cloud Storage wildcards: `*` within one folder level, `**` across levels, `?`, `[...]`."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(pattern[index : end + 1])
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")


class JobStorage:
    """Reads inputs, looks up files and writes outputs for the jobs of one project."""

    def __init__(self, project: str) -> None:
        self._project = project
        self._client: storage.Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> storage.Client:
        with self._lock:
            if self._client is None:
                self._client = storage.Client(
                    project=self._project,
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                )
            return self._client

    def expand(self, uri: str) -> list[ObjectPath]:
        """The objects an input URI names; a wildcard may match several (sorted by name)."""
        path = ObjectPath.parse(uri)
        if not path.name:
            raise StorageProblem(f"{uri} names no object.")
        match = _WILDCARD.search(path.name)
        try:
            if match is None:
                blob = self.client.bucket(path.bucket).get_blob(path.name)
                if blob is None:
                    raise StorageProblem(f"Input file {uri} does not exist.")
                return [path]
            regex = wildcard_regex(path.name)
            names = [
                blob.name
                for blob in self.client.list_blobs(path.bucket, prefix=path.name[: match.start()])
                if regex.match(blob.name)
            ]
        except google_exceptions.NotFound:
            raise StorageProblem(f"Bucket of {uri} does not exist.") from None
        if not names:
            raise StorageProblem(f"No files found matching {uri}.")
        return [ObjectPath(path.bucket, name) for name in sorted(names)]

    def read_text(self, path: ObjectPath) -> str:
        try:
            text: str = self.client.bucket(path.bucket).blob(path.name).download_as_text()
            return text
        except google_exceptions.NotFound:
            raise StorageProblem(f"Input file {path.uri} does not exist.") from None

    def size_of(self, uri: str) -> int | None:
        """Size in bytes of a gs:// object, None if it cannot be read (missing, or not gs://)."""
        if not uri.startswith("gs://"):
            return None  # offline: http(s) and other URLs cannot be fetched
        try:
            path = ObjectPath.parse(uri)
            blob = self.client.bucket(path.bucket).get_blob(path.name)
        except (StorageProblem, google_exceptions.NotFound):
            return None
        return None if blob is None or blob.size is None else int(blob.size)

    def write_text(self, path: ObjectPath, text: str) -> None:
        try:
            self.client.bucket(path.bucket).blob(path.name).upload_from_string(
                text, content_type="application/jsonl"
            )
        except google_exceptions.NotFound:
            raise StorageProblem(f"Output bucket gs://{path.bucket} does not exist.") from None
