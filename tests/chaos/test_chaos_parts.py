"""The chaos suite's own parts, without a local cloud: a kill switch fires once per point
and kills its whole process group; the checks fail on what they must catch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from localcloud.chaos import checks, plan
from localcloud.chaos.checks import Notified, Verdicts, Written

pytestmark = pytest.mark.unit

SWITCH = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from localcloud.chaos.crashing import KillSwitch
    switch = KillSwitch("submit", ["after_create"], Path(sys.argv[1]))
    switch.reached("checking", "not armed: nothing happens")
    switch.reached("after_create", "projects/p/locations/l/batchPredictionJobs/1")
    print("survived")
    """
)


def test_a_kill_point_kills_the_process_group_once_then_lets_it_live(tmp_path: Path) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", SWITCH, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,  # its own group: the kill must not reach pytest
            check=False,
        )

    first = run()
    assert first.returncode == -signal.SIGKILL and "survived" not in first.stdout
    assert "chaos: killing submit at after_create" in first.stderr
    assert (tmp_path / "submit.after_create").exists()
    again = run()
    assert again.returncode == 0 and "survived" in again.stdout


def test_an_unknown_kill_point_is_refused(tmp_path: Path) -> None:
    from localcloud.chaos.crashing import KillSwitch

    with pytest.raises(ValueError, match="unknown kill points"):
        KillSwitch("poll", ["during_lunch"], tmp_path)


def written(upload: plan.Upload, generation: int = 7) -> Written:
    return Written(upload, "in", generation)


def notified(item: Written, event: str, **body: object) -> Notified:
    return Notified({"event": event}, {"source_uri": item.uri, "event": event, **body})


def test_two_notifications_for_one_generation_fail_the_check() -> None:
    item = written(plan.valid("a.jsonl", 3))
    once = notified(item, plan.SUCCEEDED, counts={"succeeded": 3})
    verdicts = Verdicts()
    checks.check_notifications(verdicts, [item], [once])
    assert not verdicts.failed
    checks.check_notifications(verdicts, [item], [once, once])
    assert [o.name for o in verdicts.failed] == [
        "one job.succeeded notification for 'gs://in/a.jsonl#7'"
    ]
    assert verdicts.summary() == "4 checks, 3 passed, 1 failed"


def test_a_doubled_notification_is_reported_with_the_functions_log_lines_about_it(
    tmp_path: Path,
) -> None:
    item = written(plan.with_errors("bad.jsonl", 2, {2: b"{"}))
    log = tmp_path / "submit.log"
    lines = [
        {"time": "2026-12-02T05:48:52.600000+00:00", "event_id": "11", "message": "notified"},
        {"time": "2026-12-02T05:48:50.200000+00:00", "event_id": "11", "message": "received"},
    ]
    other = {"time": "2026-12-02T05:48:51.000000+00:00", "message": "another file"}
    log.write_text(
        "chaos: a kill note\n"
        + "".join(json.dumps({**line, "source_uri": item.uri}) + "\n" for line in lines)
        + json.dumps({**other, "source_uri": "gs://in/other.jsonl#7"})
        + "\n"
    )
    twice = notified(item, plan.REJECTED, error_count=1)
    verdicts = Verdicts()
    checks.check_notifications(verdicts, [item], [twice, twice], {"submit": log})
    (failed,) = verdicts.failed
    assert failed.detail.splitlines() == [
        "['file.rejected', 'file.rejected']",
        "    05:48:50.200 submit event 11: received",
        "    05:48:52.600 submit event 11: notified",
    ]


