"""A local BigQuery emulator: the REST v2 surface google-cloud-bigquery uses, on DuckDB.

What the folder holds: `server` (the REST paths and uploads, on the local cloud's server
kit, and its 429/500/502/503 faults), `service` (the facade the server calls) over one
module per REST resource: `datasets`, `tables` (tables and views), `tabledata`, `jobs` (with
`loads` and `queries`, the jobs that run, and the query results); `rest` (what the resources
share: context, etags, times, pages), `store` (DuckDB storage and metadata), `streaming`
(the streaming buffer), `schema` (fields and types), `row_values` (row values in and out),
`zetasql_runtime` (Google's ZetaSQL analyzer, WebAssembly on wasmtime, compiled once in the
background and cached on disk), `analyzer` (BigQuery's language options, the catalog, the
analysis), `prepare` (a query analysed, then translated), `sql` (GoogleSQL to DuckDB with
sqlglot), `semantics` (where DuckDB would answer differently: rewrites, and the functions
known to translate right), `sizes` (BigQuery's data size of stored values), `uploads`,
`conformance` (bodies checked against the v2 discovery document), `errors`, and `__main__`.
What it may import: `localcloud.serving`, duckdb, sqlglot, zetasql and wasmtime,
google-cloud-storage (load sources), google-api-python-client's bundled discovery document;
never the Vertex AI emulator, the bridge, the stack or the CLI.

Start it with `python -m localcloud.bigquery --port 9050 [--database FILE] [--analyzer-cache
DIR] [--streaming-buffer-seconds S]`, or in-process with `BigQueryEmulator(port=0).start()`; point the client at it with
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
- GoogleSQL as BigQuery has it: every statement is analysed by Google's ZetaSQL analyzer
  with BigQuery's language options (PRODUCT_EXTERNAL, the feature set of Google's ZetaSQL
  toolkit for BigQuery) and a catalog of the tables and views it names, before it runs: what
  BigQuery refuses is refused with its message and position (`Unrecognized name: nope at
  [1:8]`, reason invalidQuery, HTTP 400): type errors (`n = '1'` for an INT64), JSON in
  comparisons, GROUP BY and ORDER BY, TIMESTAMP_ADD by MONTH, UPDATE/DELETE without WHERE,
  a STRING assigned to a JSON column... The result schema is the analyzer's;
- execution on DuckDB through sqlglot, with BigQuery's meaning kept where the engines
  differ (`semantics`): division, DIV and MOD by zero and OFFSET/ORDINAL out of range are
  errors, a result ARRAY with a NULL is an error, FLOAT64 literals, CAST to STRING, UNNEST
  WITH OFFSET from 0, EXTRACT (DAYOFWEEK 1-7, WEEK, DATE/TIME/DATETIME FROM a timestamp),
  JSON_TYPE, DATE_ADD/DATE_SUB/DATE_TRUNC typed as analysed, JSON field access
  (`response.usageMetadata.totalTokenCount`), LAX_INT64, SAFE.PARSE_JSON, ARRAY_AGG(... ORDER
  BY ... LIMIT n), BYTE_LENGTH, IEEE_DIVIDE, window functions and QUALIFY; a MERGE in which a
  target row matches several source rows fails as in BigQuery. A function outside the list
  known to translate right (`semantics.SUPPORTED_FUNCTIONS`), or a SAFE. form other than
  SAFE.PARSE_JSON, is refused as not supported by the emulator, never answered differently;
- SELECT (results kept in hidden anonymous tables for 24 h, or written to a
  destinationTable), INSERT, UPDATE, DELETE, MERGE; named and positional scalar/array
  parameters (typed for the analyzer); unnamed columns named f0_, f1_...;
- dry runs: analysed and bound like a run (an invalid query fails the dry run with its
  error, no job is kept), with statementType, schema and totalBytesProcessed: BigQuery's data
  size (`sizes`: INT64 8 bytes, STRING 2 + its bytes, ... NULL 0) of every column the
  query references, summed over the stored rows of each table; a view counts the columns
  its own query reads. Runs report the same, and totalBytesBilled rounded up to the MB with
  10 MB per table referenced; table resources carry numBytes;
- views: tables.insert with `view.query` (GoogleSQL), analysed at creation (a missing column
  or table refuses it, as in BigQuery), its schema the query's columns, `type: VIEW` in get
  and list, queryable like a table (its query runs as a subquery), patchable; no rows to list
  or stream into;
- the streaming buffer: insertAll rows are visible to queries at once but stay in the buffer
  for `streaming_buffer_seconds` (default 1800, BigQuery's 30 minutes of DML limitation):
  `streamingBuffer` {estimatedRows, estimatedBytes, oldestEntryTime} on the table, numRows
  without them, UPDATE/DELETE/MERGE refused with BigQuery's "would affect rows in the
  streaming buffer"; `flush_streaming_buffer()` or POST /admin/streaming/flush
  {"table"?: "p.d.t"} flushes at once. insertAll values are checked against the column types
  (2.7 into an INT64 is an insertError with reason invalid);
- the analyzer compiles (~15 s, more on a loaded machine) once per process in the background
  from start-up, so the emulator is ready in the same time as before and only a query that
  arrives before the compile is done waits; the compiled module is kept in the cache folder
  (`analyzer_cache_dir`, default ~/.cache/batchline) and loads in milliseconds afterwards;
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
- CSV, Avro, Parquet and ORC loads; copy and extract jobs; materialized views,
  external tables, routines, models, row access policies, IAM;
- legacy SQL, multi-statement scripts, DDL statements (CREATE/DROP TABLE in SQL: analysed,
  then refused as not supported), INFORMATION_SCHEMA, wildcard tables, table decorators,
  templateSuffix, STRUCT parameters; JSON subscripts (`j['a']`) and functions outside
  `semantics.SUPPORTED_FUNCTIONS` are refused, even where BigQuery has them;
- what remains different: NUMERIC arithmetic runs in DuckDB's DECIMAL(38,9) (and division
  of NUMERICs through DOUBLE), BIGNUMERIC is not stored; error messages raised while a query
  runs in DuckDB (other than the ones above) keep DuckDB's wording; the analyzer accepts what
  BigQuery's own analyzer accepts in the toolkit's language, so a feature BigQuery added
  since that list, or BigQuery's own limits (query length, nesting, quotas), is not
  modelled; a view's bytes count every column its query reads, not only those the outer
  query uses; streamed rows count in storage as soon as the buffer window ends (BigQuery
  may take up to 90 minutes);
- BIGNUMERIC, GEOGRAPHY, INTERVAL and RANGE column types; partition pruning, expiration
  and the requirePartitionFilter check; numBytes and other storage statistics;
- jobs run synchronously inside jobs.insert (always DONE), so there is nothing to cancel
  and no PENDING/RUNNING state; jobs.list and jobs.delete; locations are recorded, not
  enforced; names are matched case-insensitively by DuckDB;
- authentication and authorization: every request is accepted.
"""

from localcloud.bigquery.server import BigQueryEmulator, Exchange, Fault

__all__ = ["BigQueryEmulator", "Exchange", "Fault"]
