"""A local file is validated through a large buffer of its own: the same report as the same
bytes in memory, from where the caller's stream stands, which is left where it stopped."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from batchline.domain.validation import stream as stream_module
from batchline.domain.validation import validate_stream

pytestmark = pytest.mark.unit


def _line(key: str, text: str = "hello") -> bytes:
    request = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    return json.dumps({"key": key, "request": request}).encode() + b"\n"


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_bytes(data)
    return path


def test_a_local_file_gets_the_report_its_bytes_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duplicated: list[int] = []
    real_dup = os.dup
    monkeypatch.setattr(stream_module.os, "dup", lambda fd: duplicated.append(fd) or real_dup(fd))
    # Lines across many of the large blocks, a repeated key far from its first use (read
    # again from the file) and a bad line.
    lines = [_line(f"k{index}", "x" * 3000) for index in range(1200)]
    lines[700] = _line("k3")
    lines[900] = b'{"request": {"contents": []}, "key": 5}\n'
    data = b"".join(lines)
    assert len(data) > 3 * stream_module.LOCAL_FILE_BLOCK
    with _file(tmp_path, data).open("rb") as handle:
        from_file = validate_stream(handle, "requests.jsonl")
        assert duplicated == [handle.fileno()]  # read through a buffer of its own
        assert handle.tell() == len(data)
        assert not handle.closed
    from_memory = validate_stream(io.BytesIO(data), "requests.jsonl")
    assert from_file.to_json() == from_memory.to_json()
    # Line 901: no content, and a key that is not a string.
    assert [error.line for error in from_file.errors] == [701, 901, 901]
    assert "line 4" in from_file.errors[0].message


def test_validation_starts_where_the_callers_stream_stands(tmp_path: Path) -> None:
    data = _line("a") + _line("b") + _line("a")
    with _file(tmp_path, data).open("rb") as handle:
        handle.readline()  # the caller has read the first line (and buffered the rest)
        report = validate_stream(handle, "requests.jsonl")
        assert handle.read() == b""
    assert report.valid and report.requests == 2


def test_the_callers_descriptor_stays_open_and_usable(tmp_path: Path) -> None:
    data = _line("a") + _line("b")
    with _file(tmp_path, data).open("rb") as handle:
        descriptors = len(os.listdir("/proc/self/fd"))
        validate_stream(handle, "requests.jsonl")
        assert len(os.listdir("/proc/self/fd")) == descriptors  # the second one is closed
        handle.seek(0)
        assert handle.readline() == _line("a")


def test_a_stream_that_is_not_a_regular_file_is_read_as_it_is() -> None:
    read, write = os.pipe()
    with os.fdopen(write, "wb") as sink:
        sink.write(_line("a") + _line("a"))
    with os.fdopen(read, "rb") as pipe:
        report = validate_stream(pipe, "<stdin>")
    assert [(error.line, error.path) for error in report.errors] == [(2, "key")]


def test_a_validation_stopped_by_its_caller_leaves_the_stream_where_it_stopped(
    tmp_path: Path,
) -> None:
    data = b"".join(_line(f"k{index}") for index in range(5000))
    with _file(tmp_path, data).open("rb") as handle:
        handle.readline()  # the caller's buffer now holds the next lines

        def stop_at_line_four(number: int, request: object) -> None:
            if number == 3:  # line 4 of the file
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            validate_stream(handle, "requests.jsonl", on_request=stop_at_line_four)
        # Where the validator stopped reading: after the line whose request was refused.
        where = sum(len(_line(f"k{index}")) for index in range(4))
        assert handle.tell() == where
        assert handle.read() == data[where:]