SENT = datetime(2026, 12, 2, 14, 24, 26, 500_000, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sent_twice_after_a_kill(
    tmp_path: Path, *, kill_after: float = 0.4, handled_before_kill: bool = True
) -> tuple[Written, list[Notified], dict[str, Path], list[checks.Kill]]:
    """submit publishes file.rejected and is killed before it records it; after the claim's
    lease the poll's sweep sends it again and records it (what CI saw on 2026-12-02)."""
    item = written(plan.with_errors("bad.jsonl", 2, {2: b"{"}))
    about = {"source_uri": item.uri, "time": SENT.isoformat(), "event_id": "10"}
    received = json.dumps({**about, "message": "received"}) + "\n"
    kill_note = "chaos: killing submit at writing (gs://work/staged/other.jsonl)\n"
    submit = tmp_path / "submit.log"
    submit.write_text(received + kill_note if handled_before_kill else kill_note + received)
    poll = tmp_path / "poll.log"
    later = SENT + timedelta(seconds=61)
    notified_line = {
        **about,
        "time": (later + timedelta(milliseconds=20)).isoformat(),
        "event_id": "87",
        "event": "file.notified",
        "message": "notified file.rejected",
    }
    poll.write_text(json.dumps(notified_line) + "\n")
    copies = [
        notified(item, plan.REJECTED, error_count=1, published_time=_stamp(moment))
        for moment in (SENT, later)
    ]
    kills = [checks.Kill("submit", "writing", SENT.timestamp() + kill_after)]
    return item, copies, {"submit": submit, "poll": poll}, kills


def test_a_copy_published_by_a_sender_killed_before_it_recorded_it_is_allowed(
    tmp_path: Path,
) -> None:
    # The README names this case: an instance that dies after the publish and before it
    # records it leaves the claim to lapse, and the sweep sends the notification again.
    item, copies, logs, kills = _sent_twice_after_a_kill(tmp_path)
    verdicts = Verdicts()
    assert checks.check_notifications(verdicts, [item], copies, logs, kills) == 1
    assert not verdicts.failed


@pytest.mark.parametrize(
    "why",
    [
        "no kill",
        "a kill before the publish",
        "a kill long after the publish",
        "an instance that never had the file",
    ],
)
def test_a_second_copy_no_kill_explains_fails_the_check(tmp_path: Path, why: str) -> None:
    item, copies, logs, kills = _sent_twice_after_a_kill(
        tmp_path,
        kill_after={"a kill before the publish": -0.2, "a kill long after the publish": 30.0}.get(
            why, 0.4
        ),
        handled_before_kill=why != "an instance that never had the file",
    )
    verdicts = Verdicts()
    explained = checks.check_notifications(
        verdicts, [item], copies, logs, [] if why == "no kill" else kills
    )
    assert explained == 0
    assert [o.name for o in verdicts.failed] == [f"one file.rejected notification for {item.uri!r}"]


def test_two_senders_that_both_recorded_the_send_fail_the_check(tmp_path: Path) -> None:
    item, copies, logs, kills = _sent_twice_after_a_kill(tmp_path)
    recorded = logs["poll"].read_text()
    logs["poll"].write_text(recorded + recorded)
    verdicts = Verdicts()
    checks.check_notifications(verdicts, [item], copies, logs, kills)
    assert len(verdicts.failed) == 1


def test_one_kill_explains_one_copy_not_two(tmp_path: Path) -> None:
    item, copies, logs, kills = _sent_twice_after_a_kill(tmp_path)
    third = notified(item, plan.REJECTED, error_count=1, published_time=_stamp(SENT))
    verdicts = Verdicts()
    checks.check_notifications(verdicts, [item], [*copies, third], logs, kills)
    assert len(verdicts.failed) == 1


def test_the_kills_are_read_from_their_markers(tmp_path: Path) -> None:
    record = {"function": "submit", "point": "writing", "what": "gs://w/x", "time": 12.5}
    (tmp_path / "submit.writing").write_text(json.dumps(record))
    assert checks.kills_in(tmp_path) == [checks.Kill("submit", "writing", 12.5)]
    assert checks.kills_in(tmp_path / "none") == []


def test_a_message_delivered_again_counts_once_and_a_second_publish_counts_twice() -> None:
    item = written(plan.with_errors("bad.jsonl", 2, {2: b"{"}))
    data = json.dumps({"source_uri": item.uri, "event": plan.REJECTED, "error_count": 1})
    inbox = checks.Inbox()
    inbox.take("101", {"event": plan.REJECTED}, data.encode())
    inbox.take("101", {"event": plan.REJECTED}, data.encode())  # its ack came too late
    verdicts = Verdicts()
    checks.check_notifications(verdicts, [item], inbox.received)
    assert not verdicts.failed
    assert inbox.redelivered == 1
    inbox.take("102", {"event": plan.REJECTED}, data.encode())  # published again
    checks.check_notifications(verdicts, [item], inbox.received)
    assert [o.detail for o in verdicts.failed] == ["['file.rejected', 'file.rejected']"]


def test_a_notification_for_a_generation_never_written_fails_the_check() -> None:
    item = written(plan.valid("a.jsonl", 1))
    stray = notified(written(plan.valid("a.jsonl", 1), generation=8), plan.SUCCEEDED)
    verdicts = Verdicts()
    checks.check_notifications(
        verdicts, [item], [notified(item, plan.SUCCEEDED, counts={"succeeded": 1}), stray]
    )
    assert [o.name for o in verdicts.failed] == [
        "no notification for a generation the suite did not write"
    ]


def test_a_missing_or_doubled_row_fails_the_row_checks() -> None:
    item = written(plan.valid("a.jsonl", 3))
    rejected = written(plan.with_errors("bad.jsonl", 3, {2: b"{"}))

    def query(rows: list[dict[str, object]], twice: list[dict[str, object]]) -> object:
        return lambda sql: twice if "HAVING" in sql else rows

    whole = {"source_uri": item.uri, "n": 3, "lines": 3, "first": 1, "last": 3, "succeeded": 3}
    verdicts = Verdicts()
    checks.check_rows(verdicts, [item, rejected], query([whole], []), "d")
    assert not verdicts.failed and len(verdicts.outcomes) == 3
    gap = {**whole, "n": 2, "lines": 2, "last": 2, "succeeded": 2}
    stray = {**whole, "source_uri": rejected.uri}
    doubled = [{"source_uri": item.uri, "input_line": 2, "attempt": 1, "n": 2}]
    verdicts = Verdicts()
    checks.check_rows(verdicts, [item, rejected], query([gap, stray], doubled), "d")
    assert len(verdicts.failed) == 3


def test_a_second_job_for_a_part_fails_the_job_check() -> None:
    from dataclasses import dataclass

    @dataclass
    class Job:
        labels: dict[str, str]

    item = written(plan.valid("split.jsonl", plan.MAX_REQUESTS_PER_JOB + 1))
    label = checks._source_label(item)
    one = [
        Job({"batchline_source": label, "batchline_part": str(p), "batchline_attempt": "1"})
        for p in (1, 2)
    ]
    verdicts = Verdicts()
    checks.check_jobs(verdicts, [item], one)
    assert not verdicts.failed and len(verdicts.outcomes) == 2
    verdicts = Verdicts()
    checks.check_jobs(verdicts, [item], [*one, one[1]])
    assert [o.name for o in verdicts.failed] == [f"{item.uri!r} part 2: one job per attempt"]


def test_the_plans_hold_dozens_of_files_of_every_kind() -> None:
    full, small = plan.uploads("full"), plan.uploads("small")
    assert len(full) >= 40 and 10 <= len(small) < len(full)
    for uploads in (full, small):
        outcomes = {u.outcome for u in uploads}
        assert outcomes == {plan.SUCCEEDED, plan.REJECTED}
        assert any(u.parts > 1 for u in uploads), "one file split into parts"
        assert any(u.wave == 2 for u in uploads), "one name written twice"
        assert any(u.data.startswith(b"\xef\xbb\xbf") for u in uploads)
    assert any(len(u.name.encode()) == 1023 for u in full)


def test_the_points_not_reached_are_those_without_a_marker(tmp_path: Path) -> None:
    from localcloud.chaos import runner

    (tmp_path / "submit.writing").write_text("{}")
    (tmp_path / "poll.checking").write_text("{}")
    unfired = runner._unfired(tmp_path)
    assert "submit.writing" not in unfired and "poll.checking" not in unfired
    assert "submit.after_create" in unfired
    assert len(unfired) == sum(len(points) for points in runner.KILLS.values()) - 2


def test_a_probe_has_more_parts_than_the_cap_takes() -> None:
    from localcloud.chaos import runner

    cap = int(runner.SETTINGS["BATCHLINE_MAX_RUNNING_JOBS"])
    probe = plan.probe(1, cap + 2)
    assert probe.parts == cap + 2 and probe.outcome == plan.SUCCEEDED and probe.wave == 3
    assert probe.data.count(b"\n") == probe.lines == (cap + 2) * plan.MAX_REQUESTS_PER_JOB
