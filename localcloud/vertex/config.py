"""Settings of one emulator instance: the model catalogue, fault injection and state timings.

Each setting comes from (first match wins) a constructor argument, a `VERTEX_EMULATOR_*`
environment variable, or the default below. Faults can also be changed while the emulator runs
(POST /admin/faults).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_KNOWN_MODELS: tuple[str, ...] = (
    "gemini-3.5-flash",
    "gemini-3.5-flash-lite",
    "gemini-3.1-flash-lite",
)
DEFAULT_RETIRED_MODELS: tuple[str, ...] = (
    "gemini-1.0*",
    "gemini-1.5*",
    "gemini-2.0*",
    "gemini-2.5-pro*",
    "gemini-2.5-flash",
    "gemini-2.5-flash-0*",
    "gemini-2.5-flash-preview*",
    "gemini-2.5-flash-lite*",
)
DEFAULT_FAIL_LABEL = "emulator-fail"
DEFAULT_BLOCK_MARKER = "[[emulator-block]]"

ENV_PREFIX = "VERTEX_EMULATOR_"


class SettingError(ValueError):
    """A setting (environment variable or admin JSON field) has a value of the wrong form."""


@dataclass
class Faults:
    """What goes wrong, and how slowly things happen, in one emulator instance.

    row_failure_rate: share of rows (0..1) that fail with a 500 row status; which rows is decided
        by a hash of the input line, so the same file fails the same rows every time.
    fail_jobs: every job ends FAILED (after exporting the first half of its rows).
    fail_label: a job whose label of this key is "true" ends FAILED the same way.
    create_429, create_503, get_429, get_503: how many of the next create (or get) calls answer
        429 RESOURCE_EXHAUSTED (or 503 UNAVAILABLE); one is used up per call, 429s first.
    create_provisioning: how many of the next creates answer 400 FAILED_PRECONDITION "Service
        agents are being provisioned", the transient refusal a brand-new project gets.
    pending_seconds, running_seconds: how long a job stays PENDING, then RUNNING.
    cancelling_seconds: how long a cancelled job stays CANCELLING.
    block_marker: a prompt whose text contains this is blocked (promptFeedback.blockReason);
        empty turns blocking off.
    """

    row_failure_rate: float = 0.0
    fail_jobs: bool = False
    fail_label: str = DEFAULT_FAIL_LABEL
    create_429: int = 0
    create_503: int = 0
    get_429: int = 0
    get_503: int = 0
    create_provisioning: int = 0
    pending_seconds: float = 0.0
    running_seconds: float = 0.0
    cancelling_seconds: float = 0.0
    block_marker: str = DEFAULT_BLOCK_MARKER

    def __post_init__(self) -> None:
        if not 0.0 <= self.row_failure_rate <= 1.0:
            raise SettingError(f"row_failure_rate must be within 0..1, not {self.row_failure_rate}")
        for name in ("create_429", "create_503", "get_429", "get_503", "create_provisioning"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name} must not be negative")
        for name in ("pending_seconds", "running_seconds", "cancelling_seconds"):
            if getattr(self, name) < 0:
                raise SettingError(f"{name} must not be negative")

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


@dataclass(frozen=True)
class ModelCatalog:
    """Which publisher model ids batch jobs accept (shell-style patterns, e.g. `gemini-1.5*`)."""

    known: tuple[str, ...] = DEFAULT_KNOWN_MODELS
    retired: tuple[str, ...] = DEFAULT_RETIRED_MODELS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelCatalog:
        """VERTEX_EMULATOR_KNOWN_MODELS and VERTEX_EMULATOR_RETIRED_MODELS: comma-separated."""
        environ = os.environ if environ is None else environ
        known = _split(environ.get(ENV_PREFIX + "KNOWN_MODELS"))
        retired = _split(environ.get(ENV_PREFIX + "RETIRED_MODELS"))
        return cls(
            known=known if known is not None else DEFAULT_KNOWN_MODELS,
            retired=retired if retired is not None else DEFAULT_RETIRED_MODELS,
        )

    def accepts(self, model_id: str) -> bool:
        if any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.retired):
            return False
        return any(fnmatch.fnmatchcase(model_id, pattern) for pattern in self.known)


def _split(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    return tuple(part.strip() for part in raw.split(",") if part.strip())
