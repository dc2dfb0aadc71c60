"""A function that kills itself at a chosen step: the chaos suite's `kill -9`.

    python -m localcloud.chaos.crashing --function submit --marks DIR \\
        --kill after_create [--kill ...] -- functions-framework --source ... --target ...

It wraps Batchline's own adapters (never a Google client library's methods), then runs the
functions-framework command after `--`. At the first call that reaches a kill point, the
instance dies with SIGKILL to its whole process group (gunicorn's master and worker
together, as a Cloud Run instance dies): no `finally`, no flush, no answer to any request in
flight. Each point kills once per suite run: a marker file DIR/FUNCTION.POINT is created
(exclusively) just before, so that the restarted instance runs normally and the suite knows
which kills happened.

Kill points, after the adapter call named:
- writing: the first write to a Cloud Storage object (submit: a staged part; complete: the
  rows file); the object is left unfinished.
- after_create: Vertex AI created the job; it is not recorded in the ledger yet.
- checking: Vertex AI answered a job's state; nothing is recorded yet.
- after_load: BigQuery loaded a job's rows; the load is not recorded yet.
- notifying: (before) the publish of a claimed notification.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

KILL_POINTS = ("writing", "after_create", "checking", "after_load", "notifying")


class KillSwitch:
    """Kills this process group at the first arrival at each armed point."""

    def __init__(self, function: str, points: Sequence[str], marks: Path) -> None:
        unknown = sorted(set(points) - set(KILL_POINTS))
        if unknown:
            raise ValueError(f"unknown kill points {unknown}: choose from {KILL_POINTS}")
        self.function = function
        self.points = frozenset(points)
        self.marks = marks

    def marker(self, point: str) -> Path:
        return self.marks / f"{self.function}.{point}"

    def reached(self, point: str, what: str) -> None:
        if point not in self.points:
            return
        try:
            fd = os.open(self.marker(point), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return  # this point has had its kill; the instance lives on
        record = {"function": self.function, "point": point, "what": what, "time": time.time()}
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
        os.close(fd)
        print(f"chaos: killing {self.function} at {point} ({what})", file=sys.stderr, flush=True)
        os.killpg(os.getpgrp(), signal.SIGKILL)


class _DiesAfterFirstWrite:
    """A writer stream that kills the instance once its first bytes went out."""

    def __init__(self, stream: IO[bytes], reached: Callable[[], None]) -> None:
        self._stream = stream
        self._reached = reached

    def write(self, data: bytes) -> int:
        written = self._stream.write(data)
        self._reached()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def __enter__(self) -> _DiesAfterFirstWrite:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stream.__exit__(*exc)


def _after(cls: type, method: str, reached: Callable[[Any, Any], None]) -> None:
    """Wrap `cls.method` so that `reached(args, result)` runs after each call returns."""
    real = getattr(cls, method)

    @functools.wraps(real)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        reached((args, kwargs), result)
        return result

    setattr(cls, method, wrapped)


def install(switch: KillSwitch) -> None:
    """Arm the switch's points on Batchline's adapters (before the function's code loads)."""
    from batchline.adapters.bigquery import Warehouse
    from batchline.adapters.pubsub import Publisher
    from batchline.adapters.storage import Storage
    from batchline.adapters.vertex import VertexJobs

    real_writer = Storage.writer

    @functools.wraps(real_writer)
    def writer(self: Storage, bucket: str, name: str, content_type: str) -> IO[bytes]:
        stream = real_writer(self, bucket, name, content_type)
        where = f"gs://{bucket}/{name}"
        dying = _DiesAfterFirstWrite(stream, lambda: switch.reached("writing", where))
        return dying  # type: ignore[return-value]

    Storage.writer = writer  # type: ignore[method-assign]
    _after(VertexJobs, "create", lambda _, job: switch.reached("after_create", job.name))
    _after(VertexJobs, "get", lambda _, job: switch.reached("checking", job.name))
    _after(Warehouse, "load_predictions", lambda call, _: switch.reached("after_load", call[0][0]))
    real_notify = Publisher.notify

    @functools.wraps(real_notify)
    def notify(self: Publisher, notification: Any) -> str:
        switch.reached("notifying", notification.source_uri)
        return real_notify(self, notification)

    Publisher.notify = notify  # type: ignore[method-assign]


def _console_script(name: str) -> Any:
    """The click command behind an installed console script."""
    (script,) = entry_points(group="console_scripts", name=name)
    return script.load()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--" not in arguments:
        raise SystemExit("usage: crashing [options] -- functions-framework ARGS...")
    split = arguments.index("--")
    parser = argparse.ArgumentParser(prog="python -m localcloud.chaos.crashing")
    parser.add_argument("--function", required=True)
    parser.add_argument("--marks", type=Path, required=True, help="folder of kill markers")
    parser.add_argument("--kill", action="append", default=[], choices=KILL_POINTS)
    options = parser.parse_args(arguments[:split])
    command = arguments[split + 1 :]
    options.marks.mkdir(parents=True, exist_ok=True)
    install(KillSwitch(options.function, options.kill, options.marks))
    # The framework's own command (functions_framework's console script), in this process.
    _console_script(Path(command[0]).name).main(args=command[1:], prog_name=command[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
