"""The `batchline` command line.

Commands that talk to Google Cloud use the settings' environment variables; when
GOOGLE_CLOUD_PROJECT is not set and the local cloud is running (`batchline local up`), they
use the local cloud.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from batchline.domain.validation import FileReport, validate_stream
from batchline_cli import estimate_command, ledger_commands
from batchline_cli.console import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_USAGE,
    EXIT_VALID,
    LOCAL_TARGET,
    console,
    print_table,
    use_target,
)


def validate_files(paths: Sequence[str], max_errors: int) -> list[FileReport]:
    """Validate each path (`-` is standard input); raises FileNotFoundError before any work."""
    for path in paths:
        if path != "-" and not Path(path).is_file():
            raise FileNotFoundError(path)
    reports = []
    for path in paths:
        if path == "-":
            reports.append(validate_stream(sys.stdin.buffer, "<stdin>", max_errors=max_errors))
            continue
        with open(path, "rb") as stream:
            reports.append(validate_stream(stream, path, max_errors=max_errors))
    return reports


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        reports = validate_files(args.files, args.max_errors)
    except FileNotFoundError as missing:
        print(f"batchline validate: no such file: {missing}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps({"files": [r.to_json() for r in reports]}, indent=2))
    else:
        print("\n".join(r.text() for r in reports))
    return EXIT_VALID if all(r.valid for r in reports) else EXIT_INVALID


def _cmd_local(args: argparse.Namespace) -> int:
    from localcloud import stack
    from localcloud.gcloud_emulators import MissingPrerequisite

    out = console()
    if args.action == "up":
        try:
            with out.status("starting the local cloud..."):
                state = stack.up(state_seconds=args.state_seconds, tick_seconds=args.tick_seconds)
        except (stack.StackError, MissingPrerequisite) as exc:
            out.print(f"batchline local up: {exc}", markup=False)
            return EXIT_FAILED
        out.print(f"local cloud up: {len(state.services)} services")
    elif args.action == "down":
        stopped = stack.down()
        out.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return EXIT_VALID
    rows = stack.status()
    if args.format == "json":
        # One document for scripts: running or not, and each service's health.
        document = {
            "running": bool(rows),
            "healthy": bool(rows) and all(r["healthy"] for r in rows),
        }
        print(json.dumps({**document, "services": rows}))
        return EXIT_VALID if document["healthy"] else EXIT_FAILED
    if not rows:
        out.print("the local cloud is not running (batchline local up)")
        return EXIT_FAILED
    print_table(
        out,
        ["service", "address", "healthy", "log"],
        [[r["service"], r["address"], "yes" if r["healthy"] else "NO", r["log"]] for r in rows],
    )
    return EXIT_VALID if all(r["healthy"] for r in rows) else EXIT_FAILED


def _cmd_submit(args: argparse.Namespace) -> int:
    out = console()
    path = Path(args.file)
    if not path.is_file():
        out.print(f"batchline submit: no such file: {path}")
        return EXIT_USAGE
    with path.open("rb") as stream:
        report = validate_stream(stream, str(path))
    if not report.valid:
        out.print(report.text(), markup=False, highlight=False)
        return EXIT_INVALID
    target = use_target()
    if args.wait and not args.subscription and target != LOCAL_TARGET:
        out.print(
            "batchline submit --wait: name a subscription on the completion topic "
            "(--subscription), e.g. the one `terraform output subscribe_command` creates"
        )
        return EXIT_USAGE
    from batchline.runtime.clients import storage_client
    from batchline.runtime.settings import get_settings

    settings = get_settings()
    name = args.name or path.name
    blob = storage_client().bucket(settings.input_bucket).blob(name)
    if args.model:
        blob.metadata = {"model": args.model}
    blob.upload_from_filename(str(path), content_type="application/jsonl")
    uri = f"gs://{settings.input_bucket}/{name}#{blob.generation}"
    out.print(f"uploaded {report.requests} requests to {uri} ({target})")
    if not args.wait:
        return EXIT_VALID
    notification = _wait_for_notification(out, args, settings, name, int(blob.generation))
    if notification is None:
        out.print(f"no notification within {args.timeout:.0f}s; see `batchline jobs`")
        return EXIT_FAILED
    _print_summary(out, notification)
    return EXIT_VALID if notification["event"] == "job.succeeded" else EXIT_FAILED


def _wait_for_notification(
    out: Any, args: argparse.Namespace, settings: Any, name: str, generation: int
) -> dict[str, Any] | None:
    """This upload's notification, showing the ledger's view of it meanwhile."""
    from google.cloud import pubsub_v1

    from batchline.domain.states import SourceRef
    from batchline.runtime import wiring
    from batchline_cli.waiting import await_notifications

    subscription = args.subscription or _local_subscription()
    subscriber = pubsub_v1.SubscriberClient()
    if "/" not in subscription:
        subscription = subscriber.subscription_path(settings.project, subscription)
    ledger = wiring.ledger()
    source = SourceRef(settings.input_bucket, name, generation)
    with out.status("waiting for the file to be picked up...") as status:

        def show_state(_: object) -> None:
            record = ledger.get_source(source)
            if record is not None:
                status.update(f"{source.uri}: {record.state}")

        found = await_notifications(
            subscriber,
            subscription,
            {name: generation},
            timeout=args.timeout,
            on_progress=show_state,
        )
    return found.get(name)


def _local_subscription() -> str:
    from localcloud.stack import COMPLETED_SUBSCRIPTION

    return COMPLETED_SUBSCRIPTION


def _print_summary(out: Any, body: dict[str, Any]) -> None:
    out.print(f"[bold]{body['event']}[/bold] {body['source_uri']}")
    if body["event"] == "file.rejected":
        out.print(f"{body['error_count']} errors; report: {body['report_uri']}")
        for line in body.get("first_errors", []):
            out.print(f"  {line}", markup=False, highlight=False)
        return
    counts, tokens = body.get("counts", {}), body.get("tokens", {})
    cost = body.get("estimated_cost_usd")
    print_table(
        out,
        ["jobs", "requests", "succeeded", "failed", "blocked", "missing", "tokens", "est. cost"],
        [
            [
                ", ".join(body.get("job_ids", [])),
                counts.get("total"),
                counts.get("succeeded"),
                counts.get("failed"),
                counts.get("blocked"),
                counts.get("missing"),
                tokens.get("total"),
                "unpriced" if cost is None else f"${cost:.6f}",
            ]
        ],
    )
    if body.get("table"):
        out.print(f"rows in {body['table']}")


def _cmd_query(args: argparse.Namespace) -> int:
    use_target()
    from batchline.runtime.clients import bigquery_client

    result = bigquery_client().query(args.sql).result()
    columns = [field.name for field in result.schema]
    if args.format == "json":
        for row in result:
            print(json.dumps({column: row[column] for column in columns}, default=str))
        return EXIT_VALID
    rows = [[_cell(row[column]) for column in columns] for row in result]
    print_table(console(), columns, rows)
    return EXIT_VALID


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:77] + "..."
    return value


def _cmd_rows(args: argparse.Namespace) -> int:
    from batchline.domain.input_lines import read_input_lines
    from batchline.domain.matching import RequestIndex
    from batchline.domain.rows import PredictionShaper, row_to_json

    index = None
    if args.input:
        with open(args.input, "rb") as stream:
            index = RequestIndex.from_input_lines(read_input_lines(stream))
    shaper = PredictionShaper(
        job_id=args.job_id,
        source_uri=Path(args.input).resolve().as_uri() if args.input else "",
        request_index=index,
    )
    for row in shaper.shape_lines(_lines(args.predictions)):
        sys.stdout.write(row_to_json(row) + "\n")
    totals = shaper.finish()
    print(
        f"{totals.rows} rows: {totals.succeeded} succeeded, {totals.failed} failed, "
        f"{totals.blocked} blocked, {totals.unmatched} not matched to an input line",
        file=sys.stderr,
    )
    return EXIT_VALID


def _lines(paths: Sequence[str]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as stream:
            yield from stream


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="batchline",
        description="Gemini batch prediction on Google Cloud: from a JSONL drop to BigQuery rows.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        help="check requests files before submitting them",
        description="Check JSONL requests files line by line, as the submit function does.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="JSONL file, or - for stdin")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument(
        "--max-errors", type=int, default=100, metavar="N", help="errors listed per file"
    )
    validate.set_defaults(handler=_cmd_validate)

    local = commands.add_parser("local", help="start, stop or show the local cloud")
    local.add_argument("action", choices=("up", "down", "status"))
    local.add_argument(
        "--state-seconds", type=float, default=1.0, help="how long each job state lasts"
    )
    local.add_argument("--tick-seconds", type=float, default=2.0, help="poll tick interval")
    local.add_argument(
        "--format", choices=("table", "json"), default="table", help="how `status` prints"
    )
    local.set_defaults(handler=_cmd_local)

    submit = commands.add_parser("submit", help="validate a file and drop it in the input bucket")
    submit.add_argument("file", metavar="FILE")
    submit.add_argument("--name", help="object name in the input bucket (default: file name)")
    submit.add_argument("--model", help="model for this file (object metadata `model`)")
    submit.add_argument("--wait", action="store_true", help="wait for the notification")
    submit.add_argument(
        "--subscription", help="subscription on the completion topic (local cloud: its own)"
    )
    submit.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS")
    submit.set_defaults(handler=_cmd_submit)

    estimate_command.add_parser(commands)
    ledger_commands.add_parsers(commands)

    query = commands.add_parser("query", help="run GoogleSQL against the warehouse")
    query.add_argument("sql", metavar="SQL")
    query.add_argument("--format", choices=("table", "json"), default="table")
    query.set_defaults(handler=_cmd_query)

    rows = commands.add_parser(
        "rows", help="shape prediction output files into result rows (one JSON row per line)"
    )
    rows.add_argument("predictions", nargs="+", metavar="PREDICTIONS.jsonl")
    rows.add_argument("--input", metavar="REQUESTS.jsonl", help="fill input_line and key")
    rows.add_argument("--job-id", default="local", help="job_id column value")
    rows.set_defaults(handler=_cmd_rows)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
