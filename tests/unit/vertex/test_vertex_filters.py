"""The list filter: which jobs a filter text selects, and which texts are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from google.cloud import aiplatform_v1

from localcloud.vertex.errors import ApiError
from localcloud.vertex.filters import parse_filter

pytestmark = pytest.mark.unit

JobState = aiplatform_v1.JobState
NOON = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def job(
    name: str, state: int, labels: dict[str, str], hour: int = 12
) -> aiplatform_v1.BatchPredictionJob:
    return aiplatform_v1.BatchPredictionJob(
        name=name,
        display_name=f"display {name}",
        state=state,
        labels=labels,
        create_time=NOON.replace(hour=hour),
    )


JOBS = [
    job("a", JobState.JOB_STATE_RUNNING, {"team": "red", "env": "dev"}, hour=9),
    job("b", JobState.JOB_STATE_SUCCEEDED, {"team": "red"}, hour=11),
    job("c", JobState.JOB_STATE_RUNNING, {"team": "blue"}, hour=13),
    job("d", JobState.JOB_STATE_PENDING, {}, hour=15),
]


def selected(text: str) -> list[str]:
    matches = parse_filter(text)
    return [candidate.name for candidate in JOBS if matches(candidate)]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ["a", "b", "c", "d"]),
        ('labels.team="red"', ["a", "b"]),
        ('labels.team = "red" AND state="JOB_STATE_RUNNING"', ["a"]),
        ("state=JOB_STATE_RUNNING", ["a", "c"]),
        ("state!=JOB_STATE_RUNNING", ["b", "d"]),
        ('state="JOB_STATE_PENDING" OR state="JOB_STATE_SUCCEEDED"', ["b", "d"]),
        ('labels.team="red" AND state=JOB_STATE_RUNNING OR state=JOB_STATE_SUCCEEDED', ["a", "b"]),
        ("labels.env:*", ["a"]),
        ("labels:team", ["a", "b", "c"]),
        ('NOT labels.team="red"', ["c", "d"]),
        ('-labels.team="red"', ["c", "d"]),
        ('display_name="display c"', ["c"]),
        ('create_time>"2026-11-27T12:00:00Z"', ["c", "d"]),
        ('create_time<="2026-11-27T11:00:00Z" AND labels.team="red"', ["a", "b"]),
    ],
)
def test_filter_selects(text: str, names: list[str]) -> None:
    assert selected(text) == names


@pytest.mark.parametrize(
    "text",
    [
        'state="RUNNING"',
        'labels.team>"red"',
        'unknown_field="x"',
        'labels.team="red" AND',
        '(labels.team="red")',
        'create_time>"yesterday"',
    ],
)
def test_filter_that_cannot_be_understood_is_invalid_argument(text: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_filter(text)
    assert (raised.value.http_code, raised.value.status) == (400, "INVALID_ARGUMENT")
