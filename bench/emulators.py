"""How fast the emulators become ready: start to a healthy GET /healthz, median of several.

For each emulator (Vertex AI, BigQuery in memory), in turns so both see the same machine load:
- the module form, `python -m localcloud.<emulator> --port N` (what `batchline local up`
  and the process tests start), from the process's spawn to the first 2xx on /healthz;
- the baseline of that: a fresh interpreter that only imports the emulator's module, so the
  ratio says how much of the wait is the server itself rather than Python and its imports;
- the in-process form (what the test fixtures do): constructor, start(), first healthy answer.
Target: the module form's median at most 2.0 s. Exit status 1 when it is missed.
Usage: python bench/emulators.py [--starts N]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
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


def module_ready(package: str) -> float:
    """Seconds from spawning `python -m localcloud.<package>` to a healthy answer."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"localcloud.{package}", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


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
    for _ in range(args.starts):
        for name, (module, build) in EMULATORS.items():
            times.setdefault((name, "module"), []).append(module_ready(name))
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
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
