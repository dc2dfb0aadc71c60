"""What a deployed function runs around the steps:

- `handlers`: a CloudEvent in, its type and age checked, its payload parsed, one step run,
  the outcome turned into "done" (return) or "retry" (raise);
- `wiring`: each step built on first use with its adapters and clients, reused;
- `settings`: the typed configuration read from the environment on first use;
- `clients`: the Google Cloud clients, built lazily once per process, emulators honoured;
- `logs`: one JSON object per line, the form Cloud Logging reads.
"""
