"""`make demo`: validate the sample files and a deliberately broken one, print the reports.

Exit status 0 when every report is the expected one: the samples valid, and the broken
sample refused with exactly the errors listed in samples/broken_requests.expected.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from batchline.cli import render_text, validate_files

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
VALID = ("text_requests.jsonl", "multimodal_requests.jsonl")
BROKEN = "broken_requests.jsonl"


def main() -> int:
    failures = []
    paths = [str(SAMPLES / name) for name in (*VALID, BROKEN)]
    for report in validate_files(paths, max_errors=100):
        print(render_text(report), end="\n\n")
        if not report.name.endswith(BROKEN) and not report.valid:
            failures.append(f"{report.name} should be valid")
    broken = validate_files([str(SAMPLES / BROKEN)], max_errors=100)[0]
    expected = json.loads((SAMPLES / "broken_requests.expected.json").read_text())["errors"]
    found = [{"line": issue.line, "path": issue.path} for issue in broken.errors]
    if found != expected:
        failures.append(f"{BROKEN}: expected errors {expected}, found {found}")
    if failures:
        print("demo FAILED:\n- " + "\n- ".join(failures))
        return 1
    print("demo OK: the samples are valid and the broken sample is refused line by line.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
