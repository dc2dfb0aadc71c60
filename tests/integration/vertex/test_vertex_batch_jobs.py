"""Batch prediction jobs on the Vertex AI emulator, driven only through the official REST client."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from google.api_core import exceptions
from google.api_core import retry as retries
from google.cloud import aiplatform_v1
from google.longrunning import operations_pb2
from google.protobuf import json_format
from vertex_support import (
    FIXTURES,
    LOCATION,
    PARENT,
    BatchRunner,
    JobState,
    RecordedBodies,
    echoed_texts,
    error_status,
    strict_response,
    text_lines,
)

from localcloud.vertex import VertexEmulator

pytestmark = pytest.mark.integration


# ----- a job from start to end -----


def test_job_succeeds_and_writes_one_shuffled_line_per_request(batch: BatchRunner) -> None:
    lines = (FIXTURES / "text_requests.jsonl").read_text().splitlines()
    started = dt.datetime.now(dt.UTC)

    job = batch.run(lines, labels={"batch": "recipes"})

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert re.fullmatch(r"projects/\d+/locations/us-central1/batchPredictionJobs/\d+", job.name)
    assert started <= job.create_time <= job.start_time <= job.end_time <= job.update_time
    stats = job.completion_stats
    assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (10, 0, 0)
    assert re.fullmatch(
        rf"gs://{batch.bucket.name}/out/prediction-model-"
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
        job.output_info.gcs_output_directory,
    )
    assert not job.error.message

    output = batch.output_lines(job)
    prompts = [json.loads(line)["request"]["contents"][0]["parts"]["text"] for line in lines]
    assert len(output) == len(prompts)
    echoed = [echoed_texts(line)[0] for line in output]
    assert sorted(echoed) == sorted(prompts)  # every request echoed once
    assert echoed != prompts  # in another order than the input
    for line in output:
        assert line["status"] == ""
        assert dt.datetime.fromisoformat(line["processed_time"]).tzinfo is not None
        assert line["request"]["contents"][0]["role"] == "user"
        response = strict_response(line)
        candidate = response.candidates[0]
        assert candidate.content.role == "model"
        assert candidate.finish_reason == aiplatform_v1.Candidate.FinishReason.STOP
        assert candidate.content.parts[0].text
        usage = response.usage_metadata
        assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
        assert usage.total_token_count == (
            usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
        )
        assert response.model_version == "gemini-3.5-flash"


def test_wildcard_input_reads_every_matching_file(batch: BatchRunner) -> None:
    batch.upload("in/part-1.jsonl", text_lines("one", "two"))
    batch.upload("in/part-2.jsonl", text_lines("three"))
    batch.upload("in/nested/part-3.jsonl", text_lines("not matched by a single star"))
    batch.upload("in/notes.txt", ["not jsonl"])

    job = batch.wait(batch.create([f"gs://{batch.bucket.name}/in/*.jsonl"]).name)

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    assert sorted(echoed_texts(line)[0] for line in batch.output_lines(job)) == [
        "one",
        "three",
        "two",
    ]


def test_echoed_request_carries_explicit_nulls_for_unset_part_fields(
    batch: BatchRunner,
) -> None:
    batch.bucket.blob("media/desk.jpeg").upload_from_string(b"\xff\xd8" + b"0" * 2048)
    uri = f"gs://{batch.bucket.name}/media/desk.jpeg"
    line = {
        "request": {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "List objects in this image."},
                        {"file_data": {"file_uri": uri, "mime_type": "image/jpeg"}},
                    ],
                }
            ]
        }
    }

    job = batch.run([json.dumps(line)])

    [output] = batch.output_lines(job)
    assert output["status"] == ""
    assert output["request"]["contents"][0]["parts"] == [
        {"text": "List objects in this image.", "fileData": None},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": uri}, "text": None},
    ]
    # The image counts 258 prompt tokens, the text ceil(27 / 4) = 7.
    assert strict_response(output).usage_metadata.prompt_token_count == 258 + 7


# ----- the collection: get, list, cancel, delete -----


def test_list_filters_on_labels_and_state_and_pages(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    uri = batch.upload("in/one.jsonl", text_lines("hello"))
    finished = batch.wait(batch.create([uri], labels={"team": "red"}).name)
    vertex_emulator.set_faults(pending_seconds=60)  # the next jobs stay PENDING
    waiting = [batch.create([uri], labels={"team": "red", "n": str(n)}) for n in range(3)]
    other_team = batch.create([uri], labels={"team": "blue"})
    client = batch.client

    pending_red = client.list_batch_prediction_jobs(
        request={
            "parent": PARENT,
            "filter": 'labels.team="red" AND state="JOB_STATE_PENDING"',
            "page_size": 2,
        }
    )
    pages = list(pending_red.pages)
    assert [len(page.batch_prediction_jobs) for page in pages] == [2, 1]
    assert sorted(job.name for page in pages for job in page.batch_prediction_jobs) == sorted(
        job.name for job in waiting
    )

    succeeded_red = client.list_batch_prediction_jobs(
        request={"parent": PARENT, "filter": 'labels.team="red" AND state=JOB_STATE_SUCCEEDED'}
    )
    assert [job.name for job in succeeded_red] == [finished.name]
    everything = client.list_batch_prediction_jobs(parent=PARENT)
    assert {job.name for job in everything} == {
        finished.name,
        other_team.name,
        *(job.name for job in waiting),
    }
    elsewhere = client.list_batch_prediction_jobs(parent=PARENT.replace(LOCATION, "europe-west4"))
    assert list(elsewhere) == []
    assert client.get_batch_prediction_job(name=other_team.name).labels == {"team": "blue"}


def test_cancel_goes_through_cancelling_to_cancelled(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=60, cancelling_seconds=0.3)
    job = batch.create([batch.upload("in/one.jsonl", text_lines("hello"))])
    assert job.state == JobState.JOB_STATE_PENDING

    batch.client.cancel_batch_prediction_job(name=job.name)

    assert batch.client.get_batch_prediction_job(name=job.name).state == (
        JobState.JOB_STATE_CANCELLING
    )
    cancelled = batch.wait(job.name)
    assert cancelled.state == JobState.JOB_STATE_CANCELLED
    assert cancelled.error.code == 1  # google.rpc.Code.CANCELLED
    assert cancelled.end_time >= cancelled.create_time
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.client.cancel_batch_prediction_job(name=job.name)
    assert error_status(raised.value) == "FAILED_PRECONDITION"


def test_delete_returns_a_finished_operation_and_the_job_is_gone(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=60)
    job = batch.create([batch.upload("in/one.jsonl", text_lines("hello"))])
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.client.delete_batch_prediction_job(name=job.name)  # still pending
    assert error_status(raised.value) == "FAILED_PRECONDITION"
    batch.client.cancel_batch_prediction_job(name=job.name)
    batch.wait(job.name)

    operation = batch.client.delete_batch_prediction_job(name=job.name)

    assert operation.done()
    operation.result(timeout=5)
    assert isinstance(operation.metadata, aiplatform_v1.DeleteOperationMetadata)
    with pytest.raises(exceptions.NotFound):
        batch.client.get_batch_prediction_job(name=job.name)


def test_unknown_job_is_not_found(batch: BatchRunner) -> None:
    name = f"{PARENT}/batchPredictionJobs/1234567890"
    with pytest.raises(exceptions.NotFound) as raised:
        batch.client.get_batch_prediction_job(name=name)
    assert "1234567890" in raised.value.message
    with pytest.raises(exceptions.NotFound):
        batch.client.cancel_batch_prediction_job(name=name)
    with pytest.raises(exceptions.NotFound):
        batch.client.delete_batch_prediction_job(name=name)


def test_project_id_and_project_number_name_the_same_job(batch: BatchRunner) -> None:
    job = batch.create([batch.upload("in/one.jsonl", text_lines("hello"))])
    by_id = job.name.replace(job.name.split("/")[1], "batchline-test")
    assert batch.client.get_batch_prediction_job(name=by_id).name == job.name


# ----- refusals at create -----


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"input_config": {"instances_format": "csv", "gcs_source": {"uris": ["gs://b/x"]}}},
            "csv",
        ),
        (
            {"input_config": {"instances_format": "bigquery", "bigquery_source": {}}},
            "bigquery",
        ),
        ({"input_config": {"instances_format": "jsonl"}}, "gcs_source"),
        (
            {
                "output_config": {
                    "predictions_format": "bigquery",
                    "gcs_destination": {"output_uri_prefix": "gs://b/out"},
                }
            },
            "bigquery",
        ),
        ({"output_config": {"predictions_format": "jsonl"}}, "output_uri_prefix"),
        ({"labels": {"Team": "red"}}, "Team"),
        ({"labels": {"team": "Red Team"}}, "Red Team"),
        ({"display_name": ""}, "display_name"),
    ],
)
def test_bad_job_is_refused_with_invalid_argument(
    batch: BatchRunner, override: dict[str, Any], expected: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.create(["gs://b/in.jsonl"], **override)
    assert error_status(raised.value) == "INVALID_ARGUMENT"
    assert expected in raised.value.message
    assert list(batch.client.list_batch_prediction_jobs(parent=PARENT)) == []


@pytest.mark.parametrize(
    "model",
    [
        "publishers/google/models/gemini-1.5-flash-002",
        "publishers/google/models/gemini-2.0-flash-001",
        "publishers/google/models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-pro",
        "publishers/google/models/gemini-9-ultra",
    ],
)
def test_retired_or_unknown_model_is_refused(batch: BatchRunner, model: str) -> None:
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.create(["gs://b/in.jsonl"], model=model)
    assert error_status(raised.value) == "INVALID_ARGUMENT"
    assert raised.value.response is not None
    assert raised.value.response.json()["error"]["message"] == (
        f"Do not support publisher model {model.rsplit('/', 1)[1]}"
    )


def test_model_must_be_a_publisher_model_and_may_be_fully_named(batch: BatchRunner) -> None:
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.create(["gs://b/in.jsonl"], model="projects/p/locations/us-central1/models/123")
    assert error_status(raised.value) == "INVALID_ARGUMENT"
    full = f"{PARENT}/publishers/google/models/gemini-3.1-flash-lite"
    uri = batch.upload("in/one.jsonl", text_lines("hello"))
    job = batch.wait(batch.create([uri], model=full).name)
    assert job.model == full
    assert job.state == JobState.JOB_STATE_SUCCEEDED


# ----- failures -----


def test_row_failures_leave_the_job_succeeded_with_counts_and_statuses(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(row_failure_rate=0.4)
    prompts = [f"question {n}" for n in range(30)]
    lines = [
        *text_lines(*prompts),
        "this line is not JSON",
        json.dumps({"request": {"contents": [{"role": "user", "parts": [{"txt": "typo"}]}]}}),
        json.dumps({"request": {"contents": []}}),
    ]

    job = batch.run(lines)
    again = batch.run(lines)

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    output = batch.output_lines(job)
    failed = [line for line in output if line["status"]]
    assert len(output) == len(lines)
    assert job.completion_stats.failed_count == len(failed)
    assert job.completion_stats.successful_count == len(output) - len(failed)
    assert 3 + 4 <= len(failed) <= 3 + 20  # the three bad lines and about 40% of the rest
    # The service's row texts: "Bad Request: {...}" for a refused request (python-genai#1313),
    # "RESOURCE_EXHAUSTED error occurred: {...}" for the quota (python-aiplatform#4485).
    codes = set()
    for line in failed:
        assert "response" not in line
        found = re.fullmatch(
            r"(Bad Request|RESOURCE_EXHAUSTED error occurred): (\{.*\})", line["status"]
        )
        assert found, line["status"]
        codes.add(json.loads(found[2])["error"]["code"])
    assert codes == {400, 429}
    quota = next(line for line in failed if '"code": 429' in line["status"])
    assert json.loads(quota["status"].split(": ", 1)[1])["error"]["message"] == (
        "Online prediction request quota exceeded for gemini-3.5-flash. "
        "Please try again later with backoff."
    )
    not_json = next(line for line in failed if line["request"] == "this line is not JSON")
    assert "INVALID_ARGUMENT" in not_json["status"]
    typo = next(line for line in failed if "txt" in json.dumps(line["request"]))
    typo_error = json.loads(typo["status"].removeprefix("Bad Request: "))["error"]
    assert typo_error["message"] == (
        "Invalid JSON payload received. Unknown name \"txt\" at 'contents[0].parts[0]': "
        "Cannot find field."
    )
    assert typo_error["details"][0]["fieldViolations"][0]["field"] == "contents[0].parts[0]"
    # The same input fails the same rows.
    assert sorted(json.dumps(line["request"]) for line in failed) == sorted(
        json.dumps(line["request"]) for line in batch.output_lines(again) if line["status"]
    )


def test_failed_job_reports_an_error_and_exports_its_completed_rows(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    lines = text_lines(*(f"question {n}" for n in range(10)))

    by_label = batch.run(lines, labels={"emulator-fail": "true"})
    vertex_emulator.set_faults(fail_jobs=True)
    by_fault = batch.run(lines)

    for job in (by_label, by_fault):
        assert job.state == JobState.JOB_STATE_FAILED
        assert job.error.code == 13  # google.rpc.Code.INTERNAL
        assert job.error.message
        stats = job.completion_stats
        assert (stats.successful_count, stats.failed_count, stats.incomplete_count) == (5, 0, 5)
        assert len(batch.output_lines(job)) == 5


def test_job_with_missing_input_fails(batch: BatchRunner) -> None:
    missing = f"gs://{batch.bucket.name}/in/nothing-here.jsonl"
    job = batch.wait(batch.create([missing]).name)
    assert job.state == JobState.JOB_STATE_FAILED
    assert missing in job.error.message
    empty_wildcard = f"gs://{batch.bucket.name}/none/*.jsonl"
    assert batch.wait(batch.create([empty_wildcard]).name).state == JobState.JOB_STATE_FAILED


@pytest.mark.parametrize(
    ("call", "error_class"),
    [("create", exceptions.TooManyRequests), ("get", exceptions.ServiceUnavailable)],
)
def test_injected_429_and_503_surface_without_a_retry(
    batch: BatchRunner,
    vertex_emulator: VertexEmulator,
    call: str,
    error_class: type[Exception],
) -> None:
    """The REST client's defaults retry neither create nor get: the caller sees the error."""
    uri = batch.upload("in/one.jsonl", text_lines("hello"))
    job = batch.create([uri])
    code = "429" if error_class is exceptions.TooManyRequests else "503"
    vertex_emulator.set_faults(**{f"{call}_{code}": 1})
    with pytest.raises(error_class):
        if call == "create":
            batch.create([uri])
        else:
            batch.client.get_batch_prediction_job(name=job.name)
    assert batch.client.get_batch_prediction_job(name=job.name).name == job.name


