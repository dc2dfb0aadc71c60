"""A stand-in Terraform provider: serves a provider's real schema to the real `terraform`.

The google provider cannot be downloaded here. This process speaks Terraform's plugin
protocol 6 over gRPC on a Unix socket, prints the go-plugin handshake line
(`1|6|unix|/path/to.sock|grpc|`) and keeps serving until it is terminated; the harness turns
that line into TF_REATTACH_PROVIDERS. Terraform itself then checks every block against the
schema (unknown and missing arguments, types, block counts, references), and the stand-in
plans like a provider would for a new resource: configured values stay, computed attributes
left unset become unknown (values known only after apply).

What it cannot do, it refuses with an error instead of inventing an answer: it plans only
new resources (no prior state), and of the data sources it reads only `external`, which it
runs as the hashicorp/external provider documents (the program gets `query` as a JSON object
on stdin, must print a JSON object of strings and exit 0). The module reads its Google data
sources after their APIs are enabled, so Terraform defers them to apply and never asks.

    TF_PLUGIN_MAGIC_COOKIE=... python standin_provider.py --schema google-8.7.0.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import msgpack

PROTO = Path(__file__).with_name("tfplugin6.proto")
# go-plugin refuses to run a plugin started without this (Terraform's handshake configuration).
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
# go-plugin's core protocol version, then the Terraform plugin protocol version.
CORE_PROTOCOL_VERSION = 1
PLUGIN_PROTOCOL_VERSION = 6
# The wire format's unknown value: a msgpack extension of code 0, payload ignored.
UNKNOWN_EXTENSION = 0
EXTERNAL_TIMEOUT_SECONDS = 120


class Unknown:
    """A value known only after apply."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = Unknown()


def load_protocol() -> tuple[Any, Any]:
    """The generated message and service modules, compiled from PROTO now."""
    sys.path.insert(0, str(PROTO.parent))
    try:
        return grpc.protos_and_services(PROTO.name)  # type: ignore[attr-defined, no-any-return]
    finally:
        sys.path.remove(str(PROTO.parent))


# ---------------------------------------------------------------------------------------------
# Values: msgpack with unknowns as an extension


def decode(dynamic_value: Any) -> Any:
    if dynamic_value.msgpack:
        return msgpack.unpackb(
            dynamic_value.msgpack,
            raw=False,
            strict_map_key=False,
            ext_hook=lambda code, data: UNKNOWN,  # every extension code is an unknown value
        )
    if dynamic_value.json:
        return json.loads(dynamic_value.json)
    return None


def encode(value: Any) -> bytes:
    def default(item: Any) -> Any:
        if item is UNKNOWN:
            return msgpack.ExtType(UNKNOWN_EXTENSION, b"\x00")
        raise TypeError(f"cannot encode {item!r}")

    packed: bytes = msgpack.packb(value, default=default, use_bin_type=True)
    return packed


def is_wholly_known(value: Any) -> bool:
    if value is UNKNOWN:
        return False
    if isinstance(value, dict):
        return all(is_wholly_known(item) for item in value.values())
    if isinstance(value, list):
        return all(is_wholly_known(item) for item in value)
    return True


def plan_new(block: dict[str, Any], proposed: Any) -> Any:
    """A new object's planned value: as proposed, with every computed attribute the
    configuration leaves null unknown, at every depth of nested blocks."""
    if proposed is None or proposed is UNKNOWN:
        return proposed
    planned = dict(proposed)
    for name, attribute in block.get("attributes", {}).items():
        if attribute.get("computed") and planned.get(name) is None:
            planned[name] = UNKNOWN
    for name, nested in block.get("block_types", {}).items():
        value = planned.get(name)
        if nested["nesting_mode"] == "single":
            planned[name] = plan_new(nested["block"], value)
        elif isinstance(value, list):
            planned[name] = [plan_new(nested["block"], item) for item in value]
    return planned


# ---------------------------------------------------------------------------------------------
# Schemas: `terraform providers schema -json` blocks as protocol messages

NESTING = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}


def schema_message(pb: Any, schema: dict[str, Any]) -> Any:
    return pb.Schema(version=schema.get("version", 0), block=block_message(pb, schema["block"]))


def block_message(pb: Any, block: dict[str, Any]) -> Any:
    attributes = [
        pb.Schema.Attribute(
            name=name,
            type=json.dumps(attribute["type"]).encode(),
            required=attribute.get("required", False),
            optional=attribute.get("optional", False),
            computed=attribute.get("computed", False),
            sensitive=attribute.get("sensitive", False),
        )
        for name, attribute in sorted(block.get("attributes", {}).items())
    ]
    block_types = [
        pb.Schema.NestedBlock(
            type_name=name,
            block=block_message(pb, nested["block"]),
            nesting=NESTING[nested["nesting_mode"]],
            min_items=nested.get("min_items", 0),
            max_items=nested.get("max_items", 0),
        )
        for name, nested in sorted(block.get("block_types", {}).items())
    ]
    return pb.Schema.Block(attributes=attributes, block_types=block_types)


# ---------------------------------------------------------------------------------------------
# The service


