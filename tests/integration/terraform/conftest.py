"""Fixtures of the offline terraform check: workspaces with stand-in providers attached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import ProviderVersions, Workspace, new_workspace

# The lowest and highest versions versions.tf allows, each served from its committed schema.
LOWEST = ProviderVersions(
    "lowest", {"google": "6.1.0", "google-beta": "6.1.0", "external": "2.3.2"}
)
HIGHEST = ProviderVersions(
    "highest", {"google": "8.7.0", "google-beta": "8.7.0", "external": "2.4.2"}
)
VERSION_SETS = (LOWEST, HIGHEST)


@pytest.fixture(scope="session", params=VERSION_SETS, ids=[v.name for v in VERSION_SETS])
def workspace(request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """The module, initialised against one version set's stand-ins (shared by the tests)."""
    yield from new_workspace(request.param)


@pytest.fixture
def scratch_workspace() -> Iterator[Workspace]:
    """A module copy of its own (the highest versions), for tests that edit it."""
    yield from new_workspace(HIGHEST)
