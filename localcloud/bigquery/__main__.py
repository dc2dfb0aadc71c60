"""Run the BigQuery emulator: `python -m localcloud.bigquery --port 9050 [--database FILE]`.

Logs one JSON line per request on stdout; stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from localcloud.bigquery.logs import configure_json_logging
from localcloud.bigquery.server import BigQueryEmulator, Fault
from localcloud.ports import stop_on_signals, wait_for

_LOG = logging.getLogger("localcloud.bigquery")


def _fault(text: str) -> Fault:
    status, _, count = text.partition(":")
    try:
        return Fault(int(status), int(count or 1))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected STATUS[:COUNT], e.g. 503:2, got {text}"
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.bigquery", description="Local BigQuery REST v2 emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9050, help="port (0 picks a free one)")
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
    args = parser.parse_args(argv)
    configure_json_logging()

    stop = stop_on_signals(lambda name: _LOG.info("received %s, stopping", name))
    emulator = BigQueryEmulator(
        args.host,
        args.port,
        args.database,
        faults=args.fault,
        insert_id_window_seconds=args.insert_id_window,
    )
    emulator.start()
    try:
        wait_for(stop)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
