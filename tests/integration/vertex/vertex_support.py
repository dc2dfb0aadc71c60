"""Helpers for the Vertex AI emulator tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from google.api_core import exceptions
from google.cloud import aiplatform_v1, storage
from google.protobuf import json_format

PROJECT = "batchline-test"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"

FIXTURES = Path(__file__).parents[2] / "fixtures" / "docs"
JobState = aiplatform_v1.JobState
TERMINAL = {
    JobState.JOB_STATE_SUCCEEDED,
    JobState.JOB_STATE_FAILED,
    JobState.JOB_STATE_CANCELLED,
    JobState.JOB_STATE_EXPIRED,
    JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
}


def text_lines(*prompts: str, **request_extra: Any) -> list[str]:
    return [
        json.dumps(
            {"request": {"contents": [{"role": "user", "parts": [{"text": p}]}], **request_extra}}
        )
        for p in prompts
    ]


def strict_response(line: dict[str, Any]) -> aiplatform_v1.GenerateContentResponse:
    """The line's response, parsed with the library type; unknown fields fail the test."""
    message = aiplatform_v1.GenerateContentResponse.pb()()
    json_format.ParseDict(line["response"], message, ignore_unknown_fields=False)
    return aiplatform_v1.GenerateContentResponse.wrap(message)


def error_status(error: exceptions.GoogleAPICallError) -> str:
    """The canonical status the service put in its error JSON.

    Over REST the client picks the exception class from the HTTP code alone, so
    INVALID_ARGUMENT and FAILED_PRECONDITION both arrive as BadRequest (400).
    """
    assert error.response is not None
    return str(error.response.json()["error"]["status"])


def echoed_texts(line: dict[str, Any]) -> list[str]:
    return [
        part["text"]
        for content in line["request"]["contents"]
        for part in content["parts"]
        if part.get("text")
    ]


def stats_of(job: aiplatform_v1.BatchPredictionJob) -> tuple[int, int, int]:
    stats = job.completion_stats
    return (stats.successful_count, stats.failed_count, stats.incomplete_count)


@dataclass
class RecordedBodies:
    """Every answer the emulator sent to one client: (method, url, status, body)."""

    answers: list[tuple[str, str, int, bytes]] = field(default_factory=list)

    def record(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        request = response.request
        self.answers.append(
            (str(request.method), str(request.url), response.status_code, response.content)
        )


@dataclass
class BatchRunner:
    """Puts input in Cloud Storage, creates jobs, waits for them, reads their output."""

    client: aiplatform_v1.JobServiceClient
    bucket: storage.Bucket

    def upload(self, name: str, lines: list[str]) -> str:
        self.bucket.blob(name).upload_from_string("".join(line + "\n" for line in lines))
        return f"gs://{self.bucket.name}/{name}"

    def job_body(self, uris: list[str], **overrides: object) -> dict[str, object]:
        body: dict[str, object] = {
            "display_name": "vertex-emulator-test",
            "model": "publishers/google/models/gemini-3.5-flash",
            "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": uris}},
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://{self.bucket.name}/out"},
            },
        }
        body.update(overrides)
        return body

    def create(self, uris: list[str], **overrides: object) -> aiplatform_v1.BatchPredictionJob:
        return self.client.create_batch_prediction_job(
            parent=PARENT, batch_prediction_job=self.job_body(uris, **overrides)
        )

    def wait(self, name: str, timeout: float = 5.0) -> aiplatform_v1.BatchPredictionJob:
        deadline = time.monotonic() + timeout
        while True:
            job = self.client.get_batch_prediction_job(name=name)
            if job.state in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} still {job.state.name} after {timeout}s")
            time.sleep(0.01)

    def run(self, lines: list[str], **overrides: object) -> aiplatform_v1.BatchPredictionJob:
        uri = self.upload(f"in/{uuid.uuid4().hex[:8]}.jsonl", lines)
        return self.wait(self.create([uri], **overrides).name)

    def output_lines(self, job: aiplatform_v1.BatchPredictionJob) -> list[dict[str, Any]]:
        """Every line of every *.jsonl in the job's output directory, in file order."""
        return [json.loads(line) for line in self.output_text(job)]

    def output_text(self, job: aiplatform_v1.BatchPredictionJob) -> list[str]:
        """The raw lines of every *.jsonl in the job's output directory, in file order."""
        directory = job.output_info.gcs_output_directory
        assert directory.startswith(f"gs://{self.bucket.name}/")
        prefix = directory.removeprefix(f"gs://{self.bucket.name}/") + "/"
        lines: list[str] = []
        for blob in self.bucket.client.list_blobs(self.bucket, prefix=prefix):
            if blob.name.endswith(".jsonl"):
                lines += blob.download_as_text().splitlines()
        return lines
