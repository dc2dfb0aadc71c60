"""The `batchline` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from batchline.validation import FileReport, validate_stream

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


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


def render_text(report: FileReport) -> str:
    lines = [issue.render(report.name) for issue in report.errors]
    if report.error_count > len(report.errors):
        hidden = report.error_count - len(report.errors)
        lines.append(f"{report.name}: ... and {hidden} more errors not shown")
    lines.append(report.summary())
    return "\n".join(lines)


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        reports = validate_files(args.files, args.max_errors)
    except FileNotFoundError as missing:
        print(f"batchline validate: no such file: {missing}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        print(json.dumps({"files": [r.to_json() for r in reports]}, indent=2))
    else:
        print("\n".join(render_text(r) for r in reports))
    return EXIT_VALID if all(r.valid for r in reports) else EXIT_INVALID


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
