"""The chaos suite's run: a local cloud of its own, the attacks, the wait, the checks.

Leases, budgets and limits are shortened through settings (never patched) so that every
lapsed claim is found and every crashed step redone within minutes.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcloud import stack
from localcloud.chaos import attacks, checks
from localcloud.chaos.checks import Inbox, Notified, Verdicts, Written
from localcloud.chaos.plan import FAILED, MAX_REQUESTS_PER_JOB, Upload, probe, uploads

SETTINGS = {
    "BATCHLINE_SUBMIT_LEASE_SECONDS": "8",
    "BATCHLINE_LOAD_LEASE_SECONDS": "8",
    # Longer than a publish and its mark take on a loaded 2-core machine (4 s was not:
    # CI once saw a second sender publish after a slow first one's claim lapsed).
    "BATCHLINE_NOTIFY_LEASE_SECONDS": "12",
    "BATCHLINE_START_LEASE_SECONDS": "6",
    "BATCHLINE_START_BACKOFF_SECONDS": "1",
    "BATCHLINE_POLL_BUDGET_SECONDS": "20",
    "BATCHLINE_MAX_RUNNING_JOBS": "4",
    "BATCHLINE_MAX_REQUESTS_PER_JOB": str(MAX_REQUESTS_PER_JOB),
}
# Each function dies once at each of these steps (localcloud.chaos.crashing) and is restarted.
KILLS = {
    "submit": ("writing", "after_create", "notifying"),
    "poll": ("after_create", "checking"),
    "complete": ("writing", "after_load", "notifying"),
}
TIMEOUTS = {"small": 300.0, "full": 900.0}
# Probe files written at most, one at a time, while a kill point has not fired.
MAX_PROBES = 3
# After the last expected notification: time for a duplicate to show itself (two lapsed
# notification leases and a few poll ticks).
QUIET_SECONDS = 2 * float(SETTINGS["BATCHLINE_NOTIFY_LEASE_SECONDS"]) + 4


def say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)


@dataclass
class Progress:
    """A line every 15 s while the suite waits for the notifications."""

    expected: int
    _next: float = 0.0

    def show(self, notified: int) -> None:
        if time.monotonic() >= self._next:
            say(f"{notified} of {self.expected} generations notified")
            self._next = time.monotonic() + 15


class Background:
    """Work on a thread of its own until `stop`."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        raise NotImplementedError


class Supervisor(Background):
    """Restarts a killed function on its port, as the platform starts a new instance."""

    def __init__(self) -> None:
        super().__init__()
        self.restarts: dict[str, int] = {}
        self.errors: list[str] = []

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            state = stack.StackState.load()
            for name in KILLS:
                service = state.services[name] if state else None
                if service is None:
                    continue
                stack._reap(service.pid)
                if stack._alive(service):
                    continue
                try:
                    stack.restart(name)
                except stack.StackError as exc:
                    self.errors.append(f"{name}: {exc}")
                    continue
                self.restarts[name] = self.restarts.get(name, 0) + 1
                say(f"{name} was killed; restarted it")


class Collector(Background):
    """Every notification published on the completion topic, duplicates included (each
    message once: checks.Inbox)."""

    def __init__(self, subscription: str) -> None:
        super().__init__()
        self.subscription = subscription
        self.inbox = Inbox()
        self.killed_senders = 0  # copies explained by a kill: checks.copies_of_killed_senders

    @property
    def received(self) -> list[Notified]:
        return self.inbox.received

    def uris(self) -> set[str]:
        return {str(n.body.get("source_uri")) for n in list(self.received)}

    def _run(self) -> None:
        from google.api_core.exceptions import DeadlineExceeded
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        while not self._stop.is_set():
            try:
                response = subscriber.pull(
                    request={"subscription": self.subscription, "max_messages": 100}, timeout=2
                )
            except DeadlineExceeded:
                continue
            for message in response.received_messages:
                self.inbox.take(
                    message.message.message_id, message.message.attributes, message.message.data
                )
            if response.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": self.subscription,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )


def _wrappers(marks: Path) -> dict[str, list[str]]:
    return {
        name: [
            sys.executable,
            "-m",
            "localcloud.chaos.crashing",
            "--function",
            name,
            "--marks",
            str(marks),
            *(f"--kill={point}" for point in points),
            "--",
        ]
        for name, points in KILLS.items()
    }


def _subscribe(topic: str, name: str) -> str:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    path = str(subscriber.subscription_path(stack.PROJECT, name))
    topic_path = pubsub_v1.PublisherClient.topic_path(stack.PROJECT, topic)
    subscriber.create_subscription(name=path, topic=topic_path, ack_deadline_seconds=60)
    return path