class StandInProvider:
    """The tfplugin6.Provider calls `init`, `validate` and `plan` make."""

    def __init__(self, pb: Any, fixture: dict[str, Any]) -> None:
        self.pb = pb
        self.fixture = fixture
        self.resources: dict[str, Any] = fixture["resource_schemas"]
        self.data_sources: dict[str, Any] = fixture["data_source_schemas"]
        self.schema_response = pb.GetProviderSchema.Response(
            provider=schema_message(pb, fixture["provider_schema"]),
            resource_schemas={n: schema_message(pb, s) for n, s in self.resources.items()},
            data_source_schemas={n: schema_message(pb, s) for n, s in self.data_sources.items()},
            provider_meta=pb.Schema(block=pb.Schema.Block()),
            server_capabilities=pb.ServerCapabilities(get_provider_schema_optional=True),
        )

    def error(self, summary: str, detail: str = "") -> Any:
        return self.pb.Diagnostic(severity=self.pb.Diagnostic.ERROR, summary=summary, detail=detail)

    def GetMetadata(self, request: Any, context: Any) -> Any:
        pb = self.pb
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(get_provider_schema_optional=True),
            resources=[pb.GetMetadata.ResourceMetadata(type_name=n) for n in self.resources],
            data_sources=[
                pb.GetMetadata.DataSourceMetadata(type_name=n) for n in self.data_sources
            ],
        )

    def GetProviderSchema(self, request: Any, context: Any) -> Any:
        return self.schema_response

    # Terraform checks each configuration against the schema before it calls these; the real
    # providers' extra checks (value formats) are theirs alone and are not imitated.
    def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
        return self.pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request: Any, context: Any) -> Any:
        return self.pb.ConfigureProvider.Response()

    def StopProvider(self, request: Any, context: Any) -> Any:
        return self.pb.StopProvider.Response()

    def PlanResourceChange(self, request: Any, context: Any) -> Any:
        pb = self.pb
        prior = decode(request.prior_state)
        proposed = decode(request.proposed_new_state)
        if prior is not None:
            return pb.PlanResourceChange.Response(
                diagnostics=[
                    self.error(
                        "The stand-in provider plans only new resources",
                        f"{request.type_name} has a prior state; run the offline plan "
                        "without state.",
                    )
                ]
            )
        block = self.resources[request.type_name]["block"]
        planned = plan_new(block, proposed)
        return pb.PlanResourceChange.Response(
            planned_state=pb.DynamicValue(msgpack=encode(planned))
        )

    def ReadDataSource(self, request: Any, context: Any) -> Any:
        pb = self.pb
        config = decode(request.config)
        if request.type_name != "external":
            return pb.ReadDataSource.Response(
                diagnostics=[
                    self.error(
                        f"The stand-in provider cannot read {request.type_name}",
                        "Only Google Cloud can answer it; the offline plan needs every Google "
                        "data source deferred to apply (depends_on something being created).",
                    )
                ]
            )
        result, problem = run_external_program(config)
        if problem:
            return pb.ReadDataSource.Response(diagnostics=[self.error(*problem)])
        state = {**config, "id": "-", "result": result}
        return pb.ReadDataSource.Response(state=pb.DynamicValue(msgpack=encode(state)))


def run_external_program(config: dict[str, Any]) -> tuple[Any, tuple[str, str] | None]:
    """hashicorp/external's data source: runs `program` with `query` as JSON on stdin in
    `working_dir` (default: the current directory) and returns the JSON object it prints."""
    program = config.get("program") or []
    query = config.get("query") or {}
    try:
        completed = subprocess.run(
            program,
            input=json.dumps(query),
            capture_output=True,
            text=True,
            cwd=config.get("working_dir") or None,
            timeout=EXTERNAL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, ("External Program Execution Failed", str(error))
    if completed.returncode != 0:
        return None, (
            "External Program Execution Failed",
            f"The data source received an unexpected error while attempting to execute the "
            f"program.\n\nProgram: {program[0]}\nError Message: {completed.stderr}\n"
            f"State: exit status {completed.returncode}",
        )
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        return None, ("Unexpected External Program Results", f"not JSON: {error}")
    if not isinstance(result, dict) or not all(isinstance(v, str) for v in result.values()):
        return None, ("Unexpected External Program Results", "not a JSON object of strings")
    return result, None


def serve(fixture_path: Path) -> None:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print(
            "This binary is a plugin. These are not meant to be executed directly.",
            file=sys.stderr,
        )
        sys.exit(1)
    pb, services = load_protocol()
    fixture = json.loads(fixture_path.read_text(encoding="utf-8"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    services.add_ProviderServicer_to_server(StandInProvider(pb, fixture), server)
    socket_dir = tempfile.mkdtemp(prefix="tf-standin-")
    socket_path = os.path.join(socket_dir, "provider.sock")
    server.add_insecure_port(f"unix:{socket_path}")
    server.start()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    # The go-plugin handshake: core version, app protocol version, network, address, protocol.
    handshake = [CORE_PROTOCOL_VERSION, PLUGIN_PROTOCOL_VERSION, "unix", socket_path, "grpc", ""]
    print("|".join(str(part) for part in handshake), flush=True)
    stopped.wait()
    server.stop(grace=1).wait()
    Path(socket_path).unlink(missing_ok=True)
    os.rmdir(socket_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a provider schema to terraform.")
    parser.add_argument("--schema", type=Path, required=True, help="a fixture JSON file")
    serve(parser.parse_args().schema)


if __name__ == "__main__":
    main()
