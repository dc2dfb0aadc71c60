"""What must hold once the chaos has passed, each as a named check that passes or fails.

For every generation written: exactly one notification, of the outcome its content calls
for (a second copy only from a sender killed between its publish and its record of it, each
matched to its kill: copies_of_killed_senders); a valid one has exactly one row per line in
predictions_latest and no row twice in predictions; an invalid one has its report naming
the bad lines, no job and no row. For
every part: one Vertex AI job per attempt, never two. For the suite: no ledger record or
notification it did not cause, every kill done and its function restarted, every malformed
event acknowledged with an error line naming it, every injected fault used, every service
alive, and no stack trace in the functions' logs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from batchline.domain.log_events import FILE_NOTIFIED
from localcloud.chaos.plan import FAILED, REJECTED, SUCCEEDED, Upload


@dataclass(frozen=True)
class Outcome:
    """One check's verdict; `detail` says what was found when it failed."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class Verdicts:
    outcomes: list[Outcome] = field(default_factory=list)

    def check(self, name: str, passed: bool, detail: object = "") -> None:
        self.outcomes.append(Outcome(name, bool(passed), "" if passed else str(detail)))

    @property
    def failed(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.passed]

    def summary(self) -> str:
        total, failed = len(self.outcomes), len(self.failed)
        return f"{total} checks, {total - failed} passed, {failed} failed"


@dataclass(frozen=True)
class Written:
    """A generation the suite wrote (or, for the gone object, only announced)."""

    upload: Upload
    bucket: str
    generation: int

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.upload.name}#{self.generation}"


@dataclass(frozen=True)
class Notified:
    attributes: Mapping[str, str]
    body: Mapping[str, Any]


@dataclass
class Inbox:
    """The notifications published, each message once however often Pub/Sub delivered it.

    Delivery is at least once: a message whose ack came after its ack deadline (a loaded
    machine) is delivered again, with the same message ID
    (https://docs.cloud.google.com/pubsub/docs/exactly-once-delivery). That is no second
    notification; a second publish is, and it has a message ID of its own.
    """

    received: list[Notified] = field(default_factory=list)
    redelivered: int = 0
    _ids: set[str] = field(default_factory=set)

    def take(self, message_id: str, attributes: Mapping[str, str], data: bytes) -> None:
        if message_id in self._ids:
            self.redelivered += 1
            return
        self._ids.add(message_id)
        self.received.append(Notified(dict(attributes), json.loads(data)))


def notifications_by_uri(received: Iterable[Notified]) -> dict[str, list[Notified]]:
    found: dict[str, list[Notified]] = defaultdict(list)
    for notification in received:
        found[str(notification.body.get("source_uri", ""))].append(notification)
    return found


def trace(uri: str, logs: Mapping[str, Path], limit: int = 20) -> list[str]:
    """The functions' last log lines about one generation, in time order: what a failed
    check about it needs to be understood (the local cloud's folder is gone by then)."""
    found = [
        (str(line.get("time", "")), name, line)
        for name, path in logs.items()
        if path.exists()
        for line in log_lines(path)
        if line.get("source_uri") == uri
    ]
    return [
        f"{time[11:23]} {name} event {line.get('event_id', '-')}: {line.get('message')}"
        for time, name, line in sorted(found, key=lambda found: found[0])[-limit:]
    ]


# What the crashing wrapper prints just before its SIGKILL (localcloud.chaos.crashing).
KILL_NOTE = "chaos: killing "
# How long after a copy's publish its sender may die and still count as not having recorded
# it: the publish's answer and one ledger transaction (the claim's lease is 60 s).
RECORD_WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Kill:
    """One kill point reached: the marker the crashing wrapper wrote just before its kill."""

    function: str
    point: str
    time: float  # seconds since the epoch


def kills_in(marks: Path) -> list[Kill]:
    found = []
    for marker in sorted(marks.glob("*.*")) if marks.is_dir() else []:
        record = json.loads(marker.read_text() or "{}")
        if "time" in record:
            found.append(Kill(record["function"], record["point"], float(record["time"])))
    return found


def _seconds(timestamp: object) -> float | None:
    try:
        return datetime.fromisoformat(str(timestamp)).timestamp()
    except ValueError:
        return None