def _write(upload: Upload) -> Written:
    from batchline.runtime.clients import storage_client

    blob = storage_client().bucket(stack.INPUT_BUCKET).blob(upload.name)
    blob.upload_from_string(upload.data, content_type="application/jsonl")
    return Written(upload, stack.INPUT_BUCKET, int(blob.generation))


def _deliver(
    url: str, event: attacks.MalformedEvent, deadline: float, *, redeliver: bool
) -> int | str:
    """Post until an answer comes (a killed function answers nothing until restarted) and,
    with `redeliver`, as the platform does: again after a backoff until one is 2xx. The
    last answer (a status, or the error when none came)."""
    backoff = 0.5
    while True:
        answer = attacks.send(url, event)
        accepted = isinstance(answer, int) and (answer < 300 or not redeliver)
        if accepted or time.monotonic() > deadline:
            return answer
        time.sleep(backoff)
        backoff = min(backoff * 2, 8.0)


def _under_way(ledger: Any, written: Written) -> bool:
    records = ledger.find_sources(written.bucket, written.upload.name)
    return any(
        r.source.generation == written.generation and r.state.value != "received" for r in records
    )


def _all_final(ledger: Any, written: Sequence[Written]) -> bool:
    for item in written:
        records = ledger.find_sources(item.bucket, item.upload.name)
        mine = [r for r in records if r.source.generation == item.generation]
        if not mine or mine[0].notified_time is None:
            return False
    return True


def _unfired(marks: Path) -> list[str]:
    """The armed kill points that no function has reached yet."""
    return [
        f"{function}.{point}"
        for function, points in KILLS.items()
        for point in points
        if not (marks / f"{function}.{point}").exists()
    ]


