"""Injected HTTP errors: a queue of answers given instead of the real ones.

Each entry is an error in the service's own shape, how many requests it answers, and which
API methods (endpoints) it applies to; an entry with no endpoints applies to every API
request. A request takes one answer from the first entry that applies to it, so entries are
used up in the order they were added. Health and admin routes never take one.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud.serving.errors import ServiceError


@dataclass(frozen=True)
class InjectedError:
    """`count` answers of `error` for the next API requests to `endpoints` (all when empty).

    `details` are shown in listings next to the status and the count left, e.g. BigQuery's
    reason or the Vertex AI fault setting the entry stands for.
    """

    error: ServiceError
    count: int = 1
    endpoints: frozenset[str] = frozenset()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("an injected error answers at least 1 request")

    def applies_to(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints

    def listing(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"status": self.error.http_status, "count": self.count}
        if self.endpoints:
            entry["endpoints"] = sorted(self.endpoints)
        entry.update(self.details)
        return entry


class FaultQueue:
    """The injected errors of one server, safe to use from every request thread.

    `lock` is reentrant: hold it to read and change the queue together with state of
    your own (the Vertex AI emulator keeps its fault settings consistent with it).
    """

    def __init__(self, entries: Iterable[InjectedError] = ()) -> None:
        self.lock = threading.RLock()
        self._entries: list[InjectedError] = list(entries)

    def add(self, entry: InjectedError) -> None:
        with self.lock:
            self._entries.append(entry)

    def take(self, endpoint: str) -> ServiceError | None:
        """Use up one answer for a request to `endpoint`; None when no entry applies."""
        with self.lock:
            for index, entry in enumerate(self._entries):
                if entry.applies_to(endpoint):
                    if entry.count == 1:
                        del self._entries[index]
                    else:
                        self._entries[index] = dataclasses.replace(entry, count=entry.count - 1)
                    return entry.error
        return None

    def entries(self) -> list[InjectedError]:
        """The entries left, in the order they are used; counts are what is left."""
        with self.lock:
            return list(self._entries)

    def pending(self) -> list[dict[str, Any]]:
        """The entries left as JSON: status, count left, endpoints when limited, details."""
        return [entry.listing() for entry in self.entries()]

    def replace(
        self, chosen: Callable[[InjectedError], bool], entries: Iterable[InjectedError]
    ) -> None:
        """Drop the entries `chosen` selects and add `entries` after the others."""
        with self.lock:
            kept = [entry for entry in self._entries if not chosen(entry)]
            self._entries = [*kept, *entries]

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()
