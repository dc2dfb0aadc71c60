"""google-genai's batch API (`client.batches`) against the emulator, as the README shows it.

google-genai on Vertex AI refreshes the credentials it is given, so AnonymousCredentials are
refused; a fixed bearer token (google.oauth2.credentials.Credentials(token=...)) is sent as
it is. `http_options.base_url` points it at the emulator. The flow is the documented one
("Batch prediction", Gen AI SDK: https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage):
create with a gs:// source, poll `batches.get` until the state is a terminal one, read the
output under `dest.gcs_uri`.
"""

from __future__ import annotations

import json
import time

import pytest
from google import genai
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import InvalidOperation
from google.cloud import storage
from google.genai import types
from google.oauth2.credentials import Credentials
from vertex_support import LOCATION, PROJECT, text_lines

from localcloud.vertex import VertexEmulator

pytestmark = pytest.mark.integration

ENDED = {
    types.JobState.JOB_STATE_SUCCEEDED,
    types.JobState.JOB_STATE_FAILED,
    types.JobState.JOB_STATE_CANCELLED,
    types.JobState.JOB_STATE_EXPIRED,
    types.JobState.JOB_STATE_PARTIALLY_SUCCEEDED,
}


def genai_client(url: str) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token="local"),
        http_options=types.HttpOptions(base_url=url),
    )


def test_client_batches_creates_polls_and_finds_the_output(
    bucket: storage.Bucket, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=0.2, running_seconds=0.2)
    bucket.blob("in/genai.jsonl").upload_from_string(
        "".join(line + "\n" for line in text_lines("Name a colour.", "Name a fruit.", "Why?"))
    )
    client = genai_client(vertex_emulator.url)

    job = client.batches.create(
        model="gemini-3.5-flash",
        src=f"gs://{bucket.name}/in/genai.jsonl",
        config=types.CreateBatchJobConfig(dest=f"gs://{bucket.name}/genai-out"),
    )
    assert job.name and job.state not in ENDED
    deadline = time.monotonic() + 10
    while job.state not in ENDED:
        assert time.monotonic() < deadline, f"{job.name} did not end"
        time.sleep(0.05)
        job = client.batches.get(name=job.name)

    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None and job.dest.gcs_uri
    prefix = job.dest.gcs_uri.removeprefix(f"gs://{bucket.name}/").rstrip("/") + "/"
    lines = [
        json.loads(line)
        for blob in bucket.list_blobs(prefix=prefix)
        for line in blob.download_as_text().splitlines()
    ]
    asked = sorted(line["request"]["contents"][0]["parts"][0]["text"] for line in lines)
    assert asked == ["Name a colour.", "Name a fruit.", "Why?"]
    assert all(line["response"]["candidates"][0]["content"]["parts"] for line in lines)
    assert [j.name for j in client.batches.list() if j.name == job.name] == [job.name]


def test_anonymous_credentials_are_refused_by_the_client_itself(
    vertex_emulator: VertexEmulator,
) -> None:
    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=AnonymousCredentials(),
        http_options=types.HttpOptions(base_url=vertex_emulator.url),
    )
    # Refused before any request: the reason the README gives a fixed token instead.
    with pytest.raises(InvalidOperation, match="Anonymous credentials cannot be refreshed"):
        client.batches.list()