def _wait_for(condition: Callable[[], bool], deadline: float, every: float = 1.0) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def run(scale: str, keep: bool = False) -> Verdicts:
    """Start a local cloud, attack it, wait for it to settle, check it; the verdicts."""
    folder = Path(tempfile.mkdtemp(prefix="batchline-chaos-"))
    stack.use_state_dir(folder)
    plan = uploads(scale)
    started = time.monotonic()
    say(f"{scale} plan: {len(plan)} uploads; local cloud in {folder}")
    try:
        state = stack.up(
            state_seconds=1.0,
            tick_seconds=1.0,
            settings=SETTINGS,
            function_wrappers=_wrappers(folder / "kills"),
        )
        return _attack_and_check(state, plan, folder, scale, started)
    finally:
        stack.down()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _attack_and_check(
    state: stack.StackState, plan: Sequence[Upload], folder: Path, scale: str, started: float
) -> Verdicts:
    import os

    from batchline.runtime import clients, settings, wiring
    from localcloud.resources import notification_topic

    os.environ.update(state.environment)
    clients.reset_clients()
    settings.reset_settings()
    wiring.reset()
    ledger = wiring.ledger()
    urls = {name: service.url for name, service in state.services.items()}
    duplicator = attacks.Duplicator(
        stack.PROJECT,
        urls["submit"],
        _subscribe(notification_topic(stack.INPUT_BUCKET), "chaos-notification-copies"),
        _subscribe(stack.FINISHED_TOPIC, "chaos-finished-copies"),
    )
    collector = Collector(f"projects/{stack.PROJECT}/subscriptions/{stack.COMPLETED_SUBSCRIPTION}")
    supervisor = Supervisor()
    for worker in (collector, duplicator, supervisor):
        worker.start()
    attacks.inject_faults(urls["vertex"], urls["bigquery"])
    deadline = time.monotonic() + TIMEOUTS[scale]
    first_wave = [upload for upload in plan if upload.wave == 1]
    later = [upload for upload in plan if upload.wave == 2]
    say(f"uploading {len(first_wave)} files at once; faults injected")
    malformed = attacks.malformed_events(stack.INPUT_BUCKET)
    gone = attacks.gone_event(stack.INPUT_BUCKET)
    with ThreadPoolExecutor(8) as pool:
        writing = [pool.submit(_write, upload) for upload in first_wave]
        answers = [
            pool.submit(_deliver, urls[e.function], e, deadline, redeliver=e is gone)
            for e in [*malformed, gone]
        ]
        written = [future.result() for future in writing]
    gone_written = Written(
        Upload(attacks.GONE_NAME, b"", FAILED), stack.INPUT_BUCKET, attacks.GONE_GENERATION
    )
    every = [*written, gone_written]
    first = {item.uri for item in every}
    _wait_for(lambda: len(collector.uris() & first) >= len(first) // 2, deadline)
    # Before the second wave: each refused call is tried again until it succeeds, so the
    # second wave's own creates, reads and loads use these up if nothing else does.
    attacks.inject_faults(urls["vertex"], urls["bigquery"])
    say("half the first wave is notified; faults injected again")
    for upload in later:
        earlier = next(w for w in written if w.upload.name == upload.name)
        _wait_for(functools.partial(_under_way, ledger, earlier), deadline, 0.2)
        every.append(_write(upload))
        say(f"wrote a second generation of {upload.name!r}")
    expected = {item.uri for item in every}
    progress = Progress(len(expected))

    def settled_now() -> bool:
        notified = len(collector.uris() & expected)
        progress.show(notified)
        return notified == len(expected) and _all_final(ledger, every)

    settled = _wait_for(settled_now, deadline, 2.0)
    for number in range(1, MAX_PROBES + 1):
        unfired = _unfired(folder / "kills")
        if not settled or not unfired:
            break
        # More parts than the cap takes: submit starts the first, poll the ones after.
        written_probe = _write(probe(number, int(SETTINGS["BATCHLINE_MAX_RUNNING_JOBS"]) + 2))
        every.append(written_probe)
        expected.add(written_probe.uri)
        progress.expected = len(expected)
        say(f"not reached yet: {', '.join(unfired)}; wrote {written_probe.upload.name}")
        settled = _wait_for(settled_now, deadline, 2.0)
    say(f"{'settled' if settled else 'NOT settled'} after {time.monotonic() - started:.0f} s")
    time.sleep(QUIET_SECONDS)
    for worker in (duplicator, supervisor, collector):
        worker.stop()
    verdicts = Verdicts()
    verdicts.check("the pipeline settled before the deadline", settled, TIMEOUTS[scale])
    _check_everything(verdicts, state, folder, every, collector, supervisor, ledger)
    for event, answer in zip([*malformed, gone], answers, strict=True):
        _check_answer(verdicts, folder, event, answer.result())
    say(
        f"{duplicator.copies} duplicate events, {sum(supervisor.restarts.values())} restarts, "
        f"{collector.inbox.redelivered} notifications delivered again by Pub/Sub, "
        f"{collector.killed_senders} published again after their sender was killed "
        "before recording them"
    )
    return verdicts


def _check_everything(
    verdicts: Verdicts,
    state: stack.StackState,
    folder: Path,
    every: Sequence[Written],
    collector: Collector,
    supervisor: Supervisor,
    ledger: Any,
) -> None:
    from batchline.runtime.clients import bigquery_client, job_service_client, storage_client
    from batchline.runtime.settings import get_settings

    settings = get_settings()
    current = stack.StackState.load()
    logs = {name: Path(current.services[name].log) for name in KILLS} if current else {}
    kills = checks.kills_in(folder / "kills")
    collector.killed_senders = checks.check_notifications(
        verdicts, every, collector.received, logs, kills
    )
    checks.check_ledger(verdicts, every, ledger)
    checks.check_rows(
        verdicts, every, lambda sql: list(bigquery_client().query(sql).result()), stack.DATASET
    )
    parent = f"projects/{stack.PROJECT}/locations/{stack.REGION}"
    jobs = list(job_service_client().list_batch_prediction_jobs(parent=parent))
    checks.check_jobs(verdicts, every, jobs)
    checks.check_reports(
        verdicts,
        every,
        settings.reports_prefix,
        lambda bucket, name: storage_client().bucket(bucket).blob(name).download_as_bytes(),
    )
    urls = {name: service.url for name, service in state.services.items()}
    left = attacks.faults_left(urls["vertex"], urls["bigquery"])
    verdicts.check("every injected 429 and 503 was answered to the pipeline", not left, left)
    for function, points in KILLS.items():
        for point in points:
            marker = folder / "kills" / f"{function}.{point}"
            verdicts.check(f"{function} was killed at {point}", marker.exists())
        restarts = supervisor.restarts.get(function, 0)
        verdicts.check(
            f"{function} restarted after each of its {len(points)} kills",
            restarts == len(points),
            f"{restarts} restarts; {supervisor.errors}",
        )
    for name, service in (current.services if current else {}).items():
        verdicts.check(f"{name} alive at the end", stack.healthy(service))
    checks.check_logs(verdicts, logs)


def _check_answer(
    verdicts: Verdicts, folder: Path, event: attacks.MalformedEvent, answer: int | str
) -> None:
    name = f"{event.function}: {event.description}"
    verdicts.check(f"{name} acknowledged (2xx)", isinstance(answer, int) and answer < 300, answer)
    lines = checks.log_lines(folder / "logs" / f"{event.function}.log")
    if event.event_id:
        logged = any(
            line.get("event_id") == event.event_id and line.get("severity") in ("ERROR", "WARNING")
            for line in lines
        )
    else:
        logged = any("not a readable CloudEvent" in str(line.get("message")) for line in lines)
    verdicts.check(f"{name} logged with its event id", logged)


def print_verdicts(verdicts: Verdicts, out: Callable[[str], None] = print) -> None:
    for outcome in verdicts.failed:
        out(f"FAILED {outcome.name}: {outcome.detail}")
    out(verdicts.summary())
