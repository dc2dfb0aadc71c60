"""How fast the emulators become ready: start to a healthy GET /healthz, median of several.

For each emulator (Vertex AI, BigQuery in memory), in turns so both see the same machine load:
- the module form, `python -m localcloud.<emulator> --port N` (what `batchline local up`
  and the process tests start), from the process's spawn to the first 2xx on /healthz;
- the baseline of that: a fresh interpreter that only imports the emulator's module, so the
  ratio says how much of the wait is the server itself rather than Python and its imports;
- the in-process form (what the test fixtures do): constructor, start(), first healthy answer.
For BigQuery also the first query after a start (`SELECT 1` through jobs.query): the GoogleSQL
analyzer compiles in the background at start, so readiness does not wait for it; with the
compiled module cached on disk (the usual case) the first query is answered at once, and with
an empty cache (a fresh machine, measured once) it waits for the one compile.
Target: the module form's median at most 2.0 s. Exit status 1 when it is missed.
Usage: python bench/emulators.py [--starts N]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable

from localcloud.bigquery import BigQueryEmulator
from localcloud.ports import free_port, wait_until_healthy
from localcloud.serving import LocalServer
from localcloud.vertex import Faults, VertexEmulator

READY_TARGET_SECONDS = 2.0
EMULATORS: dict[str, tuple[str, Callable[[], LocalServer]]] = {
    "vertex": ("localcloud.vertex.server", lambda: VertexEmulator(faults=Faults())),
    "bigquery": ("localcloud.bigquery.server", lambda: BigQueryEmulator(port=0)),
}


def module_ready(package: str, *extra: str) -> tuple[float, float | None]:
    """Seconds from spawning `python -m localcloud.<package>` to a healthy answer, and for
    BigQuery to the answer of its first query."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"localcloud.{package}", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60)
        ready = time.perf_counter() - started
        if package != "bigquery":
            return ready, None
        first_query(f"http://127.0.0.1:{port}")
        return ready, time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def first_query(url: str) -> None:
    body = json.dumps({"query": "SELECT 1 AS one", "useLegacySql": False}).encode()
    request = urllib.request.Request(
        f"{url}/bigquery/v2/projects/bench/queries",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as answer:
        assert json.load(answer)["rows"] == [{"f": [{"v": "1"}]}]


def import_only(module: str) -> float:
    """Seconds from spawning an interpreter to its having imported `module` (its exit is
    not counted): the floor of the module form."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", f"import {module}; print('imported', flush=True)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.wait(timeout=30)
    return elapsed


def in_process_ready(build: Callable[[], LocalServer]) -> float:
    started = time.perf_counter()
    server = build().start()
    try:
        wait_until_healthy(f"{server.url}/healthz", timeout=60)
        return time.perf_counter() - started
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="emulator readiness")
    parser.add_argument("--starts", type=int, default=7, help="starts of each kind (default 7)")
    args = parser.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as empty_cache:
        cold_ready, cold_query = module_ready("bigquery", "--analyzer-cache", empty_cache)
    for _ in range(args.starts):
        for name, (module, build) in EMULATORS.items():
            ready, query = module_ready(name)
            times.setdefault((name, "module"), []).append(ready)
            if query is not None:
                times.setdefault((name, "first query"), []).append(query)
            times.setdefault((name, "imports"), []).append(import_only(module))
            times.setdefault((name, "in-process"), []).append(in_process_ready(build))

    ok = True
    print(f"median of {args.starts} starts each, start to healthy /healthz:")
    for name in EMULATORS:
        module, imports, in_process = (
            statistics.median(times[(name, kind)]) for kind in ("module", "imports", "in-process")
        )
        ok = ok and module <= READY_TARGET_SECONDS
        print(
            f"  {name:9} python -m: {module:.2f} s (target <= {READY_TARGET_SECONDS} s), "
            f"{module / imports:.2f}x a bare import of its server ({imports:.2f} s); "
            f"in-process: {in_process * 1000:.0f} ms"
        )
    warm = statistics.median(times[("bigquery", "first query")])
    print(
        f"  bigquery first query after python -m: {warm:.2f} s with the compiled analyzer"
        f" cached; with an empty cache (once): ready in {cold_ready:.2f} s, first query"
        f" {cold_query or 0:.1f} s (the one background compile)"
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
