"""The BigQuery v2 resources and their rules, independent of HTTP: one facade over them.

Each public method is one REST method: it takes the path parts, the query parameters and
the JSON body, and returns the JSON resource BigQuery would, or raises BigQueryError.
Jobs run to completion inside jobs.insert, so every job a client sees is already DONE.
The resources live in a module each: datasets, tables, tabledata, jobs (with loads and
queries, the two kinds of job that run) and queries' results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from localcloud.bigquery.datasets import Datasets
from localcloud.bigquery.jobs import JobRunner, Jobs
from localcloud.bigquery.loads import LoadJobs, SourceFile, read_gcs_sources
from localcloud.bigquery.queries import QueryJobs, QueryResults
from localcloud.bigquery.rest import InsertIdCache, ResourceContext, utc_now
from localcloud.bigquery.store import Store
from localcloud.bigquery.streaming import DEFAULT_WINDOW_SECONDS, StreamingBuffer
from localcloud.bigquery.tabledata import TableData
from localcloud.bigquery.tables import Tables


class BigQueryService:
    """Datasets, tables, table data and jobs over a Store."""

    def __init__(
        self,
        store: Store,
        *,
        base_url: str = "",
        insert_id_window_seconds: float = 60.0,
        streaming_buffer_seconds: float = DEFAULT_WINDOW_SECONDS,
        read_sources: Callable[[Sequence[str], str], list[SourceFile]] = read_gcs_sources,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.store = store
        self.base_url = base_url
        self.streaming = StreamingBuffer(store, clock, streaming_buffer_seconds)
        context = ResourceContext(
            store, base_url, clock, InsertIdCache(insert_id_window_seconds), self.streaming
        )
        self.datasets = Datasets(context)
        self.tables = Tables(context, self.datasets)
        self.tabledata = TableData(context, self.tables)
        runners: dict[str, JobRunner] = {
            "load": LoadJobs(context, self.datasets, self.tables, read_sources),
            "query": QueryJobs(context, self.datasets, self.tables),
        }
        self.jobs = Jobs(context, runners)
        self.query_results = QueryResults(context, self.jobs)

        # The REST methods, by the names the server calls them.
        self.insert_dataset = self.datasets.insert_dataset
        self.get_dataset = self.datasets.get_dataset
        self.patch_dataset = self.datasets.patch_dataset
        self.delete_dataset = self.datasets.delete_dataset
        self.list_datasets = self.datasets.list_datasets
        self.insert_table = self.tables.insert_table
        self.get_table = self.tables.get_table
        self.patch_table = self.tables.patch_table
        self.delete_table = self.tables.delete_table
        self.list_tables = self.tables.list_tables
        self.list_rows = self.tabledata.list_rows
        self.insert_all = self.tabledata.insert_all
        self.insert_job = self.jobs.insert_job
        self.check_new_job = self.jobs.check_new_job
        self.get_job = self.jobs.get_job
        self.cancel_job = self.jobs.cancel_job
        self.query = self.query_results.query
        self.get_query_results = self.query_results.get_query_results
