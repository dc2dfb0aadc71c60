"""What Batchline knows of a Vertex AI batch prediction job, whatever client read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["RUNNING_STATES", "TERMINAL_STATES", "UNKNOWN_STATE", "BatchJob", "job_id_from_name"]

TERMINAL_STATES = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
RUNNING_STATES = frozenset({"JOB_STATE_RUNNING", "JOB_STATE_UPDATING"})
# The state recorded for a job whose real end Batchline could not see (deleted outside
# Batchline, or unreadable for too long): the API's own "unknown".
UNKNOWN_STATE = "JOB_STATE_UNSPECIFIED"


def job_id_from_name(job_name: str) -> str:
    """The id at the end of projects/P/locations/L/batchPredictionJobs/ID."""
    return job_name.rstrip("/").rpartition("/")[2]


@dataclass(frozen=True)
class BatchJob:
    """What Batchline needs of a BatchPredictionJob."""

    name: str
    state: str
    model: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    output_directory: str = ""
    error: str = ""
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    @property
    def id(self) -> str:
        return job_id_from_name(self.name)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES
