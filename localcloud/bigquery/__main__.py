"""Run the BigQuery emulator: `python -m localcloud.bigquery --port 9050 [--database FILE]`.

Logs one JSON line per request on stdout; stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from localcloud.bigquery.server import BigQueryEmulator, Fault
from localcloud.bigquery.streaming import DEFAULT_WINDOW_SECONDS
from localcloud.serving.command import command_line, serve


def _fault(text: str) -> Fault:
    status, _, count = text.partition(":")
    try:
        return Fault(int(status), int(count or 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected STATUS[:COUNT] (429, 500, 502 or 503), e.g. 503:2, got {text}: {exc}"
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_line(
        "python -m localcloud.bigquery", "Local BigQuery REST v2 emulator.", default_port=9050
    )
    parser.add_argument(
        "--database", default=None, help="DuckDB file that keeps tables across restarts"
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="STATUS[:COUNT]",
        help="answer the first COUNT API requests with STATUS (429, 500, 502, 503)",
    )
    parser.add_argument(
        "--insert-id-window",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long insertAll remembers insertIds for de-duplication (default 60)",
    )
    parser.add_argument(
        "--streaming-buffer-seconds",
        type=float,
        default=DEFAULT_WINDOW_SECONDS,
        metavar="SECONDS",
        help="how long insertAll rows stay in the streaming buffer (default 1800, BigQuery's)",
    )
    parser.add_argument(
        "--analyzer-cache",
        default=None,
        metavar="DIR",
        help="folder for the compiled GoogleSQL analyzer (default ~/.cache/batchline)",
    )
    args = parser.parse_args(argv)
    return serve(
        lambda: BigQueryEmulator(
            args.host,
            args.port,
            args.database,
            faults=args.fault,
            insert_id_window_seconds=args.insert_id_window,
            streaming_buffer_seconds=args.streaming_buffer_seconds,
            analyzer_cache_dir=args.analyzer_cache,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
