"""The local cloud: the whole pipeline on one machine, offline, with the code Google Cloud runs.

Development tools only; never bundled with the functions. What it holds:
- `serving/`: the server kit every HTTP service here is built on (werkzeug routing, health,
  injected faults, JSON request logs, start/stop, `python -m` with a clean stop on signals);
- `vertex/`: the Vertex AI batch prediction emulator; `bigquery/`: the BigQuery emulator
  (on DuckDB); `storage.py`: Cloud Storage, fake-gcs-server from its PyPI wheel, with
  object notifications on Pub/Sub; `bridge.py`: those notifications as Eventarc's finalized
  events, and Cloud Scheduler's ticks;
- `stack.py`: `batchline local up/down/status`, every service in a process of its own;
  `gcloud_emulators.py`: the Pub/Sub and Firestore emulators of the Google Cloud CLI;
  `resources.py`: what Terraform creates, created in the emulators; `ports.py`: free ports
  and readiness.

What it may import: `batchline` (the library: its settings, schemas, clients and logs, so
the local cloud is wired as the functions are), the Google client libraries, werkzeug,
DuckDB, sqlglot. Never `batchline_cli`: the CLI uses the local cloud, not the other way.
`serving` imports no service of the local cloud, and the emulators do not import each other.
"""
