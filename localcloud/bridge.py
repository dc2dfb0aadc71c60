"""Eventarc and Cloud Scheduler for the local cloud.

The storage emulator has no notifications, so the bridge lists the input bucket and posts a
`google.cloud.storage.object.v1.finalized` CloudEvent (binary content mode, as Eventarc
delivers) to the submit function for each object generation it has not delivered yet. A
delivery that is not answered 2xx is tried again on a later pass, as a trigger with
retries on does. Every `--tick-seconds` it publishes to the poll topic, as the scheduler
job does. It serves GET /healthz for `batchline local status`.

    python -m localcloud.bridge --submit-url URL [--tick-seconds 2] [--health-port N]
"""

from __future__ import annotations

import argparse
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localcloud.ports import stop_on_signals

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
            return 200 <= response.status < 300
    except urllib.error.HTTPError as exc:
        log.warning("submit answered %s for %s; will retry", exc.code, resource["name"])
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        log.warning("submit unreachable for %s: %s; will retry", resource["name"], exc)
    return False


class Bridge:
    def __init__(self, submit_url: str, tick_seconds: float) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import pubsub_v1, storage

        self.submit_url = submit_url
        self.tick_seconds = tick_seconds
        self.bucket = os.environ["BATCHLINE_INPUT_BUCKET"]
        project = os.environ["GOOGLE_CLOUD_PROJECT"]
        self.storage = storage.Client(project=project, credentials=AnonymousCredentials())
        self.publisher = pubsub_v1.PublisherClient()
        self.tick_topic = self.publisher.topic_path(project, os.environ["BATCHLINE_TICK_TOPIC"])
        self.delivered: set[tuple[str, int]] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        next_tick = time.monotonic()
        while not self.stop.is_set():
            self.deliver_new_objects()
            if time.monotonic() >= next_tick:
                self.publisher.publish(self.tick_topic, b"{}", source="localcloud.bridge")
                next_tick = time.monotonic() + self.tick_seconds
            self.stop.wait(0.3)

    def deliver_new_objects(self) -> None:
        for blob in self.storage.list_blobs(self.bucket):
            identity = (blob.name, int(blob.generation))
            if identity in self.delivered:
                continue
            if deliver(self.submit_url, object_resource(blob)):
                self.delivered.add(identity)
                log.info("delivered finalized %s#%s", blob.name, blob.generation)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.bridge", description=__doc__)
    parser.add_argument("--submit-url", required=True)
    parser.add_argument("--tick-seconds", type=float, default=2.0)
    parser.add_argument("--health-port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    bridge = Bridge(args.submit_url, args.tick_seconds)
    health = ThreadingHTTPServer(("127.0.0.1", args.health_port), _Health)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    bridge.stop = stop_on_signals()
    try:
        bridge.run()
    finally:
        health.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
