"""Logs: one JSON object per line, correlation fields from context and extra, configured once."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from batchline.domain.log_context import current_context, log_context
from batchline.runtime.logs import JsonFormatter, configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(logging.DEBUG, stream=buffer)
    yield buffer
    configure_logging(logging.WARNING, stream=io.StringIO())


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_json_with_severity_message_time_and_logger(stream: io.StringIO) -> None:
    logging.getLogger("batchline.test").warning("job %s is late", "123")
    [entry] = lines(stream)
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "job 123 is late"
    assert entry["logger"] == "batchline.test"
    moment = datetime.fromisoformat(entry["time"])
    assert moment.tzinfo is not None
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert entry["logging.googleapis.com/sourceLocation"]["function"] == (
        "test_a_line_is_json_with_severity_message_time_and_logger"
    )


def test_context_fields_reach_every_line_in_scope_and_leave_after(stream: io.StringIO) -> None:
    logger = logging.getLogger("batchline.test")
    with log_context(bucket="in", object="a.jsonl", generation=7, event_id=None):
        logger.info("received")
        with log_context(job="projects/p/locations/l/batchPredictionJobs/1"):
            logger.info("submitted")
            assert current_context()["bucket"] == "in"
        logger.info("after the job scope")
    logger.info("outside")
    received, submitted, after, outside = lines(stream)
    assert received["bucket"] == "in"
    assert received["generation"] == 7
    assert "event_id" not in received  # None means unknown: left out
    assert submitted["job"].endswith("/1")
    assert submitted["object"] == "a.jsonl"
    assert "job" not in after
    assert "bucket" not in outside


def test_extra_fields_are_added_and_reserved_names_do_not_clobber(stream: io.StringIO) -> None:
    logging.getLogger("batchline.test").info(
        "loaded",
        extra={"rows": 12, "at": datetime(2026, 1, 2, tzinfo=UTC), "severity": "fake"},
    )
    [entry] = lines(stream)
    assert entry["rows"] == 12
    assert entry["at"] == "2026-01-02T00:00:00+00:00"
    assert entry["severity"] == "INFO"
    assert entry["field_severity"] == "fake"


def test_exceptions_carry_their_stack_trace(stream: io.StringIO) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("batchline.test").exception("load failed")
    [entry] = lines(stream)
    assert entry["severity"] == "ERROR"
    assert "RuntimeError: boom" in entry["stack_trace"]
    assert entry["message"] == "load failed"


def test_configure_is_idempotent(stream: io.StringIO) -> None:
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
    for _ in range(5):
        configure_logging(logging.DEBUG, stream=stream)
    assert [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)] == ours
    assert len(ours) == 1
    logging.getLogger("batchline.test").info("once")
    assert len(lines(stream)) == 1


def test_context_does_not_leak_between_threads(stream: io.StringIO) -> None:
    logger = logging.getLogger("batchline.test")
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        with log_context(event_id=name):
            barrier.wait()
            logger.info("working")

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(entry["event_id"] for entry in lines(stream)) == ["a", "b"]


def test_stdout_is_the_one_at_each_write_not_the_one_at_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A test runner swaps sys.stdout per test and closes the old one: logging configured
    # during one test must not write to (or flush) a closed stream in the next.
    from batchline.runtime import logs

    root = logging.getLogger()
    monkeypatch.setattr(logs, "_handler", None)
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", first)
    configure_logging(logging.INFO)
    handler = logs._handler
    try:
        first.close()
        monkeypatch.setattr("sys.stdout", second)
        logging.getLogger("batchline.test").warning("after the swap")
        [entry] = lines(second)
        assert entry["message"] == "after the swap"
        configure_logging(logging.INFO, stream=io.StringIO())  # re-pointing: no flush error
    finally:
        root.removeHandler(handler)  # type: ignore[arg-type]
