"""The submit step's CPU on a 200,000-line file, against in-memory sinks.

Runs the step's own function (Submitter._validate_and_submit: validate the upload and stage
it into parts with their indexes in one read, queue the parts) on the validator benchmark's
requests file, with the Cloud Storage objects, the ledger, the job starter and the announcer
replaced by in-memory stand-ins: the upload is read from a local file through a stream that, like the
Cloud Storage reader, has no file descriptor; staged parts go to sinks that count bytes.
Prints its CPU time divided by the time to read the file and `json.loads` every line
(medians of interleaved rounds). Target: at most 2.5x.
Exit status 1 when the target is missed. Usage: python bench/submit.py [--lines N]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from measure import Figure, interleaved_medians, parse_only, report
from validate import write_file

from batchline.adapters.ledger import QueueOutcome
from batchline.domain.events import StorageObject
from batchline.domain.limits import SERVICE_LIMITS, JobLimits
from batchline.domain.pricing import DEFAULT_PRICES, ModelPrice
from batchline.domain.states import SourceRef
from batchline.steps.start import StartSummary
from batchline.steps.submit import Submitter

RATIO_TARGET = 2.5


@dataclass(frozen=True)
class BenchSettings:
    input_bucket: str = "bench-input"
    work_bucket: str = "bench-work"
    reports_prefix: str = "batchline-reports/"
    model: str = "gemini-3.5-flash"
    job_limits: JobLimits = SERVICE_LIMITS
    row_labels: bool = True
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES)
    max_file_cost_usd: float | None = None
    daily_budget_usd: float | None = None


class CountingSink(io.RawIOBase):
    """A staged object: counts what is written, keeps none of it."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(data)
        self.bytes += size
        return size


class NoDescriptor(io.RawIOBase):
    """A local file read like the Cloud Storage reader: no fileno, so no cheap re-reading."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb", buffering=0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer) or 0

    def close(self) -> None:
        self._file.close()
        super().close()


class LocalStorage:
    def __init__(self, upload: Path) -> None:
        self.upload = upload
        self.written = 0

    def reader(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        return io.BufferedReader(NoDescriptor(self.upload), buffer_size=1024 * 1024)

    def writer(self, bucket: str, name: str, content_type: str) -> IO[bytes]:
        return io.BufferedWriter(CountingSink(), buffer_size=8 * 1024 * 1024)  # type: ignore[return-value]


class MemoryLedger:
    def queue_parts_within_budget(
        self, source: SourceRef, attempts: Sequence[Any], model: str, **budget: Any
    ) -> tuple[QueueOutcome, None]:
        return QueueOutcome.QUEUED, None  # no limit set: the default

    def list_jobs_for_source(self, source: SourceRef) -> list[Any]:
        return []


class IdleStarter:
    """Starting jobs is Vertex AI calls, not the step's CPU."""

    def start_all(self, jobs: Any) -> StartSummary:
        return StartSummary()


class QuietAnnouncer:
    def announce_if_done(self, source: SourceRef) -> bool:
        return False


def submit(upload: Path) -> None:
    submitter = Submitter(
        BenchSettings(),  # type: ignore[arg-type]
        MemoryLedger(),  # type: ignore[arg-type]
        LocalStorage(upload),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        QuietAnnouncer(),  # type: ignore[arg-type]
        IdleStarter(),  # type: ignore[arg-type]
    )
    obj = StorageObject("bench-input", "requests.jsonl", 1, upload.stat().st_size)
    result = submitter._validate_and_submit(obj, SourceRef(obj.bucket, obj.name, obj.generation))
    if result.outcome != "submitted":
        raise SystemExit(f"benchmark file not submitted: {result}")


def main() -> int:
    parser = argparse.ArgumentParser(description="the submit step's CPU")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--record", type=Path, help="append the figures as JSON lines here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.jsonl"
        write_file(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        times = interleaved_medians(
            {"json": lambda: parse_only(path), "submit": lambda: submit(path)}
        )
    print(f"file: {args.lines} lines, {size_mb:.0f} MB; medians of 5 interleaved rounds, CPU s")
    print(f"read + json.loads:             {times['json']:.2f} s")
    print(f"submit (validate, stage, jobs): {times['submit']:.2f} s")
    figures = [
        Figure(
            "submit",
            "submit step / (read + json.loads)",
            times["submit"] / times["json"],
            "x",
            RATIO_TARGET,
        )
    ]
    return report(figures, args.record)


if __name__ == "__main__":
    sys.exit(main())
