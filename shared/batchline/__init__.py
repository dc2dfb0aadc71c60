"""Batchline: Gemini batch prediction on Google Cloud, from a JSONL drop to BigQuery rows.

The library each function ships with, in four layers; a layer imports only those below it
(import-linter contracts in pyproject.toml, checked by `make lint`):

- `runtime/`: what a deployed function runs: CloudEvent handlers, the wiring of steps to
  clients, the typed settings, JSON logs, the lazily built Google Cloud clients;
- `steps/`: submit, poll, complete and announce, each combining adapters and domain logic;
- `adapters/`: one module or package per Google Cloud service (Cloud Storage, Vertex AI,
  BigQuery, Pub/Sub, the Firestore ledger), each taking a client built elsewhere;
- `domain/`: validation, staging, row shaping, matching, totals, pricing, the ledger's state
  rules and the notification body, with no Google client and no settings.

`schemas/` holds the BigQuery table schemas as JSON, read by the code, the local cloud and
Terraform alike.
"""

__version__ = "0.1.0"
