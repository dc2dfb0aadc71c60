"""What an output line holds: the echoed request in both forms, labels, usage, row errors.

The service's own line, from "Batch inference from Cloud Storage", is
tests/fixtures/docs/prediction_output_line.json (its input is the second line of
multimodal_requests.jsonl). Usage fields as generateContent answers carry them
(GenerateContentResponse.UsageMetadata in aiplatform_v1).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1, storage
from vertex_support import (
    FIXTURES,
    BatchRunner,
    JobState,
    echoed_texts,
    strict_response,
    text_lines,
)

from localcloud.vertex import VertexEmulator
from localcloud.vertex.config import catalog_file

pytestmark = pytest.mark.integration

Modality = aiplatform_v1.Modality


def by_prompt(output: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {echoed_texts(line)[0]: line for line in output}


def sample_files(client: storage.Client) -> None:
    """The documentation sample's media, so that its request can be answered offline."""
    bucket = client.bucket("cloud-samples-data")
    if not bucket.exists():
        bucket = client.create_bucket("cloud-samples-data")
    bucket.blob("generative-ai/video/animals.mp4").upload_from_string(b"\0" * 3_000_000)
    bucket.blob("generative-ai/image/cricket.jpeg").upload_from_string(b"\xff\xd8" + b"0" * 512)


# ----- the echoed request -----


def test_normalized_echo_is_the_documentation_samples_request(
    batch: BatchRunner, storage_client: storage.Client
) -> None:
    sample_files(storage_client)
    documented_input = (FIXTURES / "multimodal_requests.jsonl").read_text().splitlines()[1]
    documented_line = json.loads((FIXTURES / "prediction_output_line.json").read_text())

    [raw] = batch.output_text(batch.run([documented_input]))

    line = json.loads(raw)
    assert line["status"] == ""
    # The same request, null for the unset part field, keys in the same (sorted) order.
    assert json.dumps(line["request"]) == json.dumps(documented_line["request"])
    assert list(line) == ["status", "processed_time", "request", "response"]
    assert list(line["response"]) == sorted(line["response"])


def test_as_sent_echo_keeps_the_users_own_spelling(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    batch.bucket.blob("media/desk.jpeg").upload_from_string(b"\xff\xd8" + b"0" * 64)
    sent = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "List objects in this image."},
                    {
                        "file_data": {
                            "file_uri": f"gs://{batch.bucket.name}/media/desk.jpeg",
                            "mime_type": "image/jpeg",
                        }
                    },
                ],
            }
        ],
        "generation_config": {"temperature": 0.4},
        "system_instruction": {"parts": {"text": "Be brief."}},
    }
    line = json.dumps({"request": sent})

    [normalized] = batch.output_lines(batch.run([line]))
    vertex_emulator.set_faults(request_echo="as_sent")
    [as_sent] = batch.output_lines(batch.run([line]))

    assert as_sent["request"] == sent
    assert json.dumps(as_sent["request"]) == json.dumps(sent, sort_keys=True)
    assert normalized["request"]["generationConfig"] == {"temperature": 0.4}
    assert normalized["request"]["systemInstruction"] == {
        "parts": [{"fileData": None, "text": "Be brief."}]
    }
    assert as_sent["response"] == normalized["response"] | {
        "createTime": as_sent["response"]["createTime"]
    }


