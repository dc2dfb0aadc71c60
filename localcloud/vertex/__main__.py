"""`python -m localcloud.vertex --port N`: run the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import sys

from localcloud.ports import stop_on_signals, wait_for
from localcloud.vertex.config import SettingError
from localcloud.vertex.server import VertexEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud.vertex",
        description="Vertex AI batch prediction emulator (faults: VERTEX_EMULATOR_* variables).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    stop = stop_on_signals()
    try:
        emulator = VertexEmulator(args.host, args.port).start()
    except SettingError as exc:
        parser.error(str(exc))
    try:
        wait_for(stop)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