def test_injected_429_and_503_are_absorbed_by_an_explicit_retry(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    retry = retries.Retry(
        predicate=retries.if_exception_type(
            exceptions.TooManyRequests, exceptions.ServiceUnavailable
        ),
        initial=0.01,
        maximum=0.05,
        timeout=5,
    )
    vertex_emulator.set_faults(create_429=2, create_503=1, get_429=1, get_503=2)

    job = batch.client.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job=batch.job_body([batch.upload("in/one.jsonl", text_lines("hi"))]),
        retry=retry,
    )
    fetched = batch.client.get_batch_prediction_job(name=job.name, retry=retry)

    assert fetched.name == job.name
    faults = vertex_emulator.current_faults()
    assert (faults.create_429, faults.create_503, faults.get_429, faults.get_503) == (0, 0, 0, 0)


def test_new_project_refusal_is_a_failed_precondition_that_passes(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    """A brand-new project's "service agents are being provisioned" answer is transient."""
    vertex_emulator.set_faults(create_provisioning=1)
    uri = batch.upload("in/one.jsonl", text_lines("hello"))
    with pytest.raises(exceptions.BadRequest) as raised:
        batch.create([uri])
    assert error_status(raised.value) == "FAILED_PRECONDITION"
    assert "Service agents are being provisioned" in raised.value.message
    assert batch.wait(batch.create([uri]).name).state == JobState.JOB_STATE_SUCCEEDED


# ----- conformance of everything the emulator sends -----


def test_every_answer_parses_with_the_library_types_without_unknown_fields(
    batch: BatchRunner, recorded_bodies: RecordedBodies, vertex_emulator: VertexEmulator
) -> None:
    uri = batch.upload("in/one.jsonl", text_lines("hello", "world"))
    job = batch.wait(batch.create([uri], labels={"k": "v"}).name)
    list(
        batch.client.list_batch_prediction_jobs(
            request={"parent": PARENT, "filter": 'labels.k="v"'}
        )
    )
    vertex_emulator.set_faults(pending_seconds=60)
    pending = batch.create([uri])
    batch.client.cancel_batch_prediction_job(name=pending.name)
    batch.wait(pending.name)
    batch.client.delete_batch_prediction_job(name=job.name).result(timeout=5)
    with pytest.raises(exceptions.NotFound):
        batch.client.get_batch_prediction_job(name=job.name)

    routes = set()
    for method, url, status, body in recorded_bodies.answers:
        path, _, query = url.partition("?")
        assert "enum-encoding=int" in urllib.parse.unquote(query)
        if status >= 400:
            error = json.loads(body)["error"]
            assert set(error) == {"code", "message", "status"} and error["code"] == status
            routes.add("error")
        elif method == "DELETE":
            json_format.Parse(body, operations_pb2.Operation())
            routes.add("delete")
        elif path.endswith(":cancel"):
            assert json.loads(body) == {}
            routes.add("cancel")
        elif path.endswith("/batchPredictionJobs") and method == "GET":
            json_format.Parse(body, aiplatform_v1.ListBatchPredictionJobsResponse.pb()())
            routes.add("list")
        else:
            json_format.Parse(body, aiplatform_v1.BatchPredictionJob.pb()())
            routes.add(f"{method} job")
    assert routes == {"POST job", "GET job", "list", "cancel", "delete", "error"}
    for line in batch.output_lines(job):
        strict_response(line)


def test_unknown_field_in_a_create_body_is_refused(vertex_emulator: VertexEmulator) -> None:
    """Raw HTTP: the official client cannot send a field its schema does not have."""
    body = {
        "displayName": "x",
        "model": "publishers/google/models/gemini-3.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://b/in.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": "gs://b/out"},
        },
        "priority": "high",
    }
    request = urllib.request.Request(
        f"{vertex_emulator.url}/v1/{PARENT}/batchPredictionJobs",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    error = json.loads(raised.value.read())["error"]
    assert (raised.value.code, error["code"], error["status"]) == (400, 400, "INVALID_ARGUMENT")
    assert "priority" in error["message"]
