"""Settings of one emulator instance: the model catalogue, fault injection and state timings.

Each setting comes from (first match wins) a constructor argument, a `VERTEX_EMULATOR_*`
environment variable, or the default below. Faults can also be changed while the emulator runs
(POST /admin/faults). The model catalogue's defaults live in models.json beside this file, with
the page they were read from and the date.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODELS_FILE = Path(__file__).with_name("models.json")
DEFAULT_FAIL_LABEL = "emulator-fail"
DEFAULT_BLOCK_MARKER = "[[emulator-block]]"
QUEUE_LIMIT_SECONDS = 72 * 3600.0  # a job waits at most 72 h in the queue, then expires
# The terminal states a job can be made to end in part-way (end_early_state).
END_STATES = ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED")
ROW_FAILURE_CODES = (429, 500)
# How a JSON answer goes wrong (json_fault): "mixed" picks one of the others row by row.
JSON_FAULTS = ("cut_short", "invalid", "off_schema", "mixed")
REQUEST_ECHOES = ("normalized", "as_sent")
LABEL_DROPS = ("none", "all", "past_unique_limit")
LABEL_UNIQUE_VALUE_LIMIT = 1000  # "Add labels to API calls": more unique values may be dropped

ENV_PREFIX = "VERTEX_EMULATOR_"


class SettingError(ValueError):
    """A setting (environment variable or admin JSON field) has a value of the wrong form."""


@dataclass
class Faults:
    """What goes wrong, and how slowly things happen, in one emulator instance.

    row_failure_rate: share of rows (0..1) that fail; which rows is decided by a hash of the
        input line, so the same file fails the same rows every time.
    row_failure_code: how those rows fail: 429 (the service's "RESOURCE_EXHAUSTED error
        occurred: ..." row status, the most reported one) or 500 ("Internal error occurred.
        Failed to get generateContentResponse: ...").
    faulty_jobs_label: "key=value": the row failures, JSON faults, fail_jobs and end_early_* apply
        only to jobs carrying that label (e.g. "batchline_attempt=1": the first attempts fail,
        their resumes do not, as a quota storm that passes); empty: to every job.
    fail_jobs: every job ends FAILED after completing the first half of its rows.
    fail_label: a job whose label of this key is "true" ends FAILED the same way.
    end_early_state: every job ends in this terminal state (SUCCEEDED, FAILED, CANCELLED,
        EXPIRED or PARTIALLY_SUCCEEDED; a JOB_STATE_ prefix and any case are accepted) after
        completing only part of its rows; empty turns it off.
    end_early_after_rows: how many rows such a job completes (when above 0) ...
    end_early_after_fraction: ... or else which share of its rows (0..1, rounded down).
    max_pending_seconds: a job still PENDING after this long expires (EXPIRED, nothing
        exported): the service's 72 h queue limit by default.
    create_429, create_503, get_429, get_503: how many of the next create (or get) calls answer
        429 RESOURCE_EXHAUSTED (or 503 UNAVAILABLE); one is used up per call, 429s first.
    create_provisioning: how many of the next creates answer 400 FAILED_PRECONDITION "Service
        agents are being provisioned", the transient refusal a brand-new project gets.
    pending_seconds, running_seconds: how long a job stays PENDING, then RUNNING (rows are
        completed evenly over the running time, so a cancel part-way keeps the rows done).
    cancelling_seconds: how long a cancelled job stays CANCELLING.
    block_marker: a prompt whose text contains this is blocked (promptFeedback.blockReason);
        empty turns blocking off.
    request_echo: how output lines echo the request: "normalized" (the service's form in the
        documentation's samples: lowerCamelCase, every part carrying every part key seen in
        the job, null where unset) or "as_sent" (the line's own JSON, its spelling kept).
    drop_request_labels: "none" (echo request.labels), "all" (never echo them) or
        "past_unique_limit" (leave out every label whose key has more than
        label_unique_value_limit distinct values in the job: the labels page warns that such
        a key may be dropped without notice).
    label_unique_value_limit: that limit (1,000 on the labels page).
    json_fault_rate: share of the rows asking for JSON (responseMimeType application/json)
        whose answer goes wrong, picked by a hash of the input line as row failures are.
    json_fault: how: "cut_short" (stopped half-way with finishReason MAX_TOKENS, as when
        maxOutputTokens runs out), "invalid" (a trailing comma, finishReason STOP), "off_schema"
        (valid JSON that breaks the responseSchema: a required property left out, or a value
        of the wrong type) or "mixed" (one of the three, by the same hash).
    """

    row_failure_rate: float = 0.0
    row_failure_code: int = 429
    faulty_jobs_label: str = ""
    fail_jobs: bool = False
    fail_label: str = DEFAULT_FAIL_LABEL
    end_early_state: str = ""
    end_early_after_rows: int = 0
    end_early_after_fraction: float = 0.5
    max_pending_seconds: float = QUEUE_LIMIT_SECONDS
    create_429: int = 0
    create_503: int = 0
    get_429: int = 0
    get_503: int = 0
    create_provisioning: int = 0
    pending_seconds: float = 0.0
    running_seconds: float = 0.0
    cancelling_seconds: float = 0.0
    block_marker: str = DEFAULT_BLOCK_MARKER
    request_echo: str = "normalized"
    drop_request_labels: str = "none"
    label_unique_value_limit: int = LABEL_UNIQUE_VALUE_LIMIT
    json_fault_rate: float = 0.0
    json_fault: str = "mixed"

    def for_job(self, labels: Mapping[str, str]) -> Faults:
        """The faults one job gets: without its job-level faults when faulty_jobs_label is
        set and the job does not carry that label."""
        if not self.faulty_jobs_label:
            return self
        key, _, value = self.faulty_jobs_label.partition("=")
        if labels.get(key.strip()) == value.strip():
            return self
        return dataclasses.replace(
            self, row_failure_rate=0.0, json_fault_rate=0.0, fail_jobs=False, end_early_state=""
        )

    def __post_init__(self) -> None:
        for name in ("row_failure_rate", "end_early_after_fraction", "json_fault_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SettingError(f"{name} must be within 0..1, not {getattr(self, name)}")
        counts = ("create_429", "create_503", "get_429", "get_503", "create_provisioning")
        for name in (*counts, "end_early_after_rows", "label_unique_value_limit"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name} must not be negative")
        seconds = ("pending_seconds", "running_seconds", "cancelling_seconds")
        for name in (*seconds, "max_pending_seconds"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name} must not be negative")
        if self.row_failure_code not in ROW_FAILURE_CODES:
            raise SettingError(f"row_failure_code must be 429 or 500, not {self.row_failure_code}")
        state = self.end_early_state.strip().upper().removeprefix("JOB_STATE_")
        if state and state not in END_STATES:
            raise SettingError(
                f"end_early_state must be one of {', '.join(END_STATES)}, "
                f"not {self.end_early_state!r}"
            )
        self.end_early_state = state
        _check_choice("request_echo", self.request_echo, REQUEST_ECHOES)
        _check_choice("drop_request_labels", self.drop_request_labels, LABEL_DROPS)
        _check_choice("json_fault", self.json_fault, JSON_FAULTS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Faults:
        """Faults from VERTEX_EMULATOR_<FIELD NAME IN UPPER CASE>, defaults for the rest."""
        environ = os.environ if environ is None else environ
        faults = cls()
        for item in dataclasses.fields(cls):
            variable = ENV_PREFIX + item.name.upper()
            raw = environ.get(variable)
            if raw is None:
                continue
            try:
                faults = faults.updated({item.name: raw})
            except SettingError as exc:
                raise SettingError(f"{variable}: {exc}") from None
        return faults

    def updated(self, changes: Mapping[str, Any], source: str = "admin request") -> Faults:
        """A copy with `changes` applied; names or values of the wrong form raise SettingError."""
        known = {item.name: item for item in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise SettingError(f"unknown fault settings in {source}: {', '.join(unknown)}")
        converted = {
            name: _convert(name, known[name].type, value) for name, value in changes.items()
        }
        return dataclasses.replace(self, **converted)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SettingError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _convert(name: str, type_name: Any, value: Any) -> Any:
    """Turns a JSON value or an environment string into the field's type."""
    try:
        if type_name in ("bool", bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if type_name in ("int", int):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if type_name in ("float", float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except ValueError:
        raise SettingError(f"{name}: {value!r} is not a valid {type_name}") from None


@functools.cache
def catalog_file(path: Path = MODELS_FILE) -> dict[str, Any]:
    """models.json: the known model ids (with their names), the retired patterns, the source."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _file_known() -> tuple[str, ...]:
    return tuple(entry["id"] for entry in catalog_file()["known"])


def _file_retired() -> tuple[str, ...]:
    return tuple(catalog_file()["retired"])


@dataclass(frozen=True)
class ModelCatalog:
    """Which publisher model ids batch jobs accept (shell-style patterns, e.g. `gemini-1.5*`)."""

    known: tuple[str, ...] = field(default_factory=_file_known)
    retired: tuple[str, ...] = field(default_factory=_file_retired)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelCatalog:
        """VERTEX_EMULATOR_KNOWN_MODELS and VERTEX_EMULATOR_RETIRED_MODELS (comma-separated)
        replace the lists of models.json."""
        environ = os.environ if environ is None else environ
        known = _split(environ.get(ENV_PREFIX + "KNOWN_MODELS"))
        retired = _split(environ.get(ENV_PREFIX + "RETIRED_MODELS"))
        return cls(
            known=known if known is not None else _file_known(),
            retired=retired if retired is not None else _file_retired(),
        )

    def accepts(self, model_id: str) -> bool:
        if any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.retired):
            return False
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.known)


def _split(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())
