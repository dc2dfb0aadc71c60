"""`batchline estimate FILE`: what a requests file will cost, before it is uploaded.

The file is validated as the submit function does (the estimate counts its valid requests);
the figures and the method are batchline.domain.estimate's, at the prices the functions use:
the built-in table, overridden model by model by BATCHLINE_PRICES when it is set.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchline.domain.estimate import MEDIA_KINDS, FileEstimate, estimate_file
from batchline.domain.pricing import DEFAULT_PRICES, ModelPrice
from batchline.domain.validation import FileReport, validate_stream
from batchline.runtime.settings import prices_with_defaults
from batchline_cli.console import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, console, print_table

__all__ = ["add_parser"]

FALLBACK_MODEL = "gemini-3.5-flash"


def add_parser(commands: Any) -> None:
    estimate = commands.add_parser(
        "estimate",
        help="estimate a requests file's tokens and cost before submitting it",
        description=(
            "Validate a JSONL requests file and estimate its input tokens and a cost range at "
            "batch prices: low with no output, high with each request's maxOutputTokens (or "
            "the model's maximum output). The method is printed with the figures."
        ),
    )
    estimate.add_argument("file", metavar="FILE")
    estimate.add_argument(
        "--model", help=f"model id (default: $BATCHLINE_MODEL, else {FALLBACK_MODEL})"
    )
    estimate.add_argument("--format", choices=("table", "json"), default="table")
    estimate.set_defaults(handler=_cmd_estimate)


def _prices() -> Mapping[str, ModelPrice]:
    text = os.environ.get("BATCHLINE_PRICES", "").strip()
    return prices_with_defaults(text) if text else DEFAULT_PRICES


def _cmd_estimate(args: argparse.Namespace) -> int:
    out = console()
    path = Path(args.file)
    if not path.is_file():
        out.print(f"batchline estimate: no such file: {path}", markup=False)
        return EXIT_USAGE
    model = args.model or os.environ.get("BATCHLINE_MODEL", "").strip() or FALLBACK_MODEL
    try:
        prices = _prices()
    except ValueError as exc:
        out.print(f"batchline estimate: {exc}", markup=False)
        return EXIT_USAGE
    with path.open("rb") as stream:
        report = validate_stream(stream, str(path))
    report.estimate = estimate = estimate_file(report.inputs, model, prices)
    if args.format == "json":
        print(json.dumps({"file": str(path), "valid": report.valid, **estimate.to_json()}))
        return EXIT_VALID if report.valid else EXIT_INVALID
    if not report.valid:
        # The estimate still counts the valid requests: say which figure that is.
        out.print(report.text(), markup=False, highlight=False)
        out.print(f"the estimate below covers the {report.requests} valid requests only")
    _print_estimate(out, report, estimate)
    return EXIT_VALID if report.valid else EXIT_INVALID


def _print_estimate(out: Any, report: FileReport, estimate: FileEstimate) -> None:
    media = report.inputs.media_parts()
    rows: list[list[Any]] = [
        ["text", f"{report.inputs.text_chars:,} characters", f"{estimate.text_tokens:,}"]
    ]
    rows += [
        [kind, f"{media[kind]:,} parts", f"{estimate.media_tokens[kind]:,}"]
        for kind in MEDIA_KINDS
        if media[kind]
    ]
    rows.append(["input", f"{estimate.requests:,} requests", f"{estimate.input_tokens:,}"])
    rows.append(
        [
            "output",
            f"{report.inputs.bounded_requests:,} with maxOutputTokens",
            f"{estimate.low_output_tokens:,} to {estimate.high_output_tokens:,}",
        ]
    )
    out.print(f"{report.name}: estimate for {estimate.model}", markup=False, highlight=False)
    print_table(out, ["", "count", "tokens"], rows)
    out.print(f"cost: {estimate.describe_range()} at batch prices", markup=False)
    out.print(f"method: {estimate.method}", markup=False, highlight=False)
