"""Eventarc and Cloud Scheduler for the local cloud.

The storage emulator has no notifications, so the bridge lists the input bucket and posts a
`google.cloud.storage.object.v1.finalized` CloudEvent (binary content mode, as Eventarc
delivers) to the submit function for each object generation it has not delivered yet. A
delivery that is not answered 2xx is tried again on a later pass, as a trigger with
retries on does. Every `--tick-seconds` it publishes to the poll topic, as the scheduler
job does. It serves GET /healthz for `batchline local status`.

    python -m localcloud.bridge --submit-url URL [--tick-seconds 2] [--port N]

The bridge runs on the local cloud's server kit: its loop is the server's background work,
and GET /healthz answers 503 once the loop has died (the error is in its log).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from localcloud.serving import LocalServer
from localcloud.serving.command import command_line, serve

log = logging.getLogger("localcloud.bridge")

FINALIZED = "google.cloud.storage.object.v1.finalized"


def object_resource(blob: Any) -> dict[str, Any]:
    """The event data Cloud Storage sends: the object resource, int64 values as strings."""
    return {
        "kind": "storage#object",
        "bucket": blob.bucket.name,
        "name": blob.name,
        "generation": str(blob.generation),
        "metageneration": str(blob.metageneration or 1),
        "size": str(blob.size or 0),
        "contentType": blob.content_type or "application/octet-stream",
        "timeCreated": _rfc3339(blob.time_created),
        "updated": _rfc3339(blob.updated),
        "metadata": dict(blob.metadata or {}),
        "md5Hash": blob.md5_hash or "",
        "crc32c": blob.crc32c or "",
    }


def _rfc3339(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def deliver(submit_url: str, resource: dict[str, Any]) -> bool:
    """POST one finalized event; True when the function accepted it."""
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-type": FINALIZED,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{resource['bucket']}",
        "ce-subject": f"objects/{resource['name']}",
        "ce-time": _rfc3339(None),
        "ce-bucket": resource["bucket"],
    }
    request = urllib.request.Request(
        submit_url, data=json.dumps(resource).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return bool(200 <= response.status < 300)
    except urllib.error.HTTPError as exc:
        log.warning("submit answered %s for %s; will retry", exc.code, resource["name"])
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        log.warning("submit unreachable for %s: %s; will retry", resource["name"], exc)
    return False


class Bridge(LocalServer):
    """Finalized events for new objects of the input bucket, and scheduler ticks.

    Reads GOOGLE_CLOUD_PROJECT, BATCHLINE_INPUT_BUCKET and BATCHLINE_TICK_TOPIC; the storage
    and Pub/Sub clients find their emulators through STORAGE_EMULATOR_HOST and
    PUBSUB_EMULATOR_HOST.
    """

    name = "bridge"

    def __init__(
        self, submit_url: str, tick_seconds: float, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import pubsub_v1, storage

        super().__init__(host, port)
        self.submit_url = submit_url
        self.tick_seconds = tick_seconds
        self.bucket = os.environ["BATCHLINE_INPUT_BUCKET"]
        project = os.environ["GOOGLE_CLOUD_PROJECT"]
        self.storage = storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        self.publisher = pubsub_v1.PublisherClient()
        self.tick_topic = self.publisher.topic_path(project, os.environ["BATCHLINE_TICK_TOPIC"])
        self.delivered: set[tuple[str, int]] = set()

    def on_start(self) -> None:
        self.start_worker(self.run)

    def run(self, stop: threading.Event) -> None:
        next_tick = time.monotonic()
        while not stop.is_set():
            self.deliver_new_objects()
            if time.monotonic() >= next_tick:
                self.publisher.publish(self.tick_topic, b"{}", source="localcloud.bridge")
                next_tick = time.monotonic() + self.tick_seconds
            stop.wait(0.3)

    def deliver_new_objects(self) -> None:
        for blob in self.storage.list_blobs(self.bucket):
            identity = (blob.name, int(blob.generation))
            if identity in self.delivered:
                continue
            if deliver(self.submit_url, object_resource(blob)):
                self.delivered.add(identity)
                log.info("delivered finalized %s#%s", blob.name, blob.generation)


def main(argv: list[str] | None = None) -> int:
    parser = command_line("python -m localcloud.bridge", __doc__ or "")
    parser.add_argument("--submit-url", required=True)
    parser.add_argument("--tick-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    return serve(lambda: Bridge(args.submit_url, args.tick_seconds, args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
