"""The local cloud: the whole pipeline on this machine, wired the way Terraform wires it.

`batchline local up` starts, each on its own port, the Pub/Sub emulator, Cloud Storage
(fake-gcs-server, publishing the input bucket's object notifications to a topic on it), the
Firestore emulator, the Vertex AI and BigQuery emulators, the three functions under
functions-framework, and the bridge (the notifications turned into the finalized events
Eventarc sends, and scheduler ticks). It creates the buckets, topics, subscriptions, dataset and
tables, then records everything in .localcloud/stack.json so that `status` and `down`
(and the CLI's other commands) find it. Pub/Sub delivers to the poll and complete functions
through push subscriptions, as the triggers Eventarc creates do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.ports import free_port, wait_until_healthy

if TYPE_CHECKING:
    from localcloud.gcloud_emulators import EmulatorProcess

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("BATCHLINE_LOCAL_DIR", REPO / ".localcloud"))
STATE_FILE = STATE_DIR / "stack.json"

PROJECT = "batchline-local"
REGION = "us-central1"
MODEL = "gemini-3.5-flash"
INPUT_BUCKET = "batchline-local-input"
WORK_BUCKET = "batchline-local-work"
DATASET = "batchline"
FINISHED_TOPIC = "batchline-job-finished"
COMPLETED_TOPIC = "batchline-batch-completed"
TICK_TOPIC = FINISHED_TOPIC + "-tick"  # resources.tick_topic
COMPLETED_SUBSCRIPTION = COMPLETED_TOPIC + "-pull"  # resources.pull_subscription
FUNCTIONS = {
    "submit": "on_object_finalized",
    "poll": "on_poll_tick",
    "complete": "on_job_finished",
}


class StackError(RuntimeError):
    """The local cloud could not start or is not running; the message says what to do."""


@dataclass
class Service:
    name: str
    port: int
    pid: int
    log: str
    health: str  # an http URL answering 2xx, or "tcp" for a port that accepts connections
    # When the process started (from /proc): after a reboot the pid may be someone else's,
    # and `down` must not signal that one.
    started: str = ""
    # How it was started (empty for the Google Cloud CLI's emulators): `restart` reuses them.
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@dataclass
class StackState:
    services: dict[str, Service] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        data = {
            "services": {name: asdict(service) for name, service in self.services.items()},
            "environment": self.environment,
            "cleanup": self.cleanup,
        }
        STATE_FILE.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls) -> StackState | None:
        if not STATE_FILE.exists():
            return None
        data = json.loads(STATE_FILE.read_text())
        return cls(
            services={name: Service(**entry) for name, entry in data["services"].items()},
            environment=data["environment"],
            cleanup=data.get("cleanup", []),
        )


def use_state_dir(folder: Path) -> None:
    """Keep this process's stack in `folder` (the demo runs beside a developer's own)."""
    global STATE_DIR, STATE_FILE
    STATE_DIR = folder
    STATE_FILE = folder / "stack.json"


def settings_environment(hosts: Mapping[str, str]) -> dict[str, str]:
    """What the functions and the CLI need: the settings, and every emulator's address."""
    return {
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "BATCHLINE_REGION": REGION,
        "BATCHLINE_INPUT_BUCKET": INPUT_BUCKET,
        "BATCHLINE_WORK_BUCKET": WORK_BUCKET,
        "BATCHLINE_MODEL": MODEL,
        "BATCHLINE_DATASET": DATASET,
        "BATCHLINE_COMPLETED_TOPIC": COMPLETED_TOPIC,
        "BATCHLINE_FINISHED_TOPIC": FINISHED_TOPIC,
        "STORAGE_EMULATOR_HOST": f"http://{hosts['storage']}",
        "PUBSUB_EMULATOR_HOST": hosts["pubsub"],
        "FIRESTORE_EMULATOR_HOST": hosts["firestore"],
        "VERTEX_AI_EMULATOR_HOST": f"http://{hosts['vertex']}",
        "BIGQUERY_EMULATOR_HOST": f"http://{hosts['bigquery']}",
    }


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" when there is no such pid, or
    only its zombie: a process that exited and was not collected yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces, so count from its closing ")": then come
    # the state (field 3) and, 19 fields on, the start time (field 22).
    fields = stat.rpartition(")")[2].split()
    return "" if fields[0] == "Z" else fields[19]


