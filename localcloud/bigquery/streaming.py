"""The streaming buffer: where rows from tabledata.insertAll wait before BigQuery stores them.

Streamed rows are visible to queries at once (they are stored with the table's rows), but for
`window_seconds` after their insertAll (BigQuery: "the recent writes are those that occurred
within the last 30 minutes", the DML limitation of
https://cloud.google.com/bigquery/docs/data-manipulation-language) they are in the buffer:
the table resource shows `streamingBuffer` {estimatedRows, estimatedBytes, oldestEntryTime},
`numRows` leaves them out, and UPDATE, DELETE and MERGE on the table are refused. `flush`
ends the wait at once (POST /admin/streaming/flush, or the emulator's method), for tests.
The entries live in the `_emulator.streaming` metadata table, so a file-backed emulator keeps
them across a restart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from localcloud.bigquery.sql import TableName
from localcloud.bigquery.store import Store

DEFAULT_WINDOW_SECONDS = 30 * 60


@dataclass(frozen=True)
class Buffered:
    rows: int
    bytes: int
    oldest: dt.datetime


class StreamingBuffer:
    def __init__(
        self, store: Store, clock: Callable[[], dt.datetime], window_seconds: float
    ) -> None:
        self.store = store
        self._clock = clock
        self.window = dt.timedelta(seconds=window_seconds)

    def add(self, name: TableName, rows: int, size: int) -> None:
        if rows:
            self.store.add_streamed(name, rows, size, self._clock())

    def buffered(self, name: TableName) -> Buffered | None:
        """What is still in the buffer for the table (entries past the window are flushed)."""
        self.store.flush_streamed(self._clock() - self.window, name)
        entries = self.store.streamed(name)
        if not entries:
            return None
        return Buffered(
            rows=sum(rows for rows, _, _ in entries),
            bytes=sum(size for _, size, _ in entries),
            oldest=min(at for _, _, at in entries),
        )

    def flush(self, name: TableName | None = None) -> None:
        """Move every buffered row (of one table, or of all) to storage now."""
        self.store.flush_streamed(None, name)
