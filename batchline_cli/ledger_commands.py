"""`batchline jobs` (the ledger: files, their attempts, how long jobs have waited),
`batchline retry` (another attempt at a file's failed lines, on demand) and `batchline release`
(submit a file the budget guard held)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from batchline_cli.console import (
    EXIT_FAILED,
    EXIT_USAGE,
    EXIT_VALID,
    console,
    print_table,
    use_target,
)

__all__ = ["add_parsers"]

WAITING_STATES = ("queued", "starting", "submitted")


def add_parsers(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="the ledger: uploads, their jobs and attempts")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--format", choices=("table", "json"), default="table")
    jobs.set_defaults(handler=_cmd_jobs)

    retry = commands.add_parser(
        "retry",
        help="ask a file's failed and unanswered lines again",
        description=(
            "Queue another attempt at the lines of a finished file that failed for a reason "
            "that may pass (429, 5xx) or got no answer, past BATCHLINE_MAX_ATTEMPTS if need be. "
            "A repeated retry of the same attempt does nothing; the file is notified again "
            "when the new attempt is in."
        ),
    )
    retry.add_argument("uri", metavar="gs://BUCKET/OBJECT[#GENERATION]")
    retry.set_defaults(handler=_cmd_retry)

    release = commands.add_parser(
        "release",
        help="submit a file held over a cost limit",
        description=(
            "Submit a file the budget guard held (over BATCHLINE_MAX_FILE_COST_USD or the day's "
            "BATCHLINE_DAILY_BUDGET_USD), past both limits: a release is an approval. Its "
            "estimate counts in today's spend. A repeated release does nothing and says so."
        ),
    )
    release.add_argument("uri", metavar="gs://BUCKET/OBJECT[#GENERATION]")
    release.set_defaults(handler=_cmd_release)


def _cmd_jobs(args: argparse.Namespace) -> int:
    use_target()
    from batchline.runtime import wiring

    ledger = wiring.ledger()
    now = datetime.now(UTC)
    records = ledger.list_sources(limit=args.limit)
    views = [
        _source_view(record, ledger.list_jobs_for_source(record.source), now) for record in records
    ]
    if args.format == "json":
        for view in views:
            print(json.dumps(view, default=str))
        return EXIT_VALID
    rows = []
    for view in views:
        totals = view["totals"] or {}
        rows.append(
            [
                view["source_uri"],
                view["state"],
                view["parts"] or "",
                view["attempts"] or "",
                *(
                    totals.get(k, "")
                    for k in ("total", "succeeded", "failed", "blocked", "missing")
                ),
                _hours(view["waited_seconds"]),
                view["error"] or view["report_uri"] or "",
            ]
        )
    columns = ["source", "state", "parts", "attempts", "requests", "ok", "failed"]
    columns += ["blocked", "missing", "waited", "error / report"]
    print_table(console(), columns, rows)
    return EXIT_VALID


def _source_view(record: Any, jobs: list[Any], now: datetime) -> dict[str, Any]:
    """A source as `jobs` shows it: its final outcome once it has one, and how long its
    jobs that have not run yet have waited."""
    from batchline.domain.states import SOURCE_TERMINAL
    from batchline.domain.totals import JobTotals

    final = record.state in SOURCE_TERMINAL and jobs
    totals = JobTotals.final(job.totals or JobTotals() for job in jobs) if final else None
    waits = [_waited(job, now) for job in jobs]
    return {
        "source_uri": record.source.uri,
        "state": str(record.state),
        "parts": record.part_count,
        "attempts": max((job.attempt for job in jobs), default=None),
        "waited_seconds": max((w for w in waits if w is not None), default=None),
        "jobs": [
            {
                "job_name": job.job_name,
                "part": job.part,
                "attempt": job.attempt,
                "state": str(job.state),
                "vertex_state": job.vertex_state,
                "waited_seconds": wait,
                "error": job.error,
            }
            for job, wait in zip(jobs, waits, strict=True)
        ],
        "totals": totals.as_dict() if totals else None,
        "report_uri": record.report_uri,
        "error_count": record.error_count,
        "error": record.error,
        "created_time": record.created_time,
        "loaded_time": record.loaded_time,
    }


def _waited(job: Any, now: datetime) -> int | None:
    """Seconds a job that has not begun to run has waited since its part was queued."""
    not_running = job.state in WAITING_STATES and job.vertex_state in (
        None,
        "JOB_STATE_QUEUED",
        "JOB_STATE_PENDING",
    )
    if not not_running or job.created_time is None:
        return None
    waited: datetime = job.created_time
    return round((now - waited).total_seconds())


def _hours(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds // 60} min"


def _cmd_retry(args: argparse.Namespace) -> int:
    use_target()
    from batchline.domain.states import JobState, SourceState
    from batchline.runtime import wiring
    from batchline.runtime.settings import get_settings
    from batchline.steps.announce import latest_attempts
    from batchline.steps.resume import ResumeWriter

    out = console()
    ledger = wiring.ledger()
    record = _newest_upload(out, "retry", args.uri, ledger)
    if isinstance(record, int):
        return record
    if record.state == SourceState.HELD:
        out.print(
            f"{record.source.uri} is held by the budget guard, never run: "
            f"`batchline release {record.source.uri}` submits it",
            markup=False,
            soft_wrap=True,
        )
        return EXIT_FAILED
    if record.state not in (SourceState.LOADED, SourceState.FAILED):
        # A repeated retry, or a file still at work: nothing to do (yet).
        out.print(f"{record.source.uri} is {record.state}: not finished, nothing to retry now")
        return EXIT_VALID
    writer = ResumeWriter(wiring.storage(), get_settings().work_bucket)
    jobs = latest_attempts(ledger.list_jobs_for_source(record.source))
    attempts = [
        attempt
        for job in jobs
        if job.state == JobState.LOADED and (attempt := writer.retry(job)) is not None
    ]
    if not attempts:
        out.print(f"{record.source.uri}: no line is left to ask again")
        return EXIT_VALID
    if not ledger.retry_source(record.source, attempts):
        out.print(f"{record.source.uri}: already retried")
        return EXIT_VALID
    for attempt in attempts:
        out.print(f"queued attempt {attempt.attempt} at part {attempt.part} of {record.source.uri}")
    return EXIT_VALID


def _cmd_release(args: argparse.Namespace) -> int:
    use_target()
    from batchline.runtime import wiring

    out = console()
    releaser = wiring.releaser()
    found = _newest_upload(out, "release", args.uri, releaser.ledger)
    if isinstance(found, int):
        return found
    result = releaser.release(found)
    out.print(result.message, markup=False, highlight=False)
    return EXIT_FAILED if result.refused else EXIT_VALID


def _newest_upload(out: Any, command: str, uri: str, ledger: Any) -> Any:
    """The ledger's record of the upload `uri` names (its newest generation unless it names
    one), or the exit status after saying why there is none."""
    target = _parse(uri)
    if target is None:
        out.print(f"batchline {command}: expected gs://BUCKET/OBJECT[#GENERATION], got {uri}")
        return EXIT_USAGE
    bucket, name, generation = target
    known = [
        record
        for record in ledger.find_sources(bucket, name)
        if generation is None or record.source.generation == generation
    ]
    if not known:
        out.print(f"batchline {command}: the ledger knows no upload {uri}")
        return EXIT_FAILED
    return known[0]


def _parse(uri: str) -> tuple[str, str, int | None] | None:
    if not uri.startswith("gs://"):
        return None
    path, _, generation = uri[5:].partition("#")
    bucket, _, name = path.partition("/")
    if not bucket or not name or (generation and not generation.isdigit()):
        return None
    return bucket, name, int(generation) if generation else None
