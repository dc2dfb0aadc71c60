"""Emulator settings from the environment and the model catalogue."""

from __future__ import annotations

import pytest

from localcloud.vertex.config import Faults, ModelCatalog, SettingError

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
