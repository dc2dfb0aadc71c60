"""`make demo`: the main job, end to end on the local cloud.

Starts the local cloud, drops the documentation's text and multimodal samples and one
deliberately broken file into the input bucket, follows them until their notifications
arrive, prints the jobs, a few result rows and the rejection report, then stops everything.
Exit status 0 only when every step gave the expected outcome: both samples loaded with a row
per request, and the broken file rejected with exactly the errors listed in
samples/broken_requests.expected.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localcloud import stack

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXPECTED = {  # object name -> (event, rows or errors)
    "demo/text_requests.jsonl": ("job.succeeded", 10),
    "demo/multimodal_requests.jsonl": ("job.succeeded", 2),
    "demo/broken_requests.jsonl": ("file.rejected", 7),
}
TIMEOUT_SECONDS = 120


def main() -> int:
    from rich.console import Console

    console = Console(width=None if Console().is_terminal else 140)
    started = time.monotonic()
    failures: list[str] = []
    # A stack of its own: a developer's running `batchline local up` is left alone.
    stack.use_state_dir(stack.STATE_DIR / "demo")
    try:
        with console.status("starting the local cloud (emulators, functions, bridge)..."):
            state = stack.up(state_seconds=1.0, tick_seconds=1.0)
        console.print(f"local cloud up with {len(state.services)} services")
        os.environ.update(state.environment)
        generations = upload(console)
        notifications = wait(console, generations)
        failures += check(notifications, generations)
        show(console, notifications, generations)
    except Exception as exc:  # the demo reports any failure and still stops the stack
        failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        with console.status("stopping the local cloud..."):
            stack.down()
    elapsed = time.monotonic() - started
    if failures:
        console.print("[bold red]demo FAILED[/]:\n- " + "\n- ".join(failures))
        return 1
    console.print(
        f"[bold green]demo OK[/] in {elapsed:.0f} s: every file had the expected outcome."
    )
    return 0


def upload(console: Any) -> dict[str, int]:
    from batchline.runtime.clients import storage_client

    bucket = storage_client().bucket(stack.INPUT_BUCKET)
    generations = {}
    for name in EXPECTED:
        blob = bucket.blob(name)
        blob.upload_from_filename(str(SAMPLES / Path(name).name), content_type="application/jsonl")
        generations[name] = int(blob.generation)
        console.print(f"dropped gs://{stack.INPUT_BUCKET}/{name}")
    return generations


def wait(console: Any, generations: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Every upload's notification, from the completion topic's subscription."""
    from google.cloud import pubsub_v1

    from batchline_cli.waiting import await_notifications

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.PROJECT, stack.COMPLETED_SUBSCRIPTION)
    shown: set[str] = set()
    with console.status("waiting for notifications...") as status:

        def progress(received: Mapping[str, Mapping[str, Any]]) -> None:
            for name in sorted(set(received) - shown):
                console.print(f"notified: {received[name]['event']} for {name}")
                shown.add(name)
            status.update(f"waiting for notifications ({len(received)}/{len(generations)})...")

        return await_notifications(
            subscriber, path, generations, timeout=TIMEOUT_SECONDS, on_progress=progress
        )


def check(notifications: dict[str, dict[str, Any]], generations: dict[str, int]) -> list[str]:
    failures = []
    for name, (event, count) in EXPECTED.items():
        body = notifications.get(name)
        if body is None:
            failures.append(f"{name}: no notification within {TIMEOUT_SECONDS}s")
            continue
        if body["event"] != event:
            failures.append(f"{name}: expected {event}, got {body['event']}")
        elif event == "file.rejected" and body["error_count"] != count:
            failures.append(f"{name}: expected {count} errors, got {body['error_count']}")
        elif event == "job.succeeded" and body["counts"]["succeeded"] != count:
            failures.append(f"{name}: expected {count} rows, got {body['counts']}")
    failures += check_rows(notifications)
    failures += check_report(generations["demo/broken_requests.jsonl"])
    return failures


def check_rows(notifications: dict[str, dict[str, Any]]) -> list[str]:
    from batchline.runtime.clients import bigquery_client

    failures = []
    for name, (event, count) in EXPECTED.items():
        if event != "job.succeeded" or name not in notifications:
            continue
        source = notifications[name]["source_uri"]
        rows = list(
            bigquery_client()
            .query(
                "SELECT COUNT(*) AS n, COUNT(DISTINCT input_line) AS lines "
                f"FROM {stack.DATASET}.predictions WHERE source_uri = '{source}'"
            )
            .result()
        )
        if (rows[0]["n"], rows[0]["lines"]) != (count, count):
            failures.append(f"{name}: expected {count} rows, one per line, found {dict(rows[0])}")
    return failures


def report_name(generation: int, suffix: str) -> str:
    from batchline.runtime.settings import get_settings

    return f"{get_settings().reports_prefix}demo/broken_requests.jsonl.{generation}.report.{suffix}"


def check_report(generation: int) -> list[str]:
    from batchline.runtime.clients import storage_client

    name = report_name(generation, "json")
    report = json.loads(storage_client().bucket(stack.INPUT_BUCKET).blob(name).download_as_bytes())
    expected = json.loads((SAMPLES / "broken_requests.expected.json").read_text())["errors"]
    found = [{"line": e["line"], "path": e["path"]} for e in report["errors"]]
    return [] if found == expected else [f"report errors {found}, expected {expected}"]


def show(
    console: Any, notifications: dict[str, dict[str, Any]], generations: dict[str, int]
) -> None:
    from batchline_cli.main import main as cli

    console.rule("batchline jobs")
    cli(["jobs"])
    console.rule("a few result rows (batchline query)")
    cli(
        [
            "query",
            "SELECT input_line, status, finish_reason, prompt_tokens, output_tokens, "
            "SUBSTR(response_text, 1, 48) AS answer "
            f"FROM {stack.DATASET}.predictions ORDER BY source_uri, input_line LIMIT 5",
        ]
    )
    console.rule("the rejection report")
    from batchline.runtime.clients import storage_client

    name = report_name(generations["demo/broken_requests.jsonl"], "txt")
    text = storage_client().bucket(stack.INPUT_BUCKET).blob(name).download_as_text()
    console.print(text, markup=False, highlight=False)
    for name, body in notifications.items():
        console.print(f"{name}: {json.dumps(body)[:200]}...", markup=False, highlight=False)


if __name__ == "__main__":
    sys.exit(main())
