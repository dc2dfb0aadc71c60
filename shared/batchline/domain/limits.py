"""The limits of one Vertex AI batch prediction job, which decide how a file is split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["SERVICE_LIMITS", "JobLimits"]

# The service's own limits: 200,000 requests and a 1 GB input file per job.
SERVICE_MAX_REQUESTS: Final = 200_000
SERVICE_MAX_BYTES: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class JobLimits:
    """At most `max_requests` requests and `max_bytes` bytes of staged input in one job."""

    max_requests: int = SERVICE_MAX_REQUESTS
    max_bytes: int = SERVICE_MAX_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_requests <= SERVICE_MAX_REQUESTS:
            raise ValueError(f"max_requests must be within 1..{SERVICE_MAX_REQUESTS}")
        if not 1 <= self.max_bytes <= SERVICE_MAX_BYTES:
            raise ValueError(f"max_bytes must be within 1..{SERVICE_MAX_BYTES}")

    def jobs_needed(self, requests: int, size: int) -> int:
        """How many jobs a file of `requests` requests and `size` bytes needs (at least 1)."""
        by_count = -(-requests // self.max_requests)
        by_size = -(-size // self.max_bytes)
        return max(1, by_count, by_size)

    def describe(self) -> str:
        """`200000 requests or 1 GB`, for messages."""
        size = (
            f"{self.max_bytes / 1e9:g} GB"
            if self.max_bytes % 10_000_000 == 0
            else f"{self.max_bytes} bytes"
        )
        return f"{self.max_requests} requests or {size}"


SERVICE_LIMITS: Final = JobLimits()