def test_labels_can_be_dropped_from_the_echo(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    """ "Add labels to API calls": a label key with more than 1,000 unique values may be
    dropped without notice; at most 64 labels of 63 characters per call."""
    lines = [
        json.dumps(
            {
                "request": {
                    "contents": [{"role": "user", "parts": [{"text": f"item {n}"}]}],
                    "labels": {"line": str(n), "team": "red"},
                }
            }
        )
        for n in range(5)
    ]

    echoed = [line["request"] for line in batch.output_lines(batch.run(lines))]
    vertex_emulator.set_faults(drop_request_labels="past_unique_limit", label_unique_value_limit=4)
    past_limit = [line["request"] for line in batch.output_lines(batch.run(lines))]
    vertex_emulator.set_faults(drop_request_labels="all")
    none = [line["request"] for line in batch.output_lines(batch.run(lines))]

    assert sorted(request["labels"]["line"] for request in echoed) == ["0", "1", "2", "3", "4"]
    assert [request["labels"] for request in past_limit] == [{"team": "red"}] * 5
    assert all("labels" not in request for request in none)


# ----- usage -----


def test_usage_metadata_has_token_details_by_modality_and_the_traffic_type(
    batch: BatchRunner,
) -> None:
    batch.bucket.blob("docs/report.pdf").upload_from_string(b"%PDF" + b"0" * 120_000)
    batch.bucket.blob("media/desk.png").upload_from_string(b"\x89PNG" + b"0" * 64)
    parts = [
        {"text": "Compare these."},
        {
            "fileData": {
                "fileUri": f"gs://{batch.bucket.name}/media/desk.png",
                "mimeType": "image/png",
            }
        },
        {
            "fileData": {
                "fileUri": f"gs://{batch.bucket.name}/docs/report.pdf",
                "mimeType": "application/pdf",
            }
        },
    ]
    line = json.dumps({"request": {"contents": [{"role": "user", "parts": parts}]}})

    [output] = batch.output_lines(batch.run([line]))

    usage = strict_response(output).usage_metadata  # the library's types know every field
    prompt = {detail.modality: detail.token_count for detail in usage.prompt_tokens_details}
    assert prompt == {Modality.TEXT: 4, Modality.IMAGE: 258, Modality.DOCUMENT: 3 * 258}
    assert usage.prompt_token_count == sum(prompt.values())
    [answer] = usage.candidates_tokens_details
    assert (answer.modality, answer.token_count) == (Modality.TEXT, usage.candidates_token_count)
    assert usage.traffic_type == usage.TrafficType.ON_DEMAND
    assert usage.cached_content_token_count == 0


def test_a_repeated_prompt_prefix_is_partly_served_from_the_implicit_cache(
    batch: BatchRunner,
) -> None:
    """Implicit caching is on by default for Gemini 2.5 and later models ("Batch inference with
    Gemini"); the emulator caches 75% of a repeated prefix of at least 1,024 tokens."""
    rules = "Answer as a careful librarian. " * 160  # 4,960 characters: 1,240 tokens
    lines = text_lines(
        "first question",
        "second question",
        "third question",
        systemInstruction={"parts": [{"text": rules}]},
    )

    output = by_prompt(batch.output_lines(batch.run([*lines, *text_lines("no shared prefix")])))

    first = strict_response(output["first question"]).usage_metadata
    assert first.cached_content_token_count == 0 and not first.cache_tokens_details
    for prompt in ("second question", "third question"):
        usage = strict_response(output[prompt]).usage_metadata
        assert usage.cached_content_token_count == 1240 * 3 // 4
        [cached] = usage.cache_tokens_details
        assert (cached.modality, cached.token_count) == (Modality.TEXT, 930)
        assert usage.prompt_token_count == first.prompt_token_count
    assert (
        strict_response(output["no shared prefix"]).usage_metadata.cached_content_token_count == 0
    )


# ----- row errors -----


def test_explicit_context_caching_fails_its_row_with_the_services_text(
    batch: BatchRunner,
) -> None:
    """Batch inference does not support explicit caching ("Batch inference with Gemini"); the
    row text is the one users quote (python-genai#509, GoogleCloudPlatform/generative-ai#2122)."""
    cache = "projects/334279572487/locations/us-central1/cachedContents/7352260532100923392"
    lines = [*text_lines("uses a cache", cachedContent=cache), *text_lines("plain")]

    job = batch.run(lines)

    assert job.state == JobState.JOB_STATE_SUCCEEDED
    output = by_prompt(batch.output_lines(job))
    assert output["plain"]["status"] == ""
    assert output["uses a cache"]["status"] == (
        "Internal error occurred. Failed to get generateContentResponse: "
        '{"error": {"code": 404, "message": "Not found: cached content metadata for '
        '7352260532100923392.", "status": "NOT_FOUND"}}'
    )
    assert "response" not in output["uses a cache"]


def test_an_internal_row_failure_has_the_generate_content_wording(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(row_failure_rate=1.0, row_failure_code=500)

    [line] = batch.output_lines(batch.run(text_lines("hello")))

    assert line["status"] == (
        "Internal error occurred. Failed to get generateContentResponse: "
        '{"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}'
    )


# ----- the model catalog -----


def test_every_model_of_the_catalog_file_is_accepted_and_others_are_not(
    batch: BatchRunner,
) -> None:
    """models.json follows the batch API reference's supported models (page and date in it)."""
    uri = batch.upload("in/one.jsonl", text_lines("hello"))
    for entry in catalog_file()["known"]:
        job = batch.create([uri], model=f"publishers/google/models/{entry['id']}")
        assert job.model.endswith(entry["id"])
    newest = catalog_file()["known"][0]["id"]
    assert batch.wait(
        batch.create([uri], model=f"publishers/google/models/{newest}").name
    ).state == (JobState.JOB_STATE_SUCCEEDED)
    with pytest.raises(exceptions.BadRequest):
        batch.create([uri], model="publishers/google/models/gemini-2.5-flash")
