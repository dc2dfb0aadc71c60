"""Every line answered: the input of a part's next attempt at the lines its last one left.

Vertex AI documents the remedy for failed and unfinished requests ("Resume an incomplete
batch inference job"): a new job whose input is a previous job's output processes only the
failed or incomplete requests and merges the results. The next attempt at a part reads:

- the output lines of the last attempt that failed for a reason that may pass (429, 5xx,
  deadlines, internal errors: batchline.domain.retries), as that job wrote them;
- the staged requests of the lines it never answered (no output line at all: a job that
  expired, was cancelled or failed part-way).

Lines that failed for a reason that cannot pass (400 INVALID_ARGUMENT) and blocked prompts are
not asked again. Each file is written whole before the ledger queues the attempt that reads
it, under deterministic names: a complete step that dies and runs again rewrites the same
bytes, and the attempt's id in the ledger makes its queueing happen once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO

from batchline.adapters.ledger import JobRecord, NewAttempt
from batchline.adapters.storage import Storage
from batchline.domain.linesets import LineSet
from batchline.domain.retries import may_pass
from batchline.domain.staging import (
    index_line,
    output_prefix_name,
    read_index,
    resume_failed_name,
    resume_index_name,
    resume_missing_name,
    rows_name,
    staged_index_name,
    staged_requests_name,
)

__all__ = ["FailedLines", "ResumeWriter"]

JSONL = "application/jsonl"


class FailedLines:
    """A sink for an attempt's output lines that failed for a reason that may pass: the
    object is created only when the first one comes (most attempts have none)."""

    def __init__(self, storage: Storage, bucket: str, name: str) -> None:
        self._storage = storage
        self._bucket = bucket
        self.name = name
        self._sink: IO[bytes] | None = None
        self.lines = LineSet()
        self.count = 0

    def add(self, line: int, raw: bytes) -> None:
        if self._sink is None:
            self._sink = self._storage.writer(self._bucket, self.name, JSONL)
        self._sink.write(raw.rstrip(b"\r\n") + b"\n")
        self.lines.add(line)
        self.count += 1

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


@dataclass
class ResumeWriter:
    storage: Storage
    work_bucket: str

    def failed_lines(self, job: JobRecord) -> FailedLines:
        source_id = job.source.document_id
        return FailedLines(
            self.storage, self.work_bucket, resume_failed_name(source_id, job.part, job.attempt)
        )

    def next_attempt(
        self,
        job: JobRecord,
        failed: FailedLines,
        missing: Iterable[int],
        keys: Mapping[int, str],
    ) -> NewAttempt | None:
        """Write the next attempt's input and index for `job`'s part; None when nothing is
        left to ask. `failed` was filled while the job's rows were shaped; `missing` are the
        lines it never answered."""
        return self._next(job, failed.lines, failed.name if failed.count else None, missing, keys)

    def retry(self, job: JobRecord) -> NewAttempt | None:
        """The next attempt at a loaded attempt's failed and unanswered lines, planned from
        what its load left in the work bucket (`batchline retry`, past the attempt cap)."""
        source_id = job.source.document_id
        expected, keys = read_index(self.storage.lines(self.work_bucket, job.index_name))
        answered, failed = LineSet(), LineSet()
        rows = rows_name(source_id, job.part, job.attempt)
        for raw in self.storage.lines(self.work_bucket, rows):
            row = json.loads(raw)
            line = row.get("input_line")
            if line is None:
                continue
            answered.add(line)
            if row.get("status") == "FAILED" and may_pass(row.get("error")):
                failed.add(line)
        missing = (line for line in expected if line not in answered)
        name = resume_failed_name(source_id, job.part, job.attempt)
        return self._next(job, failed, name if len(failed) else None, missing, keys)

    def _next(
        self,
        job: JobRecord,
        failed: LineSet,
        failed_name: str | None,
        missing: Iterable[int],
        keys: Mapping[int, str],
    ) -> NewAttempt | None:
        source_id = job.source.document_id
        missing_lines = LineSet.of(missing)
        asked = sorted({*failed.numbers(), *missing_lines.numbers()})
        if not asked:
            return None
        inputs = []
        if failed_name is not None:
            inputs.append(f"gs://{self.work_bucket}/{failed_name}")
        if missing_lines:
            name = resume_missing_name(source_id, job.part, job.attempt)
            self._write_missing(job, missing_lines, name)
            inputs.append(f"gs://{self.work_bucket}/{name}")
        attempt = job.attempt + 1
        index_name = resume_index_name(source_id, job.part, attempt)
        with self.storage.writer(self.work_bucket, index_name, JSONL) as index:
            for line in asked:
                index.write(index_line(line, keys.get(line)))
        return NewAttempt(
            part=job.part,
            attempt=attempt,
            input_uris=tuple(inputs),
            asks_failed=len(failed),
            asks_missing=len(missing_lines),
            index_name=index_name,
            output_prefix=f"gs://{self.work_bucket}/{output_prefix_name(source_id, job.part, attempt)}",
        )

    def _write_missing(self, job: JobRecord, missing: LineSet, name: str) -> None:
        """The staged requests of the missing lines, as they were staged (tag included)."""
        source_id = job.source.document_id
        requests = self.storage.lines(self.work_bucket, staged_requests_name(source_id, job.part))
        index = self.storage.lines(self.work_bucket, staged_index_name(source_id, job.part))
        with self.storage.writer(self.work_bucket, name, JSONL) as sink:
            entries = (raw for raw in index if raw.strip())
            for raw in requests:
                if not raw.strip():
                    continue
                line = _line_of(next(entries))
                if line in missing:
                    sink.write(raw.rstrip(b"\r\n") + b"\n")


def _line_of(entry: bytes) -> int:
    return int(json.loads(entry)["line"])
