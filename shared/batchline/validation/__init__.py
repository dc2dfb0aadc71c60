"""Request file validation: the checks `batchline validate` and the submit function share."""

from batchline.validation.stream import (
    MAX_BYTES_PER_JOB,
    MAX_REQUESTS_PER_JOB,
    FileReport,
    Issue,
    validate_stream,
)

__all__ = [
    "MAX_BYTES_PER_JOB",
    "MAX_REQUESTS_PER_JOB",
    "FileReport",
    "Issue",
    "validate_stream",
]
