"""`python -m localcloud.<service>`: the command line and the process around a server.

`command_line()` gives the options every service takes (`--host`, `--port`); `serve()` sets
up the JSON logs, builds and starts the server, and stops it cleanly on SIGTERM (what
`batchline local down` sends) or SIGINT (Ctrl-C), or with status 1 when its background work
has died.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from localcloud.serving.logs import configure_logging
from localcloud.serving.server import LocalServer

_LOG = logging.getLogger("localcloud.serving")


def command_line(prog: str, description: str, default_port: int = 0) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=default_port, help="port to listen on (0: any free one)"
    )
    return parser


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets, installed before the server is built so that a
    signal arriving while it starts still stops it cleanly."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        _LOG.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    return stop


def serve(build: Callable[[], LocalServer]) -> int:
    """Run the server `build()` makes until a signal; the process's exit status."""
    configure_logging()
    stop = stop_on_signals()
    server = build().start()
    try:
        # Waking up regularly lets the signal handler run promptly.
        while not stop.wait(0.5):
            if server.failed.is_set():
                return 1
    finally:
        server.stop()
    return 0
