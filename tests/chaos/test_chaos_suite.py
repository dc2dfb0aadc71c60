"""The chaos suite's bounded subset in `make test`: the small plan, every attack, every check.

`make chaos` runs the full plan (python -m localcloud.chaos). Both start a local cloud of
their own, so this test needs nothing running beforehand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.chaos

REPO = Path(__file__).resolve().parents[2]


def test_the_small_plan_keeps_every_guarantee() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BATCHLINE_", "GOOGLE_CLOUD_PROJECT")) and "EMULATOR_HOST" not in key
    }
    done = subprocess.run(
        [sys.executable, "-m", "localcloud.chaos", "--scale", "small"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    summary = re.fullmatch(r"(\d+) checks, (\d+) passed, (\d+) failed", lines[-1] if lines else "")
    assert summary, done.stdout[-3000:] + done.stderr[-3000:]
    total, passed, failed = map(int, summary.groups())
    assert (failed, passed) == (0, total), "\n".join(lines[-40:])
    assert total >= 100, "every generation, part, kill and malformed event is checked"
    assert done.returncode == 0
    # Every kill point of every function was reached, and the function came back.
    restarts = [line for line in lines if line.endswith("was killed; restarted it")]
    assert len(restarts) == 8, restarts
