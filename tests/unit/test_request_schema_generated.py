"""The frozen modules match what they are generated from: the request schema matches the
installed google-cloud-aiplatform, and the fast path's msgspec types match that schema and the
service rules."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("script", ["generate_request_schema.py", "generate_request_types.py"])
def test_committed_module_matches_what_it_is_generated_from(script: str) -> None:
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), SCRIPTS / script)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = generator.OUTPUT.read_text(encoding="utf-8")
    assert committed == generator.render(), (
        f"{generator.OUTPUT.relative_to(SCRIPTS.parent)} is stale: run python scripts/{script}"
    )
