"""A deployment of the pipeline on the emulators, and deliveries shaped as the platform's.

Events reach the real handlers (functions/*/main.py) through functions-framework's test
client as binary-mode CloudEvents, the way Eventarc delivers them; the payload fixtures in
tests/fixtures/events/ are the documented shapes they are built from.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import DeadlineExceeded

from batchline.runtime import clients, settings, wiring
from localcloud.bridge import header_value, object_resource
from localcloud.resources import create_resources, pull_subscription

REPO = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "fixtures" / "events"
SAMPLES = REPO / "samples"
PROJECT = "batchline-test"
MODEL = "gemini-3.5-flash"
ENTRY_POINTS = {
    "submit": "on_object_finalized",
    "poll": "on_poll_tick",
    "complete": "on_job_finished",
}
# A complete, valid configuration for tests that need settings but reach no service.
EXAMPLE_SETTINGS = {
    "GOOGLE_CLOUD_PROJECT": "my-project",
    "BATCHLINE_INPUT_BUCKET": "my-input",
    "BATCHLINE_WORK_BUCKET": "my-work",
    "BATCHLINE_MODEL": "gemini-3.5-flash",
    "BATCHLINE_DATASET": "batchline",
    "BATCHLINE_COMPLETED_TOPIC": "batch-completed",
    "BATCHLINE_FINISHED_TOPIC": "job-finished",
}
_APPS: dict[str, Any] = {}
_APPS_LOCK = threading.Lock()


def function_client(name: str) -> Any:
    """functions-framework's test client for functions/NAME/main.py (built once)."""
    from functions_framework import create_app

    with _APPS_LOCK:
        if name not in _APPS:
            _APPS[name] = create_app(
                ENTRY_POINTS[name], str(REPO / "functions" / name / "main.py"), "cloudevent"
            )
        return _APPS[name].test_client()


def post_event(function: str, attributes: dict[str, Any], data: Any) -> int:
    """Post a binary-mode CloudEvent to functions/FUNCTION as the platform does; the status."""
    headers = {f"ce-{k}": v for k, v in attributes.items() if k != "datacontenttype"}
    response = function_client(function).post(
        "/", headers={**headers, "Content-Type": "application/json"}, data=json.dumps(data)
    )
    return int(response.status_code)


def fixture_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


