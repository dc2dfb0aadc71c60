"""Media uploads for load jobs, as `Client.load_table_from_file` sends them.

Two protocols on POST /upload/bigquery/v2/projects/P/jobs:
- uploadType=multipart: one multipart/related body, the job JSON then the data;
- uploadType=resumable: a POST with the job JSON answered with a session URL in
  `Location`, then PUTs of chunks with `Content-Range`, answered 308 with `Range` until
  the last one, which runs the job and answers with it.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud.bigquery.errors import BigQueryError, invalid

_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


def parse_multipart_related(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The job resource and the data of a multipart/related upload."""
    if not content_type.lower().startswith("multipart/related"):
        raise invalid(f"Expected a multipart/related body, got {content_type or 'none'}")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise invalid("Malformed multipart/related body")
    parts = list(message.iter_parts())
    if len(parts) != 2:
        raise invalid(f"A multipart upload has 2 parts (metadata, media), got {len(parts)}")
    metadata_bytes = _payload(parts[0])
    media = _payload(parts[1])
    try:
        metadata = json.loads(metadata_bytes)
    except json.JSONDecodeError as exc:
        raise invalid(f"Invalid JSON payload received. {exc.msg}") from exc
    if not isinstance(metadata, dict):
        raise invalid("Invalid JSON payload received. The metadata must be a job object")
    return metadata, bytes(media)


def _payload(part: email.message.Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


@dataclass
class ResumableSession:
    project: str
    metadata: dict[str, Any]
    received: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class ChunkOutcome:
    """After a chunk: the whole data when the upload is complete, else bytes so far."""

    complete: bool
    received: int
    session: ResumableSession


class ResumableUploads:
    """Open resumable sessions by upload id (in memory: a restart abandons them)."""

    def __init__(self) -> None:
        self._sessions: dict[str, ResumableSession] = {}
        self._lock = threading.Lock()

    def open(self, project: str, metadata: dict[str, Any]) -> str:
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._sessions[upload_id] = ResumableSession(project, metadata)
        return upload_id

    def close(self, upload_id: str) -> None:
        with self._lock:
            self._sessions.pop(upload_id, None)

    def add_chunk(self, upload_id: str, content_range: str | None, chunk: bytes) -> ChunkOutcome:
        with self._lock:
            session = self._sessions.get(upload_id)
            if session is None:
                raise BigQueryError(404, "notFound", f"Not found: upload session {upload_id}")
            match = _CONTENT_RANGE.match((content_range or "").strip())
            if content_range and not match:
                raise invalid(f"Invalid Content-Range header: {content_range}")
            total: int | None = None
            if match:
                first, _last, size = match.groups()
                if first is not None and int(first) != len(session.received):
                    raise invalid(
                        f"Chunk starts at byte {first} but {len(session.received)} were received"
                    )
                total = None if size == "*" else int(size)
            else:
                # No Content-Range: the body is the whole upload.
                total = len(session.received) + len(chunk)
            session.received.extend(chunk)
            complete = total is not None and len(session.received) >= total
            return ChunkOutcome(complete, len(session.received), session)