def _lifetimes_handling(uri: str, logs: Mapping[str, Path]) -> set[tuple[str, str]]:
    """The kills, as (function, point), that ended an instance which had logged a line about
    `uri`: each instance's lines run from one kill note (or the log's start) to the next."""
    ended: set[tuple[str, str]] = set()
    for function, path in logs.items():
        if not path.exists():
            continue
        handled = False
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(KILL_NOTE):
                if handled:
                    ended.add((function, line[len(KILL_NOTE) :].split(" ")[2]))
                handled = False
            elif line.startswith("{") and not handled:
                try:
                    handled = json.loads(line).get("source_uri") == uri
                except ValueError:
                    continue
    return ended


def _recorded_sends(uri: str, logs: Mapping[str, Path]) -> list[float]:
    """When a sender recorded the notification of `uri` as sent (its file.notified line)."""
    return [
        seconds
        for path in logs.values()
        if path.exists()
        for line in log_lines(path)
        if line.get("event") == FILE_NOTIFIED and line.get("source_uri") == uri
        if (seconds := _seconds(line.get("time"))) is not None
    ]


def copies_of_killed_senders(
    uri: str, copies: Sequence[Notified], logs: Mapping[str, Path], kills: Sequence[Kill]
) -> int | None:
    """How many of `copies` (one notification published more than once) came from senders
    killed between their publish and their record of it, the one case the README names
    where a second copy goes out; None when the copies are not all explained so.

    One sender recorded the send; every other copy must be matched by a kill of its own, of
    an instance that was handling `uri`, within RECORD_WINDOW_SECONDS after the copy's
    publish (its `published_time` is taken just before the publish, so the kill is later)."""
    recorded = _recorded_sends(uri, logs)
    published = sorted(_seconds(copy.body.get("published_time")) or 0.0 for copy in copies)
    if len(recorded) != 1 or not published:
        return None
    # The recorder's copy: the last published before its record.
    before = [t for t in published if t <= recorded[0]]
    if not before:
        return None
    unrecorded = list(published)
    unrecorded.remove(before[-1])
    handling = _lifetimes_handling(uri, logs)
    free = [kill for kill in kills if (kill.function, kill.point) in handling]
    for sent in unrecorded:
        match = next((k for k in free if sent <= k.time <= sent + RECORD_WINDOW_SECONDS), None)
        if match is None:
            return None
        free.remove(match)
    return len(unrecorded)


def check_notifications(
    verdicts: Verdicts,
    written: Sequence[Written],
    received: Sequence[Notified],
    logs: Mapping[str, Path] | None = None,
    kills: Sequence[Kill] = (),
) -> int:
    """One notification per generation; the copies published by senders killed before they
    recorded the send (how many is returned) are allowed, each matched to its kill."""
    by_uri = notifications_by_uri(received)
    explained = 0
    for item in written:
        got = by_uri.get(item.uri, [])
        events = [n.body.get("event") for n in got]
        expected = item.upload.outcome
        ok = bool(got) and set(events) == {expected}
        if ok and len(got) > 1:
            copies = copies_of_killed_senders(item.uri, got, logs or {}, kills)
            ok = copies is not None
            explained += copies or 0
        if ok and expected == SUCCEEDED:
            counts = got[0].body.get("counts", {})
            ok = counts.get("succeeded") == item.upload.lines
            events = [f"{expected} with counts {counts}"]
        elif ok and expected == REJECTED:
            ok = got[0].body.get("error_count") == len(item.upload.error_lines)
            events = [f"{expected} with error_count {got[0].body.get('error_count')}"]
        detail: object = events
        if not ok and logs:
            detail = "\n".join([str(events), *(f"    {line}" for line in trace(item.uri, logs))])
        verdicts.check(f"one {expected} notification for {item.uri!r}", ok, detail)
    strays = sorted(set(by_uri) - {item.uri for item in written})
    verdicts.check("no notification for a generation the suite did not write", not strays, strays)
    return explained


def check_ledger(verdicts: Verdicts, written: Sequence[Written], ledger: Any) -> None:
    final = {SUCCEEDED: "loaded", REJECTED: "rejected", FAILED: "failed"}
    for item in written:
        bucket, name = item.bucket, item.upload.name
        records = {r.source.generation: r for r in ledger.find_sources(bucket, name)}
        record = records.get(item.generation)
        state = (record.state.value, record.notified_time is not None) if record else None
        expected = (final[item.upload.outcome], True)
        verdicts.check(f"{item.uri!r} final and notified in the ledger", state == expected, state)
    known = {item.uri for item in written}
    listed = sorted(record.source.uri for record in ledger.list_sources(limit=10_000))
    strays = [uri for uri in listed if uri not in known]
    verdicts.check("no ledger record for an event that names no written object", not strays, strays)


