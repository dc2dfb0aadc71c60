"""Emulator settings from the environment and the model catalogue."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from localcloud.vertex.config import Faults, ModelCatalog, SettingError, catalog_file

pytestmark = pytest.mark.unit


def test_faults_come_from_vertex_emulator_variables() -> None:
    faults = Faults.from_env(
        {
            "VERTEX_EMULATOR_ROW_FAILURE_RATE": "0.1",
            "VERTEX_EMULATOR_FAIL_JOBS": "true",
            "VERTEX_EMULATOR_CREATE_429": "2",
            "VERTEX_EMULATOR_RUNNING_SECONDS": "1.5",
            "VERTEX_EMULATOR_BLOCK_MARKER": "",
            "UNRELATED": "x",
        }
    )
    assert faults == Faults(
        row_failure_rate=0.1, fail_jobs=True, create_429=2, running_seconds=1.5, block_marker=""
    )
    assert Faults.from_env({}) == Faults()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"row_failure_rate": "lots"}, "row_failure_rate"),
        ({"row_failure_rate": 1.5}, "row_failure_rate"),
        ({"fail_jobs": "maybe"}, "fail_jobs"),
        ({"get_503": -1}, "get_503"),
        ({"get_503": 1.5}, "get_503"),
        ({"pending_seconds": True}, "pending_seconds"),
        ({"retry_everything": True}, "retry_everything"),
    ],
)
def test_bad_fault_settings_are_refused_by_name(changes: dict[str, object], named: str) -> None:
    with pytest.raises(SettingError, match=named):
        Faults().updated(changes)


def test_catalogue_refuses_retired_and_unknown_models() -> None:
    catalog = ModelCatalog()
    assert catalog.accepts("gemini-3.5-flash")
    assert catalog.accepts("gemini-3.1-flash-lite")
    for retired in (
        "gemini-1.0-pro",
        "gemini-1.5-flash-002",
        "gemini-2.0-flash-lite-001",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
    ):
        assert not catalog.accepts(retired), retired
    assert not catalog.accepts("gemini-4-imaginary")
    assert catalog.accepts("gemini-3.8-flash")  # newer than the three models it used to know


def test_catalogue_comes_from_the_environment() -> None:
    catalog = ModelCatalog.from_env(
        {
            "VERTEX_EMULATOR_KNOWN_MODELS": "gemini-2.5-flash, gemini-9*",
            "VERTEX_EMULATOR_RETIRED_MODELS": "gemini-9-old",
        }
    )
    assert catalog.accepts("gemini-2.5-flash")
    assert catalog.accepts("gemini-9-new")
    assert not catalog.accepts("gemini-9-old")
    assert not catalog.accepts("gemini-3.5-flash")


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(SettingError, match="VERTEX_EMULATOR_GET_429"):
        Faults.from_env({"VERTEX_EMULATOR_GET_429": "several"})


def test_the_faults_that_end_jobs_and_shape_the_echo_come_from_the_environment() -> None:
    faults = Faults.from_env(
        {
            "VERTEX_EMULATOR_END_EARLY_STATE": "job_state_partially_succeeded",
            "VERTEX_EMULATOR_END_EARLY_AFTER_ROWS": "7",
            "VERTEX_EMULATOR_MAX_PENDING_SECONDS": "30",
            "VERTEX_EMULATOR_ROW_FAILURE_CODE": "500",
            "VERTEX_EMULATOR_REQUEST_ECHO": "as_sent",
            "VERTEX_EMULATOR_DROP_REQUEST_LABELS": "past_unique_limit",
            "VERTEX_EMULATOR_LABEL_UNIQUE_VALUE_LIMIT": "10",
        }
    )
    assert faults.end_early_state == "PARTIALLY_SUCCEEDED"
    assert (faults.end_early_after_rows, faults.max_pending_seconds) == (7, 30.0)
    assert (faults.row_failure_code, faults.request_echo) == (500, "as_sent")
    assert (faults.drop_request_labels, faults.label_unique_value_limit) == (
        "past_unique_limit",
        10,
    )
    defaults = Faults()
    assert defaults.max_pending_seconds == 72 * 3600  # the service's queue limit
    assert (defaults.request_echo, defaults.drop_request_labels) == ("normalized", "none")
    assert defaults.label_unique_value_limit == 1000  # "Add labels to API calls"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"end_early_state": "RUNNING"}, "end_early_state"),
        ({"end_early_after_fraction": 1.5}, "end_early_after_fraction"),
        ({"end_early_after_rows": -1}, "end_early_after_rows"),
        ({"max_pending_seconds": -1}, "max_pending_seconds"),
        ({"row_failure_code": 503}, "row_failure_code"),
        ({"request_echo": "camel"}, "request_echo"),
        ({"drop_request_labels": "some"}, "drop_request_labels"),
        ({"json_fault": "garbled"}, "json_fault"),
        ({"json_fault_rate": 2}, "json_fault_rate"),
    ],
)
def test_bad_settings_of_the_new_faults_are_refused_by_name(
    changes: dict[str, object], named: str
) -> None:
    with pytest.raises(SettingError, match=named):
        Faults().updated(changes)


def test_the_catalog_file_records_its_source_and_lists_valid_model_ids() -> None:
    document = catalog_file()
    assert document["source"].startswith("https://docs.cloud.google.com/")
    assert dt.date.fromisoformat(document["read"]) >= dt.date(2026, 12, 1)
    ids = [entry["id"] for entry in document["known"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"gemini-[0-9][a-z0-9.-]*", model_id) for model_id in ids)
    assert {"gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite"} <= set(ids)
    catalog = ModelCatalog()
    assert all(catalog.accepts(model_id) for model_id in ids)
    assert ModelCatalog.from_env({}) == catalog
    assert not any(catalog.accepts(pattern.rstrip("*")) for pattern in document["retired"])


def test_job_level_faults_can_be_kept_to_jobs_with_a_label() -> None:
    faults = Faults(
        row_failure_rate=0.5,
        fail_jobs=True,
        end_early_state="EXPIRED",
        faulty_jobs_label="batchline_attempt=1",
    )
    first = faults.for_job({"batchline_attempt": "1"})
    assert (first.row_failure_rate, first.fail_jobs, first.end_early_state) == (
        0.5,
        True,
        "EXPIRED",
    )
    resume = faults.for_job({"batchline_attempt": "2"})
    assert (resume.row_failure_rate, resume.fail_jobs, resume.end_early_state) == (0.0, False, "")
    assert Faults(row_failure_rate=0.5).for_job({}).row_failure_rate == 0.5
