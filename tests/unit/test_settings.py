"""Settings: read from the environment once, validated with messages naming the variable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from batchline.domain.pricing import Rates
from batchline.runtime.settings import (
    DEFAULT_PRICES,
    ENV_VARS,
    OPTIONAL_ENV_VARS,
    REQUIRED_ENV_VARS,
    ModelPrice,
    Settings,
    SettingsError,
    get_settings,
    parse_prices,
    reset_settings,
)

pytestmark = pytest.mark.unit

REQUIRED = {
    "GOOGLE_CLOUD_PROJECT": "demo-project",
    "BATCHLINE_INPUT_BUCKET": "demo-input",
    "BATCHLINE_WORK_BUCKET": "demo-work",
    "BATCHLINE_MODEL": "gemini-3.5-flash",
    "BATCHLINE_DATASET": "batchline",
    "BATCHLINE_COMPLETED_TOPIC": "batchline-batch-completed",
    "BATCHLINE_FINISHED_TOPIC": "batchline-job-finished",
}


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    reset_settings()
    yield
    reset_settings()


def test_env_var_list_is_exactly_the_contract() -> None:
    assert set(ENV_VARS) == {
        "GOOGLE_CLOUD_PROJECT",
        "BATCHLINE_REGION",
        "BATCHLINE_INPUT_BUCKET",
        "BATCHLINE_WORK_BUCKET",
        "BATCHLINE_REPORTS_PREFIX",
        "BATCHLINE_MODEL",
        "BATCHLINE_DATASET",
        "BATCHLINE_BIGQUERY_LOCATION",
        "BATCHLINE_COMPLETED_TOPIC",
        "BATCHLINE_FINISHED_TOPIC",
        "BATCHLINE_FIRESTORE_DATABASE",
        "BATCHLINE_LEDGER_COLLECTION",
        "BATCHLINE_MAX_JOB_AGE_HOURS",
        "BATCHLINE_MAX_EVENT_AGE_HOURS",
        "BATCHLINE_POLL_BUDGET_SECONDS",
        "BATCHLINE_MAX_UNREADABLE_HOURS",
        "BATCHLINE_SUBMIT_LEASE_SECONDS",
        "BATCHLINE_LOAD_LEASE_SECONDS",
        "BATCHLINE_NOTIFY_LEASE_SECONDS",
        "BATCHLINE_MAX_REQUESTS_PER_JOB",
        "BATCHLINE_MAX_BYTES_PER_JOB",
        "BATCHLINE_ROW_LABELS",
        "BATCHLINE_MAX_ATTEMPTS",
        "BATCHLINE_MAX_RUNNING_JOBS",
        "BATCHLINE_PENDING_ALERT_HOURS",
        "BATCHLINE_START_LEASE_SECONDS",
        "BATCHLINE_START_BACKOFF_SECONDS",
        "BATCHLINE_PRICES",
        "BATCHLINE_MAX_FILE_COST_USD",
        "BATCHLINE_DAILY_BUDGET_USD",
    }
    assert len(ENV_VARS) == len(set(ENV_VARS))
    assert set(REQUIRED_ENV_VARS).isdisjoint(OPTIONAL_ENV_VARS)


def test_defaults_apply_when_only_required_variables_are_set() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.project == "demo-project"
    assert settings.region == "us-central1"
    assert settings.reports_prefix == "batchline-reports/"
    assert settings.bigquery_location == "US"
    assert settings.firestore_database == "(default)"
    assert settings.ledger_collection == "batchline-jobs"
    assert settings.max_job_age == timedelta(hours=72)
    assert settings.max_event_age == timedelta(hours=24)
    assert settings.poll_budget == timedelta(seconds=240)
    assert settings.prices == DEFAULT_PRICES
    assert settings.vertex_parent == "projects/demo-project/locations/us-central1"
    assert settings.completed_topic_path == "projects/demo-project/topics/batchline-batch-completed"


def test_every_missing_required_variable_is_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"BATCHLINE_MODEL": "gemini-3.5-flash"})
    message = str(raised.value)
    for name in REQUIRED_ENV_VARS:
        if name != "BATCHLINE_MODEL":
            assert f"{name} is required" in message


def test_empty_value_counts_as_unset() -> None:
    with pytest.raises(SettingsError, match="BATCHLINE_DATASET is required"):
        Settings.from_env({**REQUIRED, "BATCHLINE_DATASET": "  "})
    settings = Settings.from_env({**REQUIRED, "BATCHLINE_REGION": "", "BATCHLINE_PRICES": ""})
    assert settings.region == "us-central1"
    assert settings.prices == DEFAULT_PRICES


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BATCHLINE_INPUT_BUCKET", "Not_A_Bucket!"),
        ("BATCHLINE_MODEL", "publishers/google/models/gemini-3.5-flash"),
        ("BATCHLINE_DATASET", "has-dash"),
        ("BATCHLINE_COMPLETED_TOPIC", "goog-reserved"),
        ("BATCHLINE_REGION", "US Central"),
        ("BATCHLINE_MAX_JOB_AGE_HOURS", "three days"),
        ("BATCHLINE_MAX_EVENT_AGE_HOURS", "0"),
        ("BATCHLINE_POLL_BUDGET_SECONDS", "-5"),
        ("BATCHLINE_POLL_BUDGET_SECONDS", "nan"),
        ("BATCHLINE_REPORTS_PREFIX", "/absolute/"),
        ("BATCHLINE_FIRESTORE_DATABASE", "Bad Name"),
        ("BATCHLINE_LEDGER_COLLECTION", "a/b"),
    ],
)
def test_malformed_value_is_reported_with_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**REQUIRED, variable: value})
    assert len(raised.value.problems) == 1
    assert raised.value.problems[0].startswith(variable)


def test_numbers_accept_fractions_and_prefix_gains_its_slash() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "BATCHLINE_MAX_JOB_AGE_HOURS": "0.5",
            "BATCHLINE_POLL_BUDGET_SECONDS": "30",
            "BATCHLINE_REPORTS_PREFIX": "reports",
            "BATCHLINE_REGION": "global",
        }
    )
    assert settings.max_job_age == timedelta(minutes=30)
    assert settings.poll_budget_seconds == 30.0
    assert settings.reports_prefix == "reports/"
    assert settings.region == "global"


def test_work_bucket_must_differ_from_input_bucket() -> None:
    with pytest.raises(SettingsError, match="BATCHLINE_WORK_BUCKET must differ"):
        Settings.from_env({**REQUIRED, "BATCHLINE_WORK_BUCKET": REQUIRED["BATCHLINE_INPUT_BUCKET"]})


def test_prices_override_defaults_model_by_model() -> None:
    prices = {"gemini-3.5-flash": {"input_per_million": 1, "output_per_million": 4.5}}
    settings = Settings.from_env({**REQUIRED, "BATCHLINE_PRICES": json.dumps(prices)})
    assert settings.prices["gemini-3.5-flash"] == ModelPrice(1.0, 4.5)
    assert settings.prices["gemini-3.5-flash-lite"] == DEFAULT_PRICES["gemini-3.5-flash-lite"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"m": 3}', "must be an object"),
        ('{"m": {"input_per_million": 1}}', "output_per_million is missing"),
        ('{"m": {"input_per_million": -1, "output_per_million": 1}}', "non-negative"),
        ('{"m": {"input_per_million": "1", "output_per_million": 1}}', "must be a number"),
        ('{"m": {"input_per_million": true, "output_per_million": 1}}', "must be a number"),
        ('{"m": {"input_per_million": 1, "output_per_million": 1, "cached": 0}}', "cached"),
    ],
)
def test_malformed_prices_are_refused_naming_the_variable(text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**REQUIRED, "BATCHLINE_PRICES": text})
    assert "BATCHLINE_PRICES" in str(raised.value)
    assert expected in str(raised.value)


def test_parse_prices_reads_a_table() -> None:
    assert parse_prices('{"x": {"input_per_million": 0, "output_per_million": 0.4}}') == {
        "x": ModelPrice(0.0, 0.4)
    }


def test_default_prices_cover_the_current_models() -> None:
    assert {"gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.1-flash-lite"} <= set(
        DEFAULT_PRICES
    )


def test_get_settings_reads_once_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    first = get_settings()
    monkeypatch.setenv("BATCHLINE_MODEL", "gemini-3.1-flash-lite")
    assert get_settings() is first
    assert get_settings().model == "gemini-3.5-flash"
    reset_settings()
    assert get_settings().model == "gemini-3.1-flash-lite"


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(REQUIRED)
    with pytest.raises(AttributeError):
        settings.model = "other"  # type: ignore[misc]


def test_cost_limits_are_unset_by_default_and_read_as_usd() -> None:
    defaults = Settings.from_env(REQUIRED)
    assert (defaults.max_file_cost_usd, defaults.daily_budget_usd) == (None, None)
    limited = Settings.from_env(
        {**REQUIRED, "BATCHLINE_MAX_FILE_COST_USD": "12.5", "BATCHLINE_DAILY_BUDGET_USD": "100"}
    )
    assert (limited.max_file_cost_usd, limited.daily_budget_usd) == (12.5, 100.0)


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_a_bad_cost_limit_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="BATCHLINE_DAILY_BUDGET_USD"):
        Settings.from_env({**REQUIRED, "BATCHLINE_DAILY_BUDGET_USD": value})


def test_overrides_take_the_new_optional_fields_and_merge_model_by_model() -> None:
    overrides = {
        "gemini-3.5-flash": {
            "input_per_million": 1.0,
            "output_per_million": 5.0,
            "long_context_threshold": 128_000,
            "long_context_input_per_million": 2.0,
            "long_context_output_per_million": 10.0,
        }
    }
    settings = Settings.from_env({**REQUIRED, "BATCHLINE_PRICES": json.dumps(overrides)})
    price = settings.prices["gemini-3.5-flash"]
    assert price.rates(long_context=True) == Rates(
        input_per_million=2.0, cached_input_per_million=0.2, output_per_million=10.0
    )
    assert price.rates().cached_input_per_million == pytest.approx(0.1)
    assert settings.prices["gemini-3.5-flash-lite"] == DEFAULT_PRICES["gemini-3.5-flash-lite"]
