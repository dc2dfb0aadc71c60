"""Request file validation: the checks `batchline validate` and the submit function share."""

from batchline.domain.validation.stream import (
    FileReport,
    Issue,
    validate_stream,
)

__all__ = [
    "FileReport",
    "Issue",
    "validate_stream",
]
