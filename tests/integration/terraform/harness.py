"""Runs the real `terraform` on the root module against stand-in providers, offline.

`StandIns` starts one stand-in process per provider (standin_provider.py), reads each one's
go-plugin handshake line and gives the TF_REATTACH_PROVIDERS value that attaches them.
`Workspace` is a copy of terraform/*.tf in a temporary directory (with `scripts/` and
`shared/` linked beside it, as the module's relative paths expect), where `terraform init`,
`validate` and `plan` run with their machine-readable output parsed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standin_provider import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE

REPO_ROOT = Path(__file__).resolve().parents[3]
MODULE_DIR = REPO_ROOT / "terraform"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "terraform_providers"
STANDIN = Path(__file__).with_name("standin_provider.py")
COMMAND_TIMEOUT_SECONDS = 180
HANDSHAKE_TIMEOUT_SECONDS = 60


@dataclass(frozen=True, slots=True)
class ProviderVersions:
    """One set of provider versions the module is checked with (a fixture each)."""

    name: str
    versions: Mapping[str, str]  # local provider name -> version

    def fixture(self, provider: str) -> Path:
        return FIXTURES_DIR / f"{provider}-{self.versions[provider]}.json"


def terraform_binary() -> str:
    found = shutil.which("terraform")
    if found is None:
        raise RuntimeError("the terraform binary is not on PATH: install Terraform >= 1.5")
    return found


@contextmanager
def standin(fixture: Path, cwd: Path | None = None) -> Iterator[dict[str, Any]]:
    """A running stand-in serving `fixture`: yields its reattach configuration."""
    env = {**os.environ, MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE}
    process = subprocess.Popen(
        [sys.executable, str(STANDIN), "--schema", str(fixture)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        parts = line.split("|")
        if len(parts) != 6 or parts[:3] != ["1", "6", "unix"] or parts[4] != "grpc":
            process.kill()
            _, stderr = process.communicate(timeout=HANDSHAKE_TIMEOUT_SECONDS)
            raise RuntimeError(f"no go-plugin handshake from the stand-in ({line!r}):\n{stderr}")
        yield {
            "Protocol": "grpc",
            "ProtocolVersion": int(parts[1]),
            "Pid": process.pid,
            # Test mode: Terraform neither negotiates nor kills the process.
            "Test": True,
            "Addr": {"Network": parts[2], "String": parts[3]},
        }
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def messages(self) -> list[dict[str, Any]]:
        """The JSON lines of `-json` output (plan streams one message a line)."""
        found = []
        for line in self.stdout.splitlines():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict):
                found.append(message)
        return found

    def diagnostics(self) -> list[dict[str, Any]]:
        """Every diagnostic: from a plan's message stream or from `validate -json`."""
        found = [m["diagnostic"] for m in self.messages() if isinstance(m.get("diagnostic"), dict)]
        try:
            document = json.loads(self.stdout)
        except json.JSONDecodeError:
            document = None
        if isinstance(document, dict):
            found += document.get("diagnostics", [])
        return found

    def errors(self) -> list[tuple[str, str, str]]:
        """(summary, detail, file name) of every error."""
        return [
            (d["summary"], d.get("detail", ""), (d.get("range") or {}).get("filename", ""))
            for d in self.diagnostics()
            if d.get("severity") == "error"
        ]

    def explain(self) -> str:
        found = [f"{file}: {summary}: {detail}" for summary, detail, file in self.errors()]
        return "\n".join(found) or f"{self.stdout}\n{self.stderr}"


@dataclass
class Workspace:
    """A copy of the module that terraform runs in, with its own data directory."""

    root: Path
    reattach: dict[str, Any]
    module: Path = field(init=False)

    def __post_init__(self) -> None:
        self.module = self.root / "terraform"

    def edit(self, filename: str, old: str, new: str) -> None:
        """Replace `old` (which must occur once) with `new` in one of the module's files."""
        path = self.module / filename
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {filename}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def run(self, *args: str) -> Result:
        env = {
            **os.environ,
            "TF_REATTACH_PROVIDERS": json.dumps(self.reattach),
            "TF_DATA_DIR": str(self.root / ".terraform-data"),
            "TF_IN_AUTOMATION": "1",
            "TF_CLI_CONFIG_FILE": os.devnull,
            "CHECKPOINT_DISABLE": "1",
        }
        completed = subprocess.run(
            [terraform_binary(), f"-chdir={self.module}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def init(self) -> Result:
        return self.run("init", "-backend=false", "-input=false", "-no-color")

    def validate(self) -> Result:
        return self.run("validate", "-json", "-no-color")

    def plan(self, variables: Mapping[str, Any]) -> Plan:
        tfvars = self.root / "test.tfvars.json"
        tfvars.write_text(json.dumps(dict(variables)), encoding="utf-8")
        plan_file = self.root / "test.tfplan"
        result = self.run(
            "plan",
            "-input=false",
            "-lock=false",
            "-no-color",
            "-json",
            f"-var-file={tfvars}",
            f"-out={plan_file}",
        )
        shown = self.run("show", "-json", str(plan_file)) if result.returncode == 0 else None
        return Plan(result, json.loads(shown.stdout) if shown and shown.returncode == 0 else {})


@dataclass
class Plan:
    result: Result
    document: dict[str, Any]  # `terraform show -json` of the saved plan

    @property
    def succeeded(self) -> bool:
        return self.result.returncode == 0 and bool(self.document)

    def creates(self) -> list[dict[str, Any]]:
        """The resource changes that create something (managed resources only)."""
        return [
            change
            for change in self.document.get("resource_changes", [])
            if change["mode"] == "managed" and change["change"]["actions"] == ["create"]
        ]

    def addresses(self) -> set[str]:
        return {change["address"] for change in self.creates()}

    def after(self, address: str) -> dict[str, Any]:
        """The planned values of what `address` creates."""
        after: dict[str, Any] = self._change(address)["after"]
        return after

    def after_unknown(self, address: str) -> dict[str, Any]:
        """Which of its values are known only after apply (true at their paths)."""
        unknown: dict[str, Any] = self._change(address)["after_unknown"]
        return unknown

    def _change(self, address: str) -> dict[str, Any]:
        for change in self.creates():
            if change["address"] == address:
                found: dict[str, Any] = change["change"]
                return found
        raise AssertionError(f"the plan creates no {address}")


def copy_module(root: Path) -> None:
    """terraform/*.tf into root/terraform, with the siblings its relative paths reach
    (../scripts/build_bundles.py, ../shared/batchline/schemas) linked beside it."""
    module = root / "terraform"
    module.mkdir(parents=True)
    for path in MODULE_DIR.glob("*.tf"):
        shutil.copy2(path, module / path.name)
    for sibling in ("scripts", "shared"):
        (root / sibling).symlink_to(REPO_ROOT / sibling)


def new_workspace(versions: ProviderVersions) -> Iterator[Workspace]:
    """A fresh, initialised module copy with stand-ins of `versions` attached; everything is
    stopped and removed afterwards (for fixtures)."""
    with tempfile.TemporaryDirectory(prefix="tf-offline-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        copy_module(root)
        reattach = {
            f"registry.terraform.io/hashicorp/{provider}": stack.enter_context(
                # external runs its program where terraform runs: in the module copy.
                standin(versions.fixture(provider), cwd=root / "terraform")
            )
            for provider in versions.versions
        }
        workspace = Workspace(root, reattach)
        init = workspace.init()
        if init.returncode != 0:
            raise RuntimeError(f"terraform init failed:\n{init.stdout}\n{init.stderr}")
        yield workspace
