"""The client factory builds the official clients pointed at the emulators, once per process."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.cloud import pubsub_v1

from batchline.runtime import clients
from batchline.runtime.settings import reset_settings
from localcloud.ports import free_port

pytestmark = pytest.mark.integration

PROJECT = "batchline-test"
ENVIRONMENT = {
    "GOOGLE_CLOUD_PROJECT": PROJECT,
    "BATCHLINE_INPUT_BUCKET": "batchline-test-input",
    "BATCHLINE_WORK_BUCKET": "batchline-test-work",
    "BATCHLINE_MODEL": "gemini-3.5-flash",
    "BATCHLINE_DATASET": "batchline",
    "BATCHLINE_COMPLETED_TOPIC": "batchline-batch-completed",
    "BATCHLINE_FINISHED_TOPIC": "batchline-job-finished",
    "BATCHLINE_REGION": "europe-west4",
}


@pytest.fixture
def pipeline_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    clients.reset_clients()
    yield
    clients.reset_clients()
    reset_settings()


class RecordingServer:
    """A local HTTP server answering canned JSON by path, recording what it was asked."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(("GET", self.path, dict(self.headers)))
                path = self.path.split("?", 1)[0]
                body = answers.get(path)
                payload = json.dumps(body or {"error": {"code": 404, "message": path}}).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_storage_client_writes_and_reads_on_the_emulator(
    storage_emulator: str, pipeline_env: None
) -> None:
    client = clients.storage_client()
    assert clients.storage_client() is client  # built once, reused
    assert client.project == PROJECT
    bucket = client.create_bucket(f"clients-{uuid.uuid4().hex[:8]}")
    bucket.blob("in/a.jsonl").upload_from_string(b'{"request": {}}\n')
    assert client.bucket(bucket.name).blob("in/a.jsonl").download_as_bytes() == (
        b'{"request": {}}\n'
    )


def test_publisher_reaches_the_pubsub_emulator(pubsub_emulator: str, pipeline_env: None) -> None:
    publisher = clients.publisher_client()
    assert clients.publisher_client() is publisher
    topic = publisher.topic_path(PROJECT, f"topic-{uuid.uuid4().hex[:8]}")
    publisher.create_topic(name=topic)
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(PROJECT, f"sub-{uuid.uuid4().hex[:8]}")
    subscriber.create_subscription(name=subscription, topic=topic)
    try:
        message_id = publisher.publish(topic, b'{"job": "1"}', kind="job-finished").result(
            timeout=30
        )
        response = subscriber.pull(subscription=subscription, max_messages=1, timeout=30)
        [received] = response.received_messages
        assert received.message.message_id == message_id
        assert received.message.data == b'{"job": "1"}'
        assert received.message.attributes["kind"] == "job-finished"
    finally:
        subscriber.close()


def test_firestore_client_uses_the_emulator_and_project(
    firestore_emulator: str, pipeline_env: None
) -> None:
    client = clients.firestore_client()
    assert clients.firestore_client() is client
    assert client.project == PROJECT
    document = client.collection(f"clients-{uuid.uuid4().hex[:8]}").document("one")
    document.set({"state": "received"})
    snapshot = document.get()
    assert snapshot.exists
    assert snapshot.to_dict() == {"state": "received"}


def test_vertex_client_speaks_rest_to_the_emulator_without_credentials(
    pipeline_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"projects/{PROJECT}/locations/europe-west4/batchPredictionJobs/42"
    job = {"name": name, "displayName": "batchline-test", "state": "JOB_STATE_RUNNING"}
    with RecordingServer({f"/v1/{name}": job}) as server:
        monkeypatch.setenv("VERTEX_AI_EMULATOR_HOST", server.url)
        client = clients.job_service_client()
        assert clients.job_service_client() is client
        fetched = client.get_batch_prediction_job(name=name)
    assert fetched.display_name == "batchline-test"
    assert fetched.state.name == "JOB_STATE_RUNNING"
    [(method, path, headers)] = server.requests
    assert (method, path.split("?")[0]) == ("GET", f"/v1/{name}")
    assert "Authorization" not in headers


def test_bigquery_client_talks_to_its_emulator(
    pipeline_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = {
        "kind": "bigquery#dataset",
        "id": f"{PROJECT}:batchline",
        "datasetReference": {"projectId": PROJECT, "datasetId": "batchline"},
        "location": "US",
    }
    with RecordingServer(
        {f"/bigquery/v2/projects/{PROJECT}/datasets/batchline": dataset}
    ) as server:
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", server.url)
        client = clients.bigquery_client()
        assert client.project == PROJECT
        assert client.location == "US"
        fetched = client.get_dataset("batchline")
    assert fetched.dataset_id == "batchline"
    method, path, _ = server.requests[0]
    assert (method, path.split("?")[0]) == (
        "GET",
        f"/bigquery/v2/projects/{PROJECT}/datasets/batchline",
    )
    assert all("Authorization" not in headers for _, _, headers in server.requests)


def test_without_an_emulator_vertex_uses_the_regional_endpoint(
    pipeline_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERTEX_AI_EMULATOR_HOST", raising=False)
    assert clients.vertex_api_endpoint("europe-west4") == "europe-west4-aiplatform.googleapis.com"
    assert clients.vertex_api_endpoint("global") == "aiplatform.googleapis.com"
    assert clients.emulator_endpoint("VERTEX_AI_EMULATOR_HOST") is None
    monkeypatch.setenv("VERTEX_AI_EMULATOR_HOST", "127.0.0.1:9010")
    assert clients.emulator_endpoint("VERTEX_AI_EMULATOR_HOST") == "http://127.0.0.1:9010"
