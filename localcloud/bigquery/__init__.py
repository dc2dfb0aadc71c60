"""A local BigQuery emulator: the REST v2 surface google-cloud-bigquery uses, on DuckDB.

What the folder holds: `server` (the REST paths and uploads, on the local cloud's server
kit, and its 429/500/502/503 faults), `service` (the facade the server calls) over one
module per REST resource: `datasets`, `tables`, `tabledata`, `jobs` (with `loads` and
`queries`, the jobs that run, and the query results); `rest` (what the resources share:
context, etags, times, pages), `store` (DuckDB storage and metadata), `schema` (fields and
types), `row_values` (row values in and out), `sql` (GoogleSQL to DuckDB), `uploads` (media
uploads), `conformance` (bodies checked against the v2 discovery document), `errors`, and
`__main__` (`python -m`).
What it may import: `localcloud.serving`, duckdb, sqlglot, google-cloud-storage (load
sources), google-api-python-client's bundled discovery document; never the Vertex AI
emulator, the bridge, the stack or the CLI.

Start it with `python -m localcloud.bigquery --port 9050 [--database FILE]`, or in-process
with `BigQueryEmulator(port=0).start()`; point the client at it with
`client_options={"api_endpoint": emulator.url}` and AnonymousCredentials (the client also
reads BIGQUERY_EMULATOR_HOST). GET /healthz answers when it is ready.

What it covers
- datasets: insert, get, list, patch, delete (with deleteContents);
- tables: insert, get, list, patch (labels, description, adding NULLABLE/REPEATED columns,
  relaxing REQUIRED), delete; timePartitioning, rangePartitioning and clustering are
  checked and kept in the resource, not used for storage;
- jobs.insert for load jobs (newline-delimited JSON from gs:// through the Cloud Storage
  emulator named by STORAGE_EMULATOR_HOST, `*` wildcards, gzip; or uploaded by
  `load_table_from_file`/`load_table_from_json`, multipart and resumable) and query jobs;
  jobs.get, jobs.cancel, jobs.query (with requestId idempotency), jobs.getQueryResults;
- tabledata.list and tabledata.insertAll (insertId de-duplication within a window,
  skipInvalidRows, ignoreUnknownValues);
- the behaviours exactly-once loading relies on: a known job id is refused with 409
  duplicate; write dispositions WRITE_APPEND/WRITE_TRUNCATE/WRITE_EMPTY and create
  dispositions CREATE_IF_NEEDED/CREATE_NEVER; a load with rows that do not fit fails
  with reason "invalid", BigQuery's messages and errors[], and loads nothing;
  maxBadRecords, ignoreUnknownValues and autodetect are honoured;
- GoogleSQL queries translated by sqlglot to DuckDB: SELECT (results kept in hidden
  anonymous tables for 24 h, or written to a destinationTable), INSERT, UPDATE, DELETE,
  MERGE; named and positional scalar/array parameters; unnamed columns named f0_, f1_...;
- types STRING, BYTES, INT64, FLOAT64, NUMERIC, BOOL, TIMESTAMP, DATE, DATETIME, TIME,
  JSON, RECORD/STRUCT and REPEATED, sent back in the wire form the client parses
  (int64 timestamps on request, ints and floats as strings, nested {"f": [{"v": ...}]});
- Google's JSON errors: 404 notFound, 409 duplicate, 400 invalid/invalidQuery/
  resourceInUse, 412 on an If-Match mismatch; request bodies with field names the
  discovery document does not know are refused, as Google's parser refuses them;
- fault injection: N answers of 429 rateLimitExceeded or 503 backendError (the reasons
  google.cloud.bigquery.retry.DEFAULT_RETRY retries) via POST /admin/faults
  {"status": 503, "count": 2} or the `faults` argument;
- storage in DuckDB, in memory or in a file; resources (schemas, partitioning, jobs)
  live in DuckDB metadata tables, so a file-backed emulator keeps everything on restart.
  `conformance.DiscoveryDocument` checks bodies against the bundled v2 discovery document.

What it does not cover
- CSV, Avro, Parquet and ORC loads; copy and extract jobs; views, materialized views,
  external tables, routines, models, row access policies, IAM;
- legacy SQL, multi-statement scripts, DDL statements (CREATE/DROP TABLE in SQL),
  INFORMATION_SCHEMA, wildcard tables, table decorators, templateSuffix, STRUCT
  parameters; GoogleSQL functions that sqlglot cannot translate to DuckDB fail as
  invalidQuery, and a few translate to DuckDB functions of slightly different meaning
  (a DuckDB function that returns a naive timestamp comes back typed DATETIME; the common
  ones, TIMESTAMP_MILLIS/MICROS, PARSE_TIMESTAMP and FORMAT, are corrected);
- BIGNUMERIC, GEOGRAPHY, INTERVAL and RANGE column types; partition pruning, expiration
  and the requirePartitionFilter check; numBytes and other storage statistics;
- jobs run synchronously inside jobs.insert (always DONE), so there is nothing to cancel
  and no PENDING/RUNNING state; jobs.list and jobs.delete; locations are recorded, not
  enforced; names are matched case-insensitively by DuckDB;
- authentication and authorization: every request is accepted.
"""

from localcloud.bigquery.server import BigQueryEmulator, Exchange, Fault

__all__ = ["BigQueryEmulator", "Exchange", "Fault"]
