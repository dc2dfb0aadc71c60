"""The Vertex AI SDK's own batch sample flow (vertexai.batch_prediction) against the emulator.

The documented sample ("Batch inference from Cloud Storage", Vertex AI SDK for Python):
submit(source_model, input_dataset, output_uri_prefix), then poll `has_ended` with
`refresh()`, then `has_succeeded`, `error` and `output_location`. The SDK reaches the emulator
through vertexai.init(api_endpoint=..., api_transport="rest", credentials=AnonymousCredentials()):
its initializer passes api_endpoint to every client's client_options, and REST clients accept an
http:// endpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import vertexai
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.aiplatform import initializer
from vertex_support import LOCATION, PROJECT, JobState, text_lines
from vertexai.batch_prediction import BatchPredictionJob

from localcloud.vertex import VertexEmulator

pytestmark = pytest.mark.integration


@pytest.fixture
def sdk(vertex_emulator: VertexEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """vertexai.init pointed at the emulator; the SDK's global configuration restored after
    (vertexai.init is bound to the one global_config object, so its attributes are restored)."""
    for name, value in vars(initializer.global_config).items():
        monkeypatch.setattr(initializer.global_config, name, value)
    vertexai.init(
        project=PROJECT,
        location=LOCATION,
        api_endpoint=vertex_emulator.url,
        api_transport="rest",
        credentials=AnonymousCredentials(),
    )
    yield


def run_sample(input_uri: str, output_uri: str, timeout: float = 10) -> BatchPredictionJob:
    """The documented sample, with a deadline in place of its endless loop."""
    job = BatchPredictionJob.submit(
        source_model="gemini-3.5-flash", input_dataset=input_uri, output_uri_prefix=output_uri
    )
    deadline = time.monotonic() + timeout
    while not job.has_ended:
        assert time.monotonic() < deadline, f"{job.resource_name} did not end"
        time.sleep(0.05)
        job.refresh()
    return job


def predictions(bucket: storage.Bucket, output_location: str) -> list[dict[str, object]]:
    prefix = output_location.removeprefix(f"gs://{bucket.name}/") + "/"
    return [
        json.loads(line)
        for blob in bucket.list_blobs(prefix=prefix)
        for line in blob.download_as_text().splitlines()
    ]


def test_the_sdk_sample_submits_polls_and_finds_the_output(
    sdk: None, bucket: storage.Bucket, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=0.2, running_seconds=0.2)
    bucket.blob("in/sdk.jsonl").upload_from_string(
        "".join(
            line + "\n" for line in text_lines("Give me a recipe for banana bread.", "And cake.")
        )
    )

    job = run_sample(f"gs://{bucket.name}/in/sdk.jsonl", f"gs://{bucket.name}/sdk-out")

    assert job.has_succeeded
    assert job.model_name == "publishers/google/models/gemini-3.5-flash"
    assert job.output_location.startswith(f"gs://{bucket.name}/sdk-out/prediction-model-")
    lines = predictions(bucket, job.output_location)
    assert len(lines) == 2 and all(line["status"] == "" for line in lines)
    assert [listed.resource_name for listed in BatchPredictionJob.list()] == [job.resource_name]


def test_the_sdk_sees_a_failed_job_with_its_error_and_partial_output(
    sdk: None, bucket: storage.Bucket, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(end_early_state="FAILED", end_early_after_rows=3)
    prompts = [f"question {n}" for n in range(8)]
    bucket.blob("in/doomed.jsonl").upload_from_string(
        "".join(line + "\n" for line in text_lines(*prompts))
    )

    job = run_sample(f"gs://{bucket.name}/in/doomed.jsonl", f"gs://{bucket.name}/sdk-out")

    assert job.state == JobState.JOB_STATE_FAILED and not job.has_succeeded
    assert job.error.code == 13  # google.rpc.Code.INTERNAL
    assert len(predictions(bucket, job.output_location)) == 3


def test_the_sdk_reads_an_expired_job(
    sdk: None, bucket: storage.Bucket, vertex_emulator: VertexEmulator
) -> None:
    """google-cloud-aiplatform's `has_ended` leaves out EXPIRED and PARTIALLY_SUCCEEDED
    (jobs._JOB_COMPLETE_STATES), so a caller must poll on `state` for those."""
    vertex_emulator.set_faults(pending_seconds=60, max_pending_seconds=0.1)
    bucket.blob("in/queued.jsonl").upload_from_string(text_lines("hello")[0] + "\n")
    job = BatchPredictionJob.submit(
        source_model="gemini-3.5-flash",
        input_dataset=f"gs://{bucket.name}/in/queued.jsonl",
        output_uri_prefix=f"gs://{bucket.name}/sdk-out",
    )
    deadline = time.monotonic() + 10
    while job.refresh().state == JobState.JOB_STATE_PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert job.state == JobState.JOB_STATE_EXPIRED
    assert job.output_location == ""
