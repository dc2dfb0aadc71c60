"""Batchline's domain logic: what a requests file, a job's output and a file's outcome are.

No Google client and no settings here (import-linter forbids `google`, the settings and the
other layers): everything is testable without a network, and the same code serves the
functions, the CLI and the local cloud.

- `validation/`: the streaming request validator built from the aiplatform_v1 schema;
- `limits`, `staging`: one job's limits, and the staged copy of a valid file (split, tagged);
- `events`: the storage object and Pub/Sub message a function receives, as types;
- `batch_jobs`: what Batchline knows of a Vertex AI batch job;
- `rows`, `matching`, `input_lines`, `linesets`, `totals`: output lines into table rows,
  joined to their input lines, counted;
- `pricing`: the cost estimate; `states`: the ledger's state rules; `notifications`: the
  public notification's attributes and body; `errors`: transient versus permanent;
  `log_context`: correlation fields for log lines.
"""
