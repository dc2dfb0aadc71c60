"""Configuration: one typed, validated object read from the environment on first use.

Nothing here runs at import time. `get_settings()` builds the object once per process and
caches it; `reset_settings()` drops the cache (tests change the environment between cases).
Terraform sets exactly the variables in `ENV_VARS`; a test there compares against it.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TypeVar

from batchline.domain.limits import SERVICE_LIMITS, JobLimits
from batchline.domain.pricing import DEFAULT_PRICES, ModelPrice, parse_prices

__all__ = [
    "ENV_VARS",
    "OPTIONAL_ENV_VARS",
    "REQUIRED_ENV_VARS",
    "Settings",
    "SettingsError",
    "get_settings",
    "reset_settings",
]

REQUIRED_ENV_VARS: tuple[str, ...] = (
    "GOOGLE_CLOUD_PROJECT",
    "BATCHLINE_INPUT_BUCKET",
    "BATCHLINE_WORK_BUCKET",
    "BATCHLINE_MODEL",
    "BATCHLINE_DATASET",
    "BATCHLINE_COMPLETED_TOPIC",
    "BATCHLINE_FINISHED_TOPIC",
)

# Optional variables and their defaults, as text (the form the environment holds).
OPTIONAL_ENV_VARS: Mapping[str, str | None] = MappingProxyType(
    {
        "BATCHLINE_REGION": "us-central1",
        "BATCHLINE_REPORTS_PREFIX": "batchline-reports/",
        "BATCHLINE_BIGQUERY_LOCATION": "US",
        "BATCHLINE_FIRESTORE_DATABASE": "(default)",
        "BATCHLINE_LEDGER_COLLECTION": "batchline-jobs",
        "BATCHLINE_MAX_JOB_AGE_HOURS": "72",
        "BATCHLINE_MAX_EVENT_AGE_HOURS": "24",
        "BATCHLINE_POLL_BUDGET_SECONDS": "240",
        # A job Vertex AI cannot be asked about for this long is given up on (and reported).
        "BATCHLINE_MAX_UNREADABLE_HOURS": "24",
        # How long an attempt's claim holds before another may take over from it (it died).
        "BATCHLINE_SUBMIT_LEASE_SECONDS": "600",
        "BATCHLINE_LOAD_LEASE_SECONDS": "900",
        "BATCHLINE_NOTIFY_LEASE_SECONDS": "120",
        # One job's limits: the service's by default; smaller ones split files sooner.
        "BATCHLINE_MAX_REQUESTS_PER_JOB": str(SERVICE_LIMITS.max_requests),
        "BATCHLINE_MAX_BYTES_PER_JOB": str(SERVICE_LIMITS.max_bytes),
        # Tag each staged request with its input line in a label (off: rows are matched on
        # their request alone, and no per-line label reaches the billing export).
        "BATCHLINE_ROW_LABELS": "true",
        # Attempts at a part's lines: 1 + resumes of lines that failed for a reason that may
        # pass (1 turns resume off).
        "BATCHLINE_MAX_ATTEMPTS": "3",
        # Vertex AI jobs in flight at once (creating, pending, running); more wait, queued.
        "BATCHLINE_MAX_RUNNING_JOBS": "20",
        # A job queued or pending this long logs one job.stalled event.
        "BATCHLINE_PENDING_ALERT_HOURS": "12",
        "BATCHLINE_START_LEASE_SECONDS": "300",
        # The first wait after a refused job creation (429, capacity); it doubles, to 30 min.
        "BATCHLINE_START_BACKOFF_SECONDS": "60",
        "BATCHLINE_PRICES": None,
        # Cost limits in USD on the high end of a file's estimate (unset: none): a file over
        # either is held until `batchline release`.
        "BATCHLINE_MAX_FILE_COST_USD": None,
        "BATCHLINE_DAILY_BUDGET_USD": None,
    }
)

# Every variable the settings read, sorted: the set Terraform must set (no more, no less).
ENV_VARS: tuple[str, ...] = tuple(sorted((*REQUIRED_ENV_VARS, *OPTIONAL_ENV_VARS)))


class SettingsError(ValueError):
    """One or more environment variables are missing or malformed; the message names each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the functions and the CLI read from the environment, typed and checked."""

    project: str
    input_bucket: str
    work_bucket: str
    model: str
    dataset: str
    completed_topic: str
    finished_topic: str
    region: str = "us-central1"
    reports_prefix: str = "batchline-reports/"
    bigquery_location: str = "US"
    firestore_database: str = "(default)"
    ledger_collection: str = "batchline-jobs"
    max_job_age_hours: float = 72.0
    max_event_age_hours: float = 24.0
    poll_budget_seconds: float = 240.0
    max_unreadable_hours: float = 24.0
    submit_lease_seconds: float = 600.0
    load_lease_seconds: float = 900.0
    notify_lease_seconds: float = 120.0
    job_limits: JobLimits = SERVICE_LIMITS
    row_labels: bool = True
    max_attempts: int = 3
    max_running_jobs: int = 20
    pending_alert_hours: float = 12.0
    start_lease_seconds: float = 300.0
    start_backoff_seconds: float = 60.0
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: DEFAULT_PRICES)
    max_file_cost_usd: float | None = None
    daily_budget_usd: float | None = None

    @property
    def max_job_age(self) -> timedelta:
        return timedelta(hours=self.max_job_age_hours)

    @property
    def max_event_age(self) -> timedelta:
        return timedelta(hours=self.max_event_age_hours)

    @property
    def poll_budget(self) -> timedelta:
        return timedelta(seconds=self.poll_budget_seconds)

    @property
    def max_unreadable(self) -> timedelta:
        return timedelta(hours=self.max_unreadable_hours)

    @property
    def submit_lease(self) -> timedelta:
        return timedelta(seconds=self.submit_lease_seconds)

    @property
    def start_lease(self) -> timedelta:
        return timedelta(seconds=self.start_lease_seconds)

    @property
    def start_backoff(self) -> timedelta:
        return timedelta(seconds=self.start_backoff_seconds)

    @property
    def pending_alert(self) -> timedelta:
        return timedelta(hours=self.pending_alert_hours)

    @property
    def load_lease(self) -> timedelta:
        return timedelta(seconds=self.load_lease_seconds)

    @property
    def notify_lease(self) -> timedelta:
        return timedelta(seconds=self.notify_lease_seconds)

    @property
    def vertex_parent(self) -> str:
        """The `parent` of batch prediction jobs: projects/P/locations/L."""
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def completed_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.completed_topic}"

    @property
    def finished_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.finished_topic}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and check every variable; raise SettingsError listing all problems at once."""
        reader = _Reader(environ)
        project = reader.text("GOOGLE_CLOUD_PROJECT", _PROJECT_RE, "a project id")
        input_bucket = reader.text("BATCHLINE_INPUT_BUCKET", _BUCKET_RE, "a bucket name")
        work_bucket = reader.text("BATCHLINE_WORK_BUCKET", _BUCKET_RE, "a bucket name")
        model = reader.text("BATCHLINE_MODEL", _MODEL_RE, "a bare model id like gemini-3.5-flash")
        dataset = reader.text("BATCHLINE_DATASET", _DATASET_RE, "a BigQuery dataset id")
        completed_topic = reader.text("BATCHLINE_COMPLETED_TOPIC", _TOPIC_RE, "a topic id")
        finished_topic = reader.text("BATCHLINE_FINISHED_TOPIC", _TOPIC_RE, "a topic id")
        region = reader.text("BATCHLINE_REGION", _REGION_RE, "a region like us-central1")
        reports_prefix = reader.text("BATCHLINE_REPORTS_PREFIX", _PREFIX_RE, "an object prefix")
        bigquery_location = reader.text(
            "BATCHLINE_BIGQUERY_LOCATION", _LOCATION_RE, "a location like US or europe-west1"
        )
        firestore_database = reader.text(
            "BATCHLINE_FIRESTORE_DATABASE", _DATABASE_RE, "(default) or a database id"
        )
        ledger_collection = reader.text(
            "BATCHLINE_LEDGER_COLLECTION", _COLLECTION_RE, "a Firestore collection id"
        )
        max_job_age_hours = reader.positive_number("BATCHLINE_MAX_JOB_AGE_HOURS")
        max_event_age_hours = reader.positive_number("BATCHLINE_MAX_EVENT_AGE_HOURS")
        poll_budget_seconds = reader.positive_number("BATCHLINE_POLL_BUDGET_SECONDS")
        max_unreadable_hours = reader.positive_number("BATCHLINE_MAX_UNREADABLE_HOURS")
        submit_lease_seconds = reader.positive_number("BATCHLINE_SUBMIT_LEASE_SECONDS")
        load_lease_seconds = reader.positive_number("BATCHLINE_LOAD_LEASE_SECONDS")
        notify_lease_seconds = reader.positive_number("BATCHLINE_NOTIFY_LEASE_SECONDS")
        max_requests = reader.whole_number(
            "BATCHLINE_MAX_REQUESTS_PER_JOB", 1, SERVICE_LIMITS.max_requests
        )
        max_bytes = reader.whole_number("BATCHLINE_MAX_BYTES_PER_JOB", 1, SERVICE_LIMITS.max_bytes)
        row_labels = reader.boolean("BATCHLINE_ROW_LABELS")
        max_attempts = reader.whole_number("BATCHLINE_MAX_ATTEMPTS", 1, 10)
        max_running_jobs = reader.whole_number("BATCHLINE_MAX_RUNNING_JOBS", 1, 10_000)
        pending_alert_hours = reader.positive_number("BATCHLINE_PENDING_ALERT_HOURS")
        start_lease_seconds = reader.positive_number("BATCHLINE_START_LEASE_SECONDS")
        start_backoff_seconds = reader.positive_number("BATCHLINE_START_BACKOFF_SECONDS")
        prices = reader.parsed("BATCHLINE_PRICES", prices_with_defaults, DEFAULT_PRICES)
        max_file_cost_usd = reader.optional_positive_number("BATCHLINE_MAX_FILE_COST_USD")
        daily_budget_usd = reader.optional_positive_number("BATCHLINE_DAILY_BUDGET_USD")
        if reader.problems:
            raise SettingsError(reader.problems)
        if work_bucket == input_bucket:
            # Outputs written to the watched bucket would trigger the submit function again.
            raise SettingsError(["BATCHLINE_WORK_BUCKET must differ from BATCHLINE_INPUT_BUCKET"])
        return cls(
            project=project,
            input_bucket=input_bucket,
            work_bucket=work_bucket,
            model=model,
            dataset=dataset,
            completed_topic=completed_topic,
            finished_topic=finished_topic,
            region=region,
            # An object prefix is a folder to users: always end it with a slash.
            reports_prefix=reports_prefix if reports_prefix.endswith("/") else reports_prefix + "/",
            bigquery_location=bigquery_location,
            firestore_database=firestore_database,
            ledger_collection=ledger_collection,
            max_job_age_hours=max_job_age_hours,
            max_event_age_hours=max_event_age_hours,
            poll_budget_seconds=poll_budget_seconds,
            max_unreadable_hours=max_unreadable_hours,
            submit_lease_seconds=submit_lease_seconds,
            load_lease_seconds=load_lease_seconds,
            notify_lease_seconds=notify_lease_seconds,
            job_limits=JobLimits(max_requests=max_requests, max_bytes=max_bytes),
            row_labels=row_labels,
            max_attempts=max_attempts,
            max_running_jobs=max_running_jobs,
            pending_alert_hours=pending_alert_hours,
            start_lease_seconds=start_lease_seconds,
            start_backoff_seconds=start_backoff_seconds,
            prices=prices,
            max_file_cost_usd=max_file_cost_usd,
            daily_budget_usd=daily_budget_usd,
        )


