"""Which uploads the submit step treats as requests files (no network)."""

from __future__ import annotations

from typing import Any

import pytest
from pipeline_support import EXAMPLE_SETTINGS

from batchline.domain.events import StorageObject
from batchline.runtime.settings import Settings
from batchline.steps.submit import Submitter

pytestmark = pytest.mark.unit

SETTINGS = Settings.from_env(EXAMPLE_SETTINGS)
unused: Any = None
SUBMITTER = Submitter(SETTINGS, unused, unused, unused, unused, unused)


@pytest.mark.parametrize("name", ["reviews.jsonl", "drops/2026/Reviews.JSONL", "a b.jsonl"])
def test_requests_files_are_taken_whatever_the_case(name: str) -> None:
    assert SUBMITTER.skip_reason(StorageObject("my-input", name, 1, 10)) == ""


@pytest.mark.parametrize(
    ("bucket", "name", "reason"),
    [
        ("my-input", "notes.txt", "not a .jsonl file"),
        ("my-input", "batchline-reports/x.jsonl.1.report.json", "a validation report"),
        ("my-input", "batchline-reports/x.jsonl", "a validation report"),
        ("other", "x.jsonl", "not the input bucket"),
    ],
)
def test_other_objects_are_ignored_with_the_reason(bucket: str, name: str, reason: str) -> None:
    assert reason in SUBMITTER.skip_reason(StorageObject(bucket, name, 1, 10))
