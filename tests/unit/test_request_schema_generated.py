"""The frozen request schema matches the installed google-cloud-aiplatform."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_request_schema.py"


def test_committed_schema_module_matches_installed_library() -> None:
    spec = importlib.util.spec_from_file_location("generate_request_schema", SCRIPT)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(), (
        "shared/batchline/domain/validation/request_schema_data.py is stale: "
        "run python scripts/generate_request_schema.py"
    )
