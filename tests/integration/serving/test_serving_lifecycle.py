"""The server kit's life cycle on real sockets: port 0, `url`, context manager, background
work, and `serve()` (the `python -m` form) stopping cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localcloud.ports import free_port, wait_until_healthy
from localcloud.serving import LocalServer

pytestmark = pytest.mark.integration


class Ticker(LocalServer):
    """Health only, and background work that counts until stopped (or fails on request)."""

    name = "ticker"

    def __init__(self, *, fail: bool = False, port: int = 0) -> None:
        super().__init__(port=port)
        self.fail = fail
        self.ticks = 0
        self.counting = threading.Event()
        self.worker_stopped = threading.Event()

    def on_start(self) -> None:
        self.start_worker(self._count)

    def _count(self, stopping: threading.Event) -> None:
        try:
            while not stopping.wait(0.01):
                self.ticks += 1
                if self.ticks > 3:
                    self.counting.set()
                if self.fail:
                    raise RuntimeError("the work died")
        finally:
            self.worker_stopped.set()


def health(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_port_zero_takes_a_free_port_and_the_context_manager_stops_it() -> None:
    with Ticker() as first, Ticker() as second:
        assert first.port != second.port
        assert first.url == f"http://127.0.0.1:{first.port}"
        assert health(first.url) == (200, {"status": "ok"})
        url = first.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/healthz", timeout=5)
    with pytest.raises(RuntimeError):
        _ = first.url  # not started any more


def test_a_given_port_is_used_and_a_second_start_is_refused() -> None:
    port = free_port()
    server = Ticker(port=port).start()
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()
    server.stop()  # stopping twice is harmless


def test_background_work_runs_until_stop() -> None:
    with Ticker() as server:
        assert server.counting.wait(10)
        assert not server.worker_stopped.is_set()
    assert server.worker_stopped.is_set()


def test_work_that_dies_makes_the_server_unhealthy() -> None:
    with Ticker(fail=True) as server:
        assert server.failed.wait(10)
        status, body = health(server.url)
    assert status == 503
    assert body["status"] == "failed" and "the work died" in body["error"]


# A process that serves a Ticker as `python -m localcloud.<service>` serves a service.
SERVE = """
import sys
from localcloud.serving.command import serve
sys.path.insert(0, sys.argv[3])
from test_serving_lifecycle import Ticker
sys.exit(serve(lambda: Ticker(port=int(sys.argv[1]), fail=sys.argv[2] == "fail")))
"""


def run_serve(port: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port), mode, str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_a_signal(stop_signal: signal.Signals) -> None:
    port = free_port()
    process = run_serve(port, "work")
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60)
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [line["message"] for line in lines][-2:] == [
        f"received {stop_signal.name}, stopping",
        "stopped",
    ]
    assert lines[0]["message"] == "listening"


def test_serve_exits_with_status_1_when_the_work_dies() -> None:
    process = run_serve(free_port(), "fail")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    died = next(line for line in lines if line["message"] == "worker stopped by an error")
    assert "RuntimeError: the work died" in died["stack_trace"]
    assert lines[-1]["message"] == "stopped"
