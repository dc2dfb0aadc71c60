"""How jobs end: every terminal state exports the rows completed before it, counts add up.

The service's documentation ("Batch inference from Cloud Storage", docs.cloud.google.com/
gemini-enterprise-agent-platform/models/capabilities/batch-inference/new-job-from-cloud-storage):
"During long-running jobs, completed predictions are continuously exported to the specified
output destination. If the batch prediction job is terminated, all completed rows are exported."
"Batch inference with Gemini" (.../capabilities/batch-inference): a job waits in the queue up to
72 hours before it expires; a cancelled job "returns all completed work".
"""

from __future__ import annotations

import re
import time

import pytest
from google.cloud import aiplatform_v1
from vertex_support import BatchRunner, JobState, echoed_texts, stats_of, text_lines

from localcloud.vertex import VertexEmulator

pytestmark = pytest.mark.integration

PROMPTS = [f"question {n}" for n in range(10)]


@pytest.mark.parametrize(
    ("state", "error_code"),
    [
        (JobState.JOB_STATE_SUCCEEDED, 0),
        (JobState.JOB_STATE_FAILED, 13),  # google.rpc.Code.INTERNAL
        (JobState.JOB_STATE_CANCELLED, 1),  # google.rpc.Code.CANCELLED
        (JobState.JOB_STATE_EXPIRED, 0),
        (JobState.JOB_STATE_PARTIALLY_SUCCEEDED, 0),
    ],
)
def test_a_job_ended_part_way_exports_its_completed_rows_in_every_state(
    batch: BatchRunner, vertex_emulator: VertexEmulator, state: JobState, error_code: int
) -> None:
    vertex_emulator.set_faults(
        end_early_state=state.name, end_early_after_rows=4, row_failure_rate=0.5
    )

    job = batch.run(text_lines(*PROMPTS))

    assert job.state == state
    assert job.error.code == error_code
    successful, failed, incomplete = stats_of(job)
    assert successful + failed == 4 and incomplete == 6
    assert re.fullmatch(
        rf"gs://{batch.bucket.name}/out/prediction-model-"
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z",
        job.output_info.gcs_output_directory,
    )
    output = batch.output_lines(job)
    assert len(output) == 4
    assert sum(1 for line in output if line["status"]) == failed
    # Rows are answered in input order: the first four are the ones completed.
    assert sorted(echoed_texts(line)[0] for line in output) == sorted(PROMPTS[:4])


@pytest.mark.parametrize(
    ("state", "fraction", "stats"),
    [("job_state_expired", 0.3, (3, 0, 7)), ("FAILED", 0.0, (0, 0, 10))],
)
def test_a_share_of_the_rows_can_be_completed_and_no_row_means_no_output(
    batch: BatchRunner,
    vertex_emulator: VertexEmulator,
    state: str,
    fraction: float,
    stats: tuple[int, int, int],
) -> None:
    vertex_emulator.set_faults(end_early_state=state, end_early_after_fraction=fraction)

    job = batch.run(text_lines(*PROMPTS))

    assert job.state.name == f"JOB_STATE_{state.upper().removeprefix('JOB_STATE_')}"
    assert stats_of(job) == stats
    if stats[0]:
        assert len(batch.output_lines(job)) == stats[0]
    else:  # a job that completed no row exports nothing
        assert job.output_info.gcs_output_directory == ""


def test_a_job_pending_past_the_queue_limit_expires_and_exports_nothing(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=60, max_pending_seconds=0.2)
    created = batch.create([batch.upload("in/queued.jsonl", text_lines(*PROMPTS))])
    assert created.state == JobState.JOB_STATE_PENDING

    job = batch.wait(created.name)

    assert job.state == JobState.JOB_STATE_EXPIRED
    assert not job.start_time  # it never ran
    assert stats_of(job) == (0, 0, 10)
    assert job.output_info.gcs_output_directory == ""
    assert list(batch.bucket.list_blobs(prefix="out/")) == []


def test_cancel_while_pending_counts_every_line_incomplete(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    vertex_emulator.set_faults(pending_seconds=60)
    created = batch.create([batch.upload("in/waiting.jsonl", text_lines(*PROMPTS))])

    batch.client.cancel_batch_prediction_job(name=created.name)
    job = batch.wait(created.name)

    assert job.state == JobState.JOB_STATE_CANCELLED
    assert stats_of(job) == (0, 0, 10)
    assert job.output_info.gcs_output_directory == ""


def test_cancel_while_running_exports_the_rows_completed_so_far(
    batch: BatchRunner, vertex_emulator: VertexEmulator
) -> None:
    prompts = [f"step {n}" for n in range(40)]
    vertex_emulator.set_faults(running_seconds=8)
    created = batch.create([batch.upload("in/long.jsonl", text_lines(*prompts))])
    running = _wait_for_progress(batch, created.name, completed=3)

    batch.client.cancel_batch_prediction_job(name=created.name)
    job = batch.wait(created.name, timeout=10)

    assert running.state == JobState.JOB_STATE_RUNNING
    assert job.state == JobState.JOB_STATE_CANCELLED
    successful, failed, incomplete = stats_of(job)
    assert successful >= 3 and failed == 0 and incomplete > 0
    assert successful + incomplete == len(prompts)
    output = batch.output_lines(job)
    assert sorted(echoed_texts(line)[0] for line in output) == sorted(prompts[:successful])


def _wait_for_progress(
    batch: BatchRunner, name: str, completed: int, timeout: float = 10
) -> aiplatform_v1.BatchPredictionJob:
    """Poll until completion_stats show `completed` rows done, as a console user would."""
    deadline = time.monotonic() + timeout
    while True:
        job = batch.client.get_batch_prediction_job(name=name)
        if job.completion_stats.successful_count >= completed:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} completed no {completed} rows in {timeout}s")
        time.sleep(0.02)