def _alive(service: Service) -> bool:
    """The service's own process is still there (not a later process given its pid)."""
    started = _start_time(service.pid)
    return bool(started) and (not service.started or started == service.started)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def healthy(service: Service) -> bool:
    if not _alive(service):
        return False
    if service.health == "tcp":
        return _port_open(service.port)
    try:
        wait_until_healthy(service.health, timeout=1.0)
    except TimeoutError:
        return False
    return True


def _spawn(name: str, argv: list[str], env: Mapping[str, str], port: int, health: str) -> Service:
    log_path = STATE_DIR / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,  # its own process group: `down` stops all it started
        )
    return Service(
        name,
        port,
        process.pid,
        str(log_path),
        health,
        _start_time(process.pid),
        list(argv),
        dict(env),
    )


def _wait(service: Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(service):
            raise StackError(f"{service.name} exited while starting; see {service.log}")
        if healthy(service):
            return
        time.sleep(0.1)
    raise StackError(f"{service.name} not ready after {timeout:.0f}s; see {service.log}")


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def up(
    *,
    state_seconds: float = 0.0,
    tick_seconds: float = 2.0,
    settings: Mapping[str, str] | None = None,
    function_wrappers: Mapping[str, Sequence[str]] | None = None,
) -> StackState:
    """Start everything (or fail naming what is missing) and create the resources.

    `settings` are BATCHLINE_* values on top of the defaults (shorter leases, smaller
    per-job limits), seen by the functions and the CLI alike. `function_wrappers` put a
    command in front of a function's functions-framework command line (the chaos suite's
    crash points).
    """
    current = StackState.load()
    if current and all(healthy(s) for s in current.services.values()):
        return current
    if current:
        down()
    from localcloud import storage
    from localcloud.gcloud_emulators import start_firestore, start_pubsub
    from localcloud.resources import create_notification_topic, notification_topic

    storage.binary()  # a missing prerequisite fails here, before anything is started
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = StackState()
    ports = {name: free_port() for name in ("storage", "vertex", "bigquery")}
    hosts = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    storage_env = {"STORAGE_EMULATOR_HOST": f"http://{hosts['storage']}"}
    try:
        durations = {
            "VERTEX_EMULATOR_PENDING_SECONDS": str(state_seconds),
            "VERTEX_EMULATOR_RUNNING_SECONDS": str(state_seconds),
        }
        state.services["vertex"] = _spawn(
            "vertex",
            _python("-m", "localcloud.vertex", "--port", str(ports["vertex"])),
            {**storage_env, **durations, "GOOGLE_CLOUD_PROJECT": PROJECT},
            ports["vertex"],
            f"http://{hosts['vertex']}/healthz",
        )
        state.services["bigquery"] = _spawn(
            "bigquery",
            _python(
                "-m",
                "localcloud.bigquery",
                "--port",
                str(ports["bigquery"]),
                "--database",
                str(STATE_DIR / "bigquery.duckdb"),
            ),
            {**storage_env, "GOOGLE_CLOUD_PROJECT": PROJECT},
            ports["bigquery"],
            f"http://{hosts['bigquery']}/healthz",
        )
        # Pub/Sub first: Cloud Storage publishes the input bucket's notifications to a topic
        # that must exist before the first object is written.
        hosts["pubsub"] = _start_gcloud_emulator(state, "pubsub", start_pubsub)
        with _environment({"PUBSUB_EMULATOR_HOST": hosts["pubsub"]}):
            notification_subscription = create_notification_topic(PROJECT, INPUT_BUCKET)
        notifications = storage.Notifications(
            PROJECT, notification_topic(INPUT_BUCKET), hosts["pubsub"], bucket=INPUT_BUCKET
        )
        state.services["storage"] = _spawn(
            "storage",
            storage.command(ports["storage"], notifications),
            storage.environment(notifications),
            ports["storage"],
            f"http://{hosts['storage']}{storage.HEALTH_PATH}",
        )
        state.save()
        hosts["firestore"] = _start_gcloud_emulator(state, "firestore", start_firestore)
        for name in ("storage", "vertex", "bigquery"):
            _wait(state.services[name], timeout=30)
        state.environment = {**settings_environment(hosts), **(settings or {})}
        state.save()
        function_ports = {name: free_port() for name in FUNCTIONS}
        for name, entry in FUNCTIONS.items():
            state.services[name] = _spawn(
                name,
                [
                    *(function_wrappers or {}).get(name, ()),
                    str(Path(sys.executable).parent / "functions-framework"),
                    "--source",
                    str(REPO / "functions" / name / "main.py"),
                    "--target",
                    entry,
                    "--signature-type",
                    "cloudevent",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(function_ports[name]),
                ],
                state.environment,
                function_ports[name],
                "tcp",
            )
            state.save()
        for name in FUNCTIONS:
            _wait(state.services[name], timeout=30)
        create_resources(state)
        bridge_port = free_port()
        state.services["bridge"] = _spawn(
            "bridge",
            _python(
                "-m",
                "localcloud.bridge",
                "--submit-url",
                state.services["submit"].url,
                "--subscription",
                notification_subscription,
                "--tick-seconds",
                str(tick_seconds),
                "--port",
                str(bridge_port),
            ),
            {**state.environment, "BATCHLINE_TICK_TOPIC": TICK_TOPIC},
            bridge_port,
            f"http://127.0.0.1:{bridge_port}/healthz",
        )
        state.save()
        _wait(state.services["bridge"], timeout=30)
    except BaseException:
        state.save()
        down()
        raise
    return state


def restart(name: str, timeout: float = 30) -> Service:
    """Start service `name` again as it was started, on its port, once it is dead (a crash,
    a kill); the service as recorded now."""
    state = StackState.load()
    if state is None or name not in state.services:
        raise StackError(f"no service {name!r}: start the local cloud with `batchline local up`")
    service = state.services[name]
    if not service.argv:
        raise StackError(f"{name} is not started by the stack and cannot be restarted")
    _reap(service.pid)
    if _alive(service):
        raise StackError(f"{name} (pid {service.pid}) is still running")
    restarted = _spawn(name, service.argv, service.env, service.port, service.health)
    state.services[name] = restarted
    state.save()
    _wait(restarted, timeout)
    return restarted


def _start_gcloud_emulator(
    state: StackState, name: str, start: Callable[[], EmulatorProcess]
) -> str:
    """Start one of the Google Cloud CLI's emulators, record it; its host:port."""
    emulator = start()
    state.services[name] = Service(
        name,
        int(emulator.host.rpartition(":")[2]),
        emulator.process.pid,
        str(emulator.log_path),
        f"{emulator.url}/",
        _start_time(emulator.process.pid),
    )
    state.cleanup.append(str(emulator.config_dir))
    state.save()
    return emulator.host


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with `variables` set, for the clients built inside."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def create_resources(state: StackState) -> None:
    """What Terraform creates, in the emulators; Pub/Sub pushes to the poll and complete
    functions as their Eventarc triggers do."""
    from batchline.runtime.clients import reset_clients
    from batchline.runtime.settings import get_settings, reset_settings
    from localcloud.resources import create_resources as create

    with _environment(state.environment):
        reset_clients()
        reset_settings()
        try:
            create(
                get_settings(),
                push_endpoints={
                    TICK_TOPIC: state.services["poll"].url,
                    FINISHED_TOPIC: state.services["complete"].url,
                },
            )
        finally:
            reset_clients()
            reset_settings()


def down() -> list[str]:
    """Stop every service of the stack; the names stopped."""
    state = StackState.load()
    if state is None:
        return []
    stopped = []
    for name, service in reversed(list(state.services.items())):
        if _alive(service):
            try:
                os.killpg(service.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(name)
    deadline = time.monotonic() + 10
    for service in state.services.values():
        while _alive(service) and time.monotonic() < deadline:
            _reap(service.pid)
            time.sleep(0.05)
        if _alive(service):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGKILL)
        _reap(service.pid)
    for folder in state.cleanup:
        shutil.rmtree(folder, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    """Collect a child that exited (when this process started it), so it is not a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status() -> list[dict[str, Any]]:
    state = StackState.load()
    if state is None:
        return []
    return [
        {
            "service": name,
            "address": service.address,
            "pid": service.pid,
            "healthy": healthy(service),
            "log": service.log,
        }
        for name, service in state.services.items()
    ]


def environment() -> dict[str, str]:
    """The environment the CLI uses against the running stack."""
    state = StackState.load()
    if state is None:
        raise StackError("the local cloud is not running: start it with `batchline local up`")
    return dict(state.environment)
