"""The ledger's transition rules: what may follow what, and what a repeated event means."""

from __future__ import annotations

import pytest

from batchline.domain.states import (
    InvalidTransition,
    JobState,
    Outcome,
    SourceRef,
    SourceState,
    attempt_document_id,
    decide_job,
    decide_source,
    derive_source_state,
)

pytestmark = pytest.mark.unit

J = JobState
S = SourceState


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (J.SUBMITTED, J.RUNNING),
        (J.SUBMITTED, J.FINISHED),
        (J.RUNNING, J.FINISHED),
        (J.FINISHED, J.LOADED),
        (J.SUBMITTED, J.FAILED),
        (J.RUNNING, J.FAILED),
        (J.FINISHED, J.FAILED),
    ],
)
def test_job_moves_forward(current: JobState, requested: JobState) -> None:
    assert decide_job(current, requested) == Outcome.APPLY


@pytest.mark.parametrize("state", list(JobState))
def test_repeated_job_event_is_a_duplicate(state: JobState) -> None:
    assert decide_job(state, state) == Outcome.DUPLICATE


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (J.RUNNING, J.SUBMITTED),
        (J.FINISHED, J.RUNNING),
        (J.LOADED, J.FINISHED),
        (J.LOADED, J.FAILED),
        (J.FAILED, J.FINISHED),
        (J.FAILED, J.LOADED),
    ],
)
def test_late_job_event_is_stale(current: JobState, requested: JobState) -> None:
    assert decide_job(current, requested) == Outcome.STALE


@pytest.mark.parametrize(("current"), [J.SUBMITTED, J.RUNNING])
def test_loading_an_unfinished_job_is_a_bug(current: JobState) -> None:
    with pytest.raises(InvalidTransition):
        decide_job(current, J.LOADED)


def test_source_path() -> None:
    assert decide_source(S.RECEIVED, S.SUBMITTED) == Outcome.APPLY
    assert decide_source(S.RECEIVED, S.REJECTED) == Outcome.APPLY
    assert decide_source(S.SUBMITTED, S.SUBMITTED) == Outcome.DUPLICATE
    assert decide_source(S.RUNNING, S.SUBMITTED) == Outcome.STALE
    assert decide_source(S.REJECTED, S.SUBMITTED) == Outcome.STALE
    assert decide_source(S.LOADED, S.FAILED) == Outcome.STALE
    assert decide_source(S.RUNNING, S.FAILED) == Outcome.APPLY
    with pytest.raises(InvalidTransition):
        decide_source(S.SUBMITTED, S.REJECTED)
    with pytest.raises(InvalidTransition):
        decide_source(S.RECEIVED, S.LOADED)


def test_source_waits_for_the_part_count_and_every_part() -> None:
    assert derive_source_state(S.RECEIVED, None, [J.LOADED]) == S.RECEIVED
    assert derive_source_state(S.SUBMITTED, 3, [J.LOADED, J.LOADED]) == S.SUBMITTED
    assert derive_source_state(S.SUBMITTED, 2, [J.SUBMITTED, J.SUBMITTED]) == S.SUBMITTED
    assert derive_source_state(S.SUBMITTED, 2, [J.RUNNING, J.SUBMITTED]) == S.RUNNING
    assert derive_source_state(S.RUNNING, 2, [J.FINISHED, J.RUNNING]) == S.RUNNING
    assert derive_source_state(S.RUNNING, 2, [J.FINISHED, J.LOADED]) == S.FINISHED
    assert derive_source_state(S.FINISHED, 2, [J.LOADED, J.LOADED]) == S.LOADED


def test_source_never_moves_back_and_terminal_sources_stay() -> None:
    assert derive_source_state(S.RUNNING, 2, [J.SUBMITTED, J.SUBMITTED]) == S.RUNNING
    assert derive_source_state(S.FAILED, 1, [J.LOADED]) == S.FAILED
    assert derive_source_state(S.LOADED, 1, [J.FAILED]) == S.LOADED


def test_failed_part_fails_the_source_once_the_others_are_done() -> None:
    assert derive_source_state(S.RUNNING, 2, [J.FAILED, J.RUNNING]) == S.RUNNING
    assert derive_source_state(S.RUNNING, 2, [J.FAILED, J.FINISHED]) == S.RUNNING
    assert derive_source_state(S.RUNNING, 2, [J.FAILED, J.LOADED]) == S.FAILED


def test_source_ref_uri_and_ids() -> None:
    source = SourceRef("in", "dir/with spaces/#file.jsonl", 1700000000000001)
    assert source.uri == "gs://in/dir/with spaces/#file.jsonl#1700000000000001"
    assert SourceRef.parse(source.uri) == source
    assert len(source.document_id) == 64
    assert "/" not in source.document_id
    assert source.document_id != SourceRef("in", "dir/with spaces/#file.jsonl", 2).document_id
    ids = {attempt_document_id(source, part, attempt) for part in (1, 2) for attempt in (1, 2)}
    assert len(ids) == 4 and all(len(i) == 64 and "/" not in i for i in ids)


@pytest.mark.parametrize("uri", ["s3://a/b#1", "gs://bucket-only#1", "gs://a/b", "gs://a/b#x"])
def test_source_ref_parse_refuses_other_forms(uri: str) -> None:
    with pytest.raises(ValueError):
        SourceRef.parse(uri)


def test_source_ref_refuses_a_nonsense_generation() -> None:
    with pytest.raises(ValueError):
        SourceRef("in", "a.jsonl", 0)
