"""Small helpers shared by the emulators and the local stack."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers 2xx, or raise TimeoutError naming it."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not healthy after {timeout:.0f}s: {last_error}")


def stop_on_signals(on_signal: Callable[[str], None] | None = None) -> threading.Event:
    """An event that SIGTERM or SIGINT sets: installed before a service starts, so that
    `batchline local down` (and Ctrl-C) always stop it cleanly. `on_signal` gets the
    signal's name, for the service to log in its own format."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if on_signal is not None:
            on_signal(signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    return stop


def wait_for(stop: threading.Event) -> None:
    """Block until `stop` is set, waking up regularly so signals are handled promptly."""
    while not stop.wait(0.5):
        pass
