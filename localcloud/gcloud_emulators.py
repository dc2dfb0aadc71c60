"""The Pub/Sub and Firestore emulators of the Google Cloud CLI, run as subprocesses.

    with start_pubsub() as pubsub:           # or handle = start_pubsub(); handle.stop()
        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host

Each emulator gets its own temporary CLOUDSDK_CONFIG (no state in the home folder) and its
own process group: `gcloud` is a Python wrapper that starts a shell script that starts java,
so stopping signals the whole group. Both emulators answer "Ok" on GET / once ready.

`launch` and `EmulatorProcess` are how every emulator binary of the local cloud is run in
the tests (fake-gcs-server too, `localcloud.storage`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from localcloud.ports import free_port, wait_until_healthy

__all__ = [
    "EmulatorError",
    "EmulatorProcess",
    "MissingPrerequisite",
    "launch",
    "start_firestore",
    "start_pubsub",
]

# Per emulator: the gcloud component id (also its folder under platform/), the Debian package.
_COMPONENTS = {
    "pubsub": ("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
    "firestore": ("cloud-firestore-emulator", "google-cloud-cli-firestore-emulator"),
}


class EmulatorError(RuntimeError):
    """An emulator did not start or stop as expected."""


class MissingPrerequisite(EmulatorError):
    """Something the emulators need is not installed; the message names it."""


@dataclass
class EmulatorProcess:
    """A running emulator: `host` is "127.0.0.1:PORT" (what the *_EMULATOR_HOST variables
    take), `url` the same with http://."""

    name: str
    host: str
    process: subprocess.Popen[bytes]
    config_dir: Path
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the emulator and every process it started; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=timeout)
            # java may outlive the wrapper that started it: make sure the group is gone.
            _signal_group(self.process, signal.SIGKILL)
        finally:
            shutil.rmtree(self.config_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # start_new_session made the wrapper's pid the group id; a gone group is already stopped.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _gcloud() -> str:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise MissingPrerequisite(
            "gcloud (the Google Cloud CLI) is not on PATH; install google-cloud-cli"
        )
    return gcloud


def _check_prerequisites(kind: str, gcloud: str) -> None:
    if shutil.which("java") is None:
        raise MissingPrerequisite(
            f"java is not on PATH; the {kind} emulator needs a Java runtime (JRE 17 or newer)"
        )
    component, package = _COMPONENTS[kind]
    # gcloud resolves to <sdk>/bin/gcloud; components live in <sdk>/platform/<component>.
    folder = Path(gcloud).resolve().parent.parent / "platform" / component
    if not folder.is_dir():
        raise MissingPrerequisite(
            f"the gcloud component {component} is not installed (no {folder}); install it "
            f"with `gcloud components install {component}` or the Debian package {package}"
        )


def _start(kind: str, arguments: list[str], port: int | None, timeout: float) -> EmulatorProcess:
    gcloud = _gcloud()
    _check_prerequisites(kind, gcloud)
    host = f"127.0.0.1:{port or free_port()}"
    config_dir = Path(tempfile.mkdtemp(prefix=f"batchline-{kind}-gcloud-"))
    environment = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
    }
    # The emulators must not talk to each other's ports through inherited variables.
    for variable in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"):
        environment.pop(variable, None)
    return launch(
        kind, [gcloud, *arguments, f"--host-port={host}"], host, config_dir, environment, timeout
    )


def launch(
    name: str,
    argv: list[str],
    host: str,
    folder: Path,
    environment: Mapping[str, str],
    timeout: float,
    health_path: str = "/",
) -> EmulatorProcess:
    """Start `argv` in a process group of its own, in `folder` (removed when it stops, with
    the log kept there), and wait until GET http://HOST/HEALTH_PATH answers 2xx."""
    log_path = folder / "emulator.log"
    log: IO[bytes]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(environment),
            cwd=folder,
            start_new_session=True,
        )
    emulator = EmulatorProcess(
        name=name, host=host, process=process, config_dir=folder, log_path=log_path
    )
    try:
        _wait_ready(emulator, timeout, health_path)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def _wait_ready(emulator: EmulatorProcess, timeout: float, health_path: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"the {emulator.name} emulator exited with code {emulator.process.returncode}:\n"
                f"{emulator.log_tail()}"
            )
        try:
            wait_until_healthy(emulator.url + health_path, timeout=1.0)
            return
        except TimeoutError:
            continue
    raise EmulatorError(
        f"the {emulator.name} emulator did not answer on {emulator.url} within {timeout:.0f}s:\n"
        f"{emulator.log_tail()}"
    )


def start_pubsub(*, port: int | None = None, timeout: float = 60.0) -> EmulatorProcess:
    """Start the Pub/Sub emulator on 127.0.0.1 (a free port unless given); wait until ready.

    Set PUBSUB_EMULATOR_HOST to `.host` for the client libraries to use it.
    """
    return _start("pubsub", ["beta", "emulators", "pubsub", "start"], port, timeout)


def start_firestore(*, port: int | None = None, timeout: float = 60.0) -> EmulatorProcess:
    """Start the Firestore emulator (native mode) on 127.0.0.1; wait until ready.

    Set FIRESTORE_EMULATOR_HOST to `.host` for the client libraries to use it. The emulator
    prints an `export FIRESTORE_EMULATOR_HOST=...` line; the handle already knows the host.
    """
    return _start(
        "firestore",
        ["emulators", "firestore", "start", "--database-mode=firestore-native"],
        port,
        timeout,
    )
