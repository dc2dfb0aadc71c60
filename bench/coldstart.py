"""Cold start of each function, in fresh processes: what an instance pays before its first event.

For each function (submit, poll, complete), the median of 5 fresh interpreters of:
- importing its `main` (functions-framework, the handler, the library as main imports it);
- then building what its first event needs: the step wired to its adapters (wiring.submitter()
  and so on), and the Google clients that event uses (clients are built on first use): for
  submit, a valid upload (Cloud Storage, Firestore, Vertex AI, Pub/Sub); for poll, a tick
  with nothing in flight (Firestore); for complete, a finished job (all five). The emulator
  variables point at local addresses, as on the local cloud; no request is sent: this is the
  import and construction cost of the first event, not its round trips to the services.
- and, as the reference, `import vertexai` (the Vertex AI SDK a function could have used).
The interpreter is one with requirements.txt alone installed, as a deployed function has
(`make bench` builds it in .venv/tools/bundle): the development tools add packages that the
client libraries import when they find them (google-cloud-bigquery imports pandas, 0.24 s).
Target: import + first event's wiring at most 0.8 s per function.
Exit status 1 when a target is missed. Usage: python bench/coldstart.py [--python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from measure import Figure, report

REPO = Path(__file__).resolve().parent.parent
# What the Makefile's bundle environment target installs: requirements.txt and nothing else.
BUNDLE_PYTHON = REPO / ".venv" / "tools" / "bundle" / "bin" / "python"
TARGET_S = 0.8
ROUNDS = 5
STEPS = {"submit": "submitter", "poll": "poller", "complete": "completer"}
CLIENTS = {
    "submit": "storage_client,firestore_client,job_service_client,publisher_client",
    "poll": "firestore_client",
    "complete": "storage_client,firestore_client,job_service_client,bigquery_client,publisher_client",
}
ENVIRONMENT = {
    "GOOGLE_CLOUD_PROJECT": "bench-project",
    "BATCHLINE_INPUT_BUCKET": "bench-input",
    "BATCHLINE_WORK_BUCKET": "bench-work",
    "BATCHLINE_MODEL": "gemini-3.5-flash",
    "BATCHLINE_DATASET": "batchline",
    "BATCHLINE_COMPLETED_TOPIC": "batch-completed",
    "BATCHLINE_FINISHED_TOPIC": "job-finished",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
    "VERTEX_AI_EMULATOR_HOST": "http://127.0.0.1:9",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9",
}
PROBE = """
import json, sys, time
start = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import main
imported = time.perf_counter()
from batchline.runtime import clients, wiring
getattr(wiring, sys.argv[3])()
wired = time.perf_counter()
for name in sys.argv[4].split(","):
    getattr(clients, name)()
built = time.perf_counter()
print(json.dumps({"import": imported - start, "wiring": wired - start, "first_event": built - start}))
"""


def fresh(python: Path, name: str) -> dict[str, float]:
    environment = {**os.environ, **ENVIRONMENT}
    out = subprocess.run(
        [
            str(python),
            "-c",
            PROBE,
            str(REPO / "shared"),
            str(REPO / "functions" / name),
            STEPS[name],
            CLIENTS[name],
        ],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=REPO / "functions" / name,
    )
    times: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return times


def vertexai_import(python: Path) -> float:
    code = "import time; s = time.perf_counter(); import vertexai; print(time.perf_counter() - s)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description="cold start per function")
    parser.add_argument("--record", type=Path, help="append the figures as JSON lines here")
    parser.add_argument(
        "--python",
        type=Path,
        default=BUNDLE_PYTHON,
        help="an interpreter with requirements.txt installed (default: make bench's)",
    )
    args = parser.parse_args()
    if not args.python.exists():
        parser.error(f"{args.python} does not exist: `make bench` builds it")
    figures = []
    for name in STEPS:
        runs = [fresh(args.python, name) for _ in range(ROUNDS)]
        imported = statistics.median(run["import"] for run in runs)
        wired = statistics.median(run["wiring"] for run in runs)
        first = statistics.median(run["first_event"] for run in runs)
        figures.append(Figure("coldstart", f"{name}: import main", imported, "s"))
        figures.append(Figure("coldstart", f"{name}: import main + the step wired", wired, "s"))
        figures.append(
            Figure("coldstart", f"{name}: ... + the first event's clients", first, "s", TARGET_S)
        )
    reference = statistics.median(vertexai_import(args.python) for _ in range(ROUNDS))
    figures.append(Figure("coldstart", "reference: import vertexai", reference, "s"))
    print(f"medians of {ROUNDS} fresh processes each")
    return report(figures, args.record)


if __name__ == "__main__":
    sys.exit(main())