def check_rows(verdicts: Verdicts, written: Sequence[Written], query: Any, dataset: str) -> None:
    """Exactly one row per line in predictions_latest, none twice in predictions."""
    latest = {
        row["source_uri"]: row
        for row in query(
            "SELECT source_uri, COUNT(*) AS n, COUNT(DISTINCT input_line) AS lines, "
            "MIN(input_line) AS first, MAX(input_line) AS last, "
            "COUNTIF(status = 'SUCCEEDED') AS succeeded "
            f"FROM {dataset}.predictions_latest GROUP BY source_uri"
        )
    }
    for item in written:
        row = latest.get(item.uri)
        found = (
            (row["n"], row["lines"], row["first"], row["last"], row["succeeded"]) if row else None
        )
        if item.upload.outcome == SUCCEEDED:
            lines = item.upload.lines
            expected: tuple[int, ...] | None = (lines, lines, 1, lines, lines)
            name = f"{item.uri!r}: rows 1..{lines} once each, all SUCCEEDED"
        else:
            expected, name = None, f"{item.uri!r}: no row"
        verdicts.check(name, found == expected, f"(rows, lines, first, last, succeeded)={found}")
    twice = list(
        query(
            "SELECT source_uri, input_line, attempt, COUNT(*) AS n "
            f"FROM {dataset}.predictions GROUP BY source_uri, input_line, attempt "
            "HAVING COUNT(*) > 1 LIMIT 20"
        )
    )
    verdicts.check(
        "no (source_uri, input_line, attempt) loaded twice into predictions",
        not twice,
        [dict(row) for row in twice],
    )


def check_jobs(verdicts: Verdicts, written: Sequence[Written], jobs: Sequence[Any]) -> None:
    """One Vertex AI job per part and attempt; none for a file that was not valid."""
    made = Counter(
        tuple(job.labels.get(f"batchline_{key}") for key in ("source", "part", "attempt"))
        for job in jobs
    )
    for item in written:
        key = _source_label(item)
        mine = {k: n for k, n in made.items() if k[0] == key}
        if item.upload.outcome != SUCCEEDED:
            verdicts.check(f"{item.uri!r}: no Vertex AI job", not mine, mine)
            continue
        for part in range(1, item.upload.parts + 1):
            attempts = {k[2]: n for k, n in mine.items() if k[1] == str(part)}
            ok = bool(attempts) and "1" in attempts and set(attempts.values()) == {1}
            verdicts.check(f"{item.uri!r} part {part}: one job per attempt", ok, attempts)


def _source(item: Written) -> Any:
    from batchline.domain.states import SourceRef

    return SourceRef(item.bucket, item.upload.name, item.generation)


def _source_label(item: Written) -> str:
    """The batchline_source label of the file's jobs (steps.start.job_labels)."""
    return str(_source(item).document_id[:40])


def check_reports(
    verdicts: Verdicts, written: Sequence[Written], reports_prefix: str, read: Any
) -> None:
    """Each rejection's JSON report names exactly the bad lines (`read(bucket, name)`)."""
    from batchline.domain.reports import report_names

    for item in written:
        if item.upload.outcome != REJECTED:
            continue
        name = report_names(reports_prefix, _source(item)).json
        try:
            report = json.loads(read(item.bucket, name))
            lines: object = tuple(sorted({error["line"] for error in report["errors"]}))
        except Exception as exc:  # a missing or unreadable report fails this check
            lines = f"no readable report gs://{item.bucket}/{name}: {exc!r}"
        verdicts.check(
            f"{item.uri!r}: the report names lines {list(item.upload.error_lines)}",
            lines == item.upload.error_lines,
            lines,
        )


def log_lines(path: Path) -> list[dict[str, Any]]:
    """A function's JSON log lines (other lines, such as the kill notes, left out)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def check_logs(verdicts: Verdicts, logs: Mapping[str, Path]) -> None:
    for name, path in logs.items():
        traces = [line for line in log_lines(path) if line.get("stack_trace")]
        verdicts.check(
            f"no stack trace in the {name} function's log",
            not traces,
            [f"{line.get('message')}: {str(line['stack_trace'])[-300:]}" for line in traces[:3]],
        )
