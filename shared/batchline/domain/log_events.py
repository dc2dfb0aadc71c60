"""The log events that dashboards, log-based metrics and alerts count: a contract between the
code and Terraform (terraform/monitoring.tf reads jsonPayload.event and the fields below).

Each event is logged once per occurrence as a JSON line whose `event` field is the name, with
the fields listed; tests check both that the pipeline logs them and that Terraform's metric
filters and extractors name only these.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "FILE_NOTIFIED",
    "FILE_RECEIVED",
    "JOB_CREATED",
    "JOB_ENDED",
    "JOB_STALLED",
    "LOG_EVENTS",
    "POLL_TICK",
    "ROWS_LOADED",
]

# The submit step took on a new upload (one object generation), before validating it.
FILE_RECEIVED: Final = "file.received"
# A file's one notification was published: `notification` is its event (job.succeeded,
# job.failed, file.rejected, ...), so files completed, failed and rejected are counted here.
FILE_NOTIFIED: Final = "file.notified"
# A Vertex AI batch job was created for one part of a file.
JOB_CREATED: Final = "job.created"
# A job reached a terminal state (`vertex_state`: JOB_STATE_SUCCEEDED, _FAILED, ...).
JOB_ENDED: Final = "job.ended"
# A job's rows were loaded into BigQuery: counts by status and the estimated cost.
ROWS_LOADED: Final = "rows.loaded"
# A poll tick ended: jobs still in flight and how long the oldest has waited.
POLL_TICK: Final = "poll.tick"
# A job has waited past BATCHLINE_PENDING_ALERT_HOURS without running (once per job).
JOB_STALLED: Final = "job.stalled"

# Event -> the fields each of its lines carries (besides the correlation fields).
LOG_EVENTS: Final = MappingProxyType(
    {
        FILE_RECEIVED: ("source_uri",),
        FILE_NOTIFIED: ("source_uri", "notification"),
        JOB_CREATED: ("source_uri", "job", "part", "model"),
        JOB_ENDED: ("source_uri", "job", "vertex_state"),
        ROWS_LOADED: (
            "source_uri",
            "job",
            "model",
            "rows_succeeded",
            "rows_failed",
            "rows_blocked",
            "rows_missing",
            "estimated_cost_usd",
        ),
        POLL_TICK: ("jobs_in_flight", "oldest_in_flight_seconds"),
        JOB_STALLED: ("source_uri", "job", "waited_seconds"),
    }
)