class Cloud:
    """One deployment: settings in the environment, resources created, handles to inspect."""

    def __init__(self, env: dict[str, str], vertex: Any, bigquery: Any) -> None:
        self.env = env
        self.vertex_server = vertex
        self.bigquery_server = bigquery
        self.settings = settings.get_settings()

    @classmethod
    def deploy(
        cls, monkeypatch: pytest.MonkeyPatch, vertex: Any, bigquery: Any, **extra: str
    ) -> Cloud:
        unique = uuid.uuid4().hex[:8]
        env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "BATCHLINE_INPUT_BUCKET": f"input-{unique}",
            "BATCHLINE_WORK_BUCKET": f"work-{unique}",
            "BATCHLINE_MODEL": MODEL,
            "BATCHLINE_DATASET": f"batchline_{unique}",
            "BATCHLINE_COMPLETED_TOPIC": f"completed-{unique}",
            "BATCHLINE_FINISHED_TOPIC": f"finished-{unique}",
            "BATCHLINE_LEDGER_COLLECTION": f"ledger-{unique}",
            "VERTEX_AI_EMULATOR_HOST": vertex.url,
            "BIGQUERY_EMULATOR_HOST": bigquery.url,
            **extra,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reset()
        create_resources(settings.get_settings())
        return cls(env, vertex, bigquery)

    def reconfigure(self, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _reset()
        self.settings = settings.get_settings()

    def teardown(self) -> None:
        self.vertex_server.reset()
        _reset()

    # --- uploads and events -----------------------------------------------------------

    def upload(
        self, name: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Put an object in the input bucket; the object resource its event carries."""
        blob = clients.storage_client().bucket(self.settings.input_bucket).blob(name)
        if metadata:
            blob.metadata = metadata
        blob.upload_from_string(data, content_type="application/jsonl")
        blob.reload()
        return object_resource(
            {
                "bucket": blob.bucket.name,
                "name": blob.name,
                "generation": str(blob.generation),
                "metageneration": str(blob.metageneration),
                "size": str(blob.size),
                "contentType": blob.content_type,
                "timeCreated": blob.time_created.isoformat(),
                "updated": blob.updated.isoformat(),
                "md5Hash": blob.md5_hash,
                "crc32c": blob.crc32c,
                "metadata": blob.metadata,
            }
        )

    def upload_sample(self, sample: str, name: str | None = None) -> dict[str, Any]:
        return self.upload(name or sample, (SAMPLES / sample).read_bytes())

    def deliver_upload(self, resource: dict[str, Any], *, time: datetime | None = None) -> int:
        """The finalized event for `resource`, as Eventarc posts it; the HTTP status."""
        event = fixture_event("storage_object_finalized.json")
        attributes = event["attributes"]
        attributes.update(
            id=uuid.uuid4().hex,
            source=f"//storage.googleapis.com/projects/_/buckets/{resource['bucket']}",
            subject=header_value(f"objects/{resource['name']}"),
            bucket=resource["bucket"],
            time=(time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        )
        return post_event("submit", attributes, resource)

    def deliver_tick(self) -> int:
        return self._post_message(
            "poll", self.topic_path(f"{self.settings.finished_topic}-tick"), b"{}", {}
        )

    def deliver_finished(
        self, data: bytes, attributes: dict[str, str], *, time: datetime | None = None
    ) -> int:
        return self._post_message(
            "complete", self.settings.finished_topic_path, data, attributes, time
        )

    def _post_message(
        self,
        function: str,
        topic: str,
        data: bytes,
        attributes: dict[str, str],
        time: datetime | None = None,
    ) -> int:
        event = fixture_event("pubsub_message_published.json")
        message_id = str(uuid.uuid4().int % 10**14)
        now = (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        event["attributes"].update(
            id=message_id, source=f"//pubsub.googleapis.com/{topic}", time=now
        )
        event["data"]["message"] = {
            "attributes": attributes,
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": now,
            "publish_time": now,
        }
        return post_event(function, event["attributes"], event["data"])

    # --- what a user sees ---------------------------------------------------------------

    def topic_path(self, topic: str) -> str:
        return f"projects/{PROJECT}/topics/{topic}"

    def pull(
        self, topic: str, expected: int = 0, timeout: float = 30.0
    ) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The messages on the topic's pull subscription, acknowledged: pulls until at least
        `expected` have arrived (or `timeout` passes), then takes whatever else is already
        there, so that a duplicate is seen without waiting on an empty subscription.

        The functions publish before they answer (they wait for the server's ack), so what
        a handled event published is already there when this is called."""
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        path = subscriber.subscription_path(PROJECT, pull_subscription(topic))
        messages: list[tuple[dict[str, Any], dict[str, str]]] = []
        deadline = time.monotonic() + timeout
        while True:
            waiting = len(messages) < expected and time.monotonic() < deadline
            try:
                response = subscriber.pull(
                    request={"subscription": path, "max_messages": 100},
                    timeout=max(0.1, min(5.0, deadline - time.monotonic())) if waiting else 0.3,
                )
            except DeadlineExceeded:
                if waiting:
                    continue
                break
            if not response.received_messages:
                if waiting:
                    continue
                break
            for received in response.received_messages:
                messages.append(
                    (json.loads(received.message.data), dict(received.message.attributes))
                )
            subscriber.acknowledge(
                request={
                    "subscription": path,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
        return messages

    def finished_messages(self, expected: int = 0) -> list[tuple[bytes, dict[str, str]]]:
        return [
            (json.dumps(body).encode(), attributes)
            for body, attributes in self.pull(self.settings.finished_topic, expected)
        ]

    def notifications(self, expected: int = 0) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return self.pull(self.settings.completed_topic, expected)

    def query(self, sql: str) -> list[dict[str, Any]]:
        return [dict(row) for row in clients.bigquery_client().query(sql).result()]

    def predictions(self, source_uri: str) -> list[dict[str, Any]]:
        return self.query(
            f"SELECT * FROM {self.settings.dataset}.predictions "
            f"WHERE source_uri = '{source_uri}' ORDER BY input_line"
        )

    def job_rows(self) -> list[dict[str, Any]]:
        return self.query(f"SELECT * FROM {self.settings.dataset}.jobs ORDER BY part")

    def vertex_jobs(self) -> list[Any]:
        client = clients.job_service_client()
        return list(client.list_batch_prediction_jobs(parent=self.settings.vertex_parent))

    def ledger(self) -> Any:
        return wiring.ledger()

    def run_to_finished(
        self, resource: dict[str, Any], timeout: float = 60.0
    ) -> list[tuple[bytes, dict[str, str]]]:
        """Deliver the upload, tick until its jobs end; the job-finished messages."""
        assert self.deliver_upload(resource) == 200
        messages: list[tuple[bytes, dict[str, str]]] = []
        deadline = time.monotonic() + timeout
        while True:
            assert self.deliver_tick() == 200
            messages += self.finished_messages()
            if not self.ledger().list_in_flight_jobs() or time.monotonic() > deadline:
                return messages
            time.sleep(0.05)

    def run_to_notification(
        self, resource: dict[str, Any], timeout: float = 60.0
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Deliver the upload, then tick and deliver every job-finished message (resumes
        included) until the file's one notification is out; that notification."""
        assert self.deliver_upload(resource) == 200
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.deliver_tick() == 200
            for data, attributes in self.finished_messages():
                assert self.deliver_finished(data, attributes) == 200
            notifications = self.notifications()
            if notifications:
                assert len(notifications) == 1, notifications
                return notifications[0]
            time.sleep(0.05)
        raise AssertionError(f"no notification for {resource['name']} within {timeout} s")

    def source_uri(self, resource: dict[str, Any]) -> str:
        return f"gs://{resource['bucket']}/{resource['name']}#{resource['generation']}"


def _reset() -> None:
    settings.reset_settings()
    clients.reset_clients()
    wiring.reset()
