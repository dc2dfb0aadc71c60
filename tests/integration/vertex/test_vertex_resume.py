"""Resuming a job from its output, as Google documents it.

"Resume an incomplete batch inference job"
(https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/capabilities/batch-inference/resume-job,
formerly cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-resume):
"To resume a batch job, create a new batch job, supplying the Cloud Storage file or BigQuery
table output as input to the new job." The new job "processes only the incomplete or failed
requests from the previous job and merges the new results with those from the previously
completed requests", and "the system doesn't validate whether the output file has been modified".
"""

from __future__ import annotations

import json

import pytest
from vertex_support import BatchRunner, JobState, echoed_texts, stats_of, text_lines

from localcloud.vertex import VertexEmulator

pytestmark = pytest.mark.integration

PROMPTS = [f"question {n}" for n in range(30)]


def output_file(job_directory: str) -> str:
    return f"{job_directory}/predictions.jsonl"


def test_resume_answers_only_the_failed_lines_and_copies_the_completed_ones(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(row_failure_rate=0.4)
    first = batch.run(text_lines(*PROMPTS))
    first_lines = batch.output_text(first)
    completed = {line for line in first_lines if not json.loads(line)["status"]}
    assert 0 < len(completed) < len(PROMPTS)
    vertex_emulator.set_faults(row_failure_rate=0.0)

    resumed = batch.wait(
        batch.create(
            [output_file(first.output_info.gcs_output_directory)],
            output_config={
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://{batch.bucket.name}/resumed"},
            },
        ).name
    )

    assert resumed.state == JobState.JOB_STATE_SUCCEEDED
    assert stats_of(resumed) == (len(PROMPTS), 0, 0)
    merged = batch.output_text(resumed)
    assert len(merged) == len(PROMPTS)
    assert completed <= set(merged)  # copied unchanged, byte for byte
    redone = [json.loads(line) for line in merged if line not in completed]
    assert len(redone) == len(PROMPTS) - len(completed)
    assert all(line["status"] == "" and line["response"]["candidates"] for line in redone)
    assert sorted(echoed_texts(json.loads(line))[0] for line in merged) == sorted(PROMPTS)


def test_resume_reads_outputs_through_a_wildcard_and_counts_add_up(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(
        row_failure_rate=0.5,
        row_failure_code=500,
        end_early_state="EXPIRED",
        end_early_after_rows=20,
    )
    first = batch.run(text_lines(*PROMPTS))
    assert first.state == JobState.JOB_STATE_EXPIRED
    successful, failed, incomplete = stats_of(first)
    assert (successful + failed, incomplete) == (20, 10) and failed > 0
    vertex_emulator.set_faults(row_failure_rate=0.0, end_early_state="")

    resumed = batch.wait(
        batch.create(
            [f"gs://{batch.bucket.name}/out/prediction-model-*/predictions.jsonl"],
            output_config={
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": f"gs://{batch.bucket.name}/again"},
            },
        ).name
    )

    # The input is the 20 lines the first job exported: each is in the merged output once.
    assert stats_of(resumed) == (20, 0, 0)
    merged = [json.loads(line) for line in batch.output_text(resumed)]
    assert sorted(echoed_texts(line)[0] for line in merged) == sorted(PROMPTS[:20])
    assert all(line["status"] == "" for line in merged)


def test_a_modified_output_file_is_resumed_as_it_is(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    first = batch.run(text_lines("kept", "answer me again", "failed before"))
    by_prompt = {echoed_texts(line)[0]: line for line in batch.output_lines(first)}
    without_response = dict(by_prompt["answer me again"])
    del without_response["response"]
    with_status = {**by_prompt["failed before"], "status": "Bad Request: {}"}
    kept = json.dumps(by_prompt["kept"])
    uri = batch.upload(
        "edited/predictions.jsonl", [kept, *map(json.dumps, (without_response, with_status))]
    )

    resumed = batch.wait(batch.create([uri]).name)

    assert stats_of(resumed) == (3, 0, 0)
    merged = batch.output_text(resumed)
    assert kept in merged
    answered = [json.loads(line) for line in merged if line != kept]
    assert sorted(echoed_texts(line)[0] for line in answered) == [
        "answer me again",
        "failed before",
    ]
    assert all(line["status"] == "" and "response" in line for line in answered)
