"""The provider schemas the offline terraform check serves (tests/fixtures/terraform_providers/,
made by scripts/refresh_provider_schemas.py): they cover every type the module uses, at the
lowest and highest versions versions.tf allows."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from terraform_hcl import REPO_ROOT, _parsed

pytestmark = pytest.mark.unit

FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "terraform_providers"
REFRESH_SCRIPT = REPO_ROOT / "scripts" / "refresh_provider_schemas.py"


@cache
def refresh_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_provider_schemas", REFRESH_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@cache
def fixture(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _fixtures_of(provider: str) -> list[Path]:
    return sorted(FIXTURES_DIR.glob(f"{provider}-[0-9]*.json"))


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in fixture(path)["version"].split("."))


def _constraint(provider: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    spec = _parsed("versions.tf")["terraform"][0]["required_providers"][0][provider]
    match = re.fullmatch(r">= ?([\d.]+), ?< ?([\d.]+)", spec["version"])
    assert match, spec["version"]
    lower, upper = (tuple(int(p) for p in bound.split(".")) for bound in match.groups())
    return lower, upper


def test_each_binding_has_its_fixture_and_nothing_else_is_there() -> None:
    bindings = refresh_script().BINDINGS
    assert {b.fixture for b in bindings} == set(FIXTURES_DIR.glob("*.json"))
    for binding in bindings:
        assert fixture(binding.fixture)["version"] == binding.version
        assert fixture(binding.fixture)["source"] == f"{binding.registry} {binding.package}"


@pytest.mark.parametrize("provider", ["google", "google-beta", "external"])
def test_fixtures_are_the_lowest_and_highest_versions_allowed(provider: str) -> None:
    lower, upper = _constraint(provider)
    versions = sorted(_version(path) for path in _fixtures_of(provider))
    assert len(versions) == 2, f"{provider}: one lowest and one highest fixture"
    lowest, highest = versions
    # The lower bound is exactly what was verified; the upper one is the next major.
    assert lowest == lower + (0,) * (3 - len(lower)), f"{provider}: lowest allowed is {lower}"
    assert highest < upper and highest[0] == upper[0] - 1


def test_the_harness_checks_those_versions() -> None:
    conftest = (REPO_ROOT / "tests" / "integration" / "terraform" / "conftest.py").read_text()
    for path in FIXTURES_DIR.glob("*.json"):
        provider, version = fixture(path)["provider"].rsplit("/", 1)[1], fixture(path)["version"]
        assert f'"{provider}": "{version}"' in conftest, f"{provider} {version} is not checked"


def test_fixtures_hold_every_type_the_module_uses() -> None:
    """A type missing here would make the offline plan fail; refresh the fixtures then."""
    used = refresh_script().module_types()
    assert set(used) == {"google", "google-beta", "external"}
    for provider, kinds in used.items():
        for path in _fixtures_of(provider):
            schemas = fixture(path)
            missing = (kinds["resource"] - set(schemas["resource_schemas"])) | (
                kinds["data"] - set(schemas["data_source_schemas"])
            )
            assert not missing, f"{path.name} lacks {sorted(missing)}: run {REFRESH_SCRIPT.name}"


@pytest.mark.parametrize("path", sorted(FIXTURES_DIR.glob("google-[0-9]*.json")), ids=str)
def test_google_schemas_say_what_the_provider_documents(path: Path) -> None:
    """Facts from the provider's documentation of google_project_iam_member and
    google_service_account (registry.terraform.io/providers/hashicorp/google/latest/docs)."""
    resources = fixture(path)["resource_schemas"]
    member = resources["google_project_iam_member"]["block"]
    for argument in ("member", "project", "role"):
        assert member["attributes"][argument].get("required") is True, argument
    assert member["attributes"]["etag"] == {"computed": True, "type": "string"}
    condition = member["block_types"]["condition"]
    assert (condition["nesting_mode"], condition.get("max_items")) == ("list", 1)
    assert condition["block"]["attributes"]["expression"].get("required") is True
    account = resources["google_service_account"]["block"]["attributes"]
    assert account["account_id"].get("required") is True
    assert account["email"] == {"computed": True, "type": "string"}
    filters = resources["google_cloudfunctions2_function"]["block"]["block_types"]
    assert filters["event_trigger"]["block"]["block_types"]["event_filters"]["nesting_mode"] == (
        "set"
    )


@pytest.mark.parametrize("path", _fixtures_of("external"), ids=str)
def test_external_schema_is_the_documented_data_source(path: Path) -> None:
    """registry.terraform.io/providers/hashicorp/external/latest/docs/data-sources/external"""
    attributes = fixture(path)["data_source_schemas"]["external"]["block"]["attributes"]
    assert attributes["program"] == {"required": True, "type": ["list", "string"]}
    assert attributes["query"] == {"optional": True, "type": ["map", "string"]}
    assert attributes["result"] == {"computed": True, "type": ["map", "string"]}
    assert attributes["working_dir"] == {"optional": True, "type": "string"}
