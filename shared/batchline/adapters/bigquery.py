"""Loading rows into BigQuery exactly once.

Every load runs as a BigQuery job whose id is derived from the Vertex AI job. BigQuery
refuses a second job with the same id (409), so a repeated completion finds the first load
instead of appending the rows again; a load either adds all its rows or none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from batchline.domain.errors import PermanentError, TransientError
from batchline.schemas import JOBS_TABLE, PREDICTIONS_TABLE, TableName, schema_dicts

LOAD_TIMEOUT_SECONDS = 300.0
MAX_LOAD_ATTEMPTS = 5
# BigQuery reasons that a later attempt (under a new job id) may not hit again.
_TRANSIENT_REASONS = frozenset(
    {"backendError", "internalError", "rateLimitExceeded", "quotaExceeded"}
)


def load_job_id(kind: str, vertex_job_id: str) -> str:
    """The BigQuery job id for one load of one Vertex AI job (letters, digits, _ and -)."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", vertex_job_id)
    return f"batchline_{kind}_{clean}"


def schema_fields(table: TableName) -> list[Any]:
    """The table's columns as google.cloud.bigquery.SchemaField."""
    from google.cloud.bigquery import SchemaField

    return [SchemaField.from_api_repr(dict(column)) for column in schema_dicts(table)]


def _append_config(table: TableName) -> Any:
    """Newline-delimited JSON appended to an existing table with the project's schema."""
    from google.cloud import bigquery

    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        schema=schema_fields(table),
    )


class Warehouse:
    def __init__(self, client: Any, project: str, dataset: str, location: str) -> None:
        self._client = client
        self.project = project
        self.dataset = dataset
        self.location = location

    def table(self, name: str) -> str:
        return f"{self.project}.{self.dataset}.{name}"

    def load_predictions(self, uri: str, base_job_id: str) -> int:
        """Append the NDJSON rows at `uri` to the predictions table; rows loaded."""
        config = _append_config(PREDICTIONS_TABLE)
        return self._run_once(
            base_job_id,
            lambda job_id: self._client.load_table_from_uri(
                uri,
                self.table(PREDICTIONS_TABLE),
                job_id=job_id,
                job_config=config,
                location=self.location,
            ),
        )

    def load_job_rows(self, rows: Sequence[Mapping[str, Any]], base_job_id: str) -> int:
        """Append rows to the jobs table in one load job (exactly once per id)."""
        config = _append_config(JOBS_TABLE)
        return self._run_once(
            base_job_id,
            lambda job_id: self._client.load_table_from_json(
                [dict(row) for row in rows],
                self.table(JOBS_TABLE),
                job_id=job_id,
                job_config=config,
                location=self.location,
            ),
        )

    def _run_once(self, base_job_id: str, start: Callable[[str], Any]) -> int:
        """Run the load under ids base, base_a1, base_a2, ...: attempt N+1 starts only after
        attempt N failed for a transient reason, and a failed load adds nothing, so the
        rows land exactly once however many deliveries race here."""
        from google.api_core import exceptions

        for attempt in range(MAX_LOAD_ATTEMPTS):
            job_id = f"{base_job_id}_a{attempt}" if attempt else base_job_id
            try:
                job = start(job_id)
            except exceptions.Conflict:
                # An earlier delivery started this attempt: its outcome is ours.
                job = self._client.get_job(job_id, location=self.location)
            except (exceptions.TooManyRequests, exceptions.ServerError) as exc:
                raise TransientError(f"starting load {job_id}: {exc}") from exc
            try:
                job.result(timeout=LOAD_TIMEOUT_SECONDS)
            except exceptions.GoogleAPIError as exc:
                if job.error_result is None:
                    # Not the load's verdict: asking about it failed. Ask again later.
                    raise TransientError(f"waiting for load {job_id}: {exc}") from exc
                reason = job.error_result.get("reason", "")
                if reason in _TRANSIENT_REASONS:
                    continue
                raise PermanentError(f"load {job_id} failed ({reason or 'error'}): {exc}") from exc
            return int(job.output_rows or 0)
        raise TransientError(f"load {base_job_id}: {MAX_LOAD_ATTEMPTS} attempts failed")