def prices_with_defaults(text: str) -> Mapping[str, ModelPrice]:
    """BATCHLINE_PRICES over the built-in prices: model by model, the rest stay (also what
    `batchline estimate` uses, which needs no other setting)."""
    return MappingProxyType({**DEFAULT_PRICES, **parse_prices(text)})


# Looser than the real 6-30 characters so emulator projects like "test" pass.
_PROJECT_RE = re.compile(r"^(?:[a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_MODEL_RE = re.compile(r"^[a-z0-9][a-z0-9.@_-]*$")
_DATASET_RE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_TOPIC_RE = re.compile(r"^(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
_REGION_RE = re.compile(r"^(?:global|[a-z]+-[a-z]+[0-9]+)$")
_PREFIX_RE = re.compile(r"^[^/\r\n][^\r\n]*$")
_LOCATION_RE = re.compile(r"^[A-Za-z]+(?:-[a-z]+[0-9]+)?$")
_DATABASE_RE = re.compile(r"^(?:\(default\)|[a-z][a-z0-9-]{2,62})$")
_COLLECTION_RE = re.compile(r"^[^/.][^/]{0,1499}$")

_T = TypeVar("_T")


class _Reader:
    """Reads variables and collects every problem, so one error message lists them all."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def _raw(self, name: str) -> str | None:
        # An empty value counts as unset: Terraform and shells often export "" for "none".
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if name in OPTIONAL_ENV_VARS:
            return OPTIONAL_ENV_VARS[name]
        self.problems.append(f"{name} is required but not set")
        return None

    def text(self, name: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self._raw(name)
        if value is None:
            return ""
        if not pattern.match(value):
            self.problems.append(f"{name}={value!r} is not {expected}")
        return value

    def positive_number(self, name: str) -> float:
        value = self._raw(name)
        if value is None:
            return 0.0
        try:
            number = float(value)
        except ValueError:
            self.problems.append(f"{name}={value!r} is not a number")
            return 0.0
        if not math.isfinite(number) or number <= 0:
            self.problems.append(f"{name}={value!r} must be a positive number")
        return number

    def optional_positive_number(self, name: str) -> float | None:
        """A positive number, or None when the variable is unset (its default)."""
        if self._raw(name) is None:
            return None
        return self.positive_number(name)

    def boolean(self, name: str) -> bool:
        value = self._raw(name)
        if value is None:
            return False
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        self.problems.append(f"{name}={value!r} is not true or false")
        return False

    def whole_number(self, name: str, low: int, high: int) -> int:
        value = self._raw(name)
        if value is None:
            return low
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{name}={value!r} is not a whole number")
            return low
        if not low <= number <= high:
            self.problems.append(f"{name}={value!r} must be within {low}..{high}")
            return low
        return number

    def parsed(self, name: str, parse: Callable[[str], _T], default: _T) -> _T:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.problems.append(str(exc) if name in str(exc) else f"{name}: {exc}")
            return default


_lock = threading.Lock()
_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read from os.environ on the first call."""
    global _cached
    settings = _cached
    if settings is not None:
        return settings
    with _lock:
        if _cached is None:
            _cached = Settings.from_env(os.environ)
        return _cached


def reset_settings() -> None:
    """Forget the cached settings so the next `get_settings()` reads the environment again."""
    global _cached
    with _lock:
        _cached = None
