"""terraform/README.md is the root README's deploy section, word for word: the two never
drift apart (edit the root README, then copy the section)."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_readme_is_the_deploy_section_of_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Deploy to Google Cloud") : readme.index("## Development")]
    assert (ROOT / "terraform" / "README.md").read_text(encoding="utf-8") == (
        section.rstrip() + "\n"
    )
