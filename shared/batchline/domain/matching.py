"""Matching an echoed request to the input line it came from (no cloud client).

The output of a batch job is not in input order, and the echoed request is the service's
normalisation of what was sent (camelCase names, explicit nulls, `parts` as lists). A
canonical form equal for a request and its echo lets a RequestIndex hand out input line
numbers; identical requests are handed out in input order.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from batchline.domain.input_lines import InputLine

__all__ = ["RequestIndex", "canonical_request"]

_SNAKE = re.compile(r"_([a-z0-9])")


@lru_cache(maxsize=4096)
def _camel(key: str) -> str:
    return _SNAKE.sub(lambda match: match.group(1).upper(), key) if "_" in key else key


def _canonical_value(value: Any) -> Any:
    if type(value) is dict:
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key == "parts" and type(item) is dict:
                item = [item]  # the documented single-object form
            canonical = _canonical_value(item)
            if canonical is None or canonical == {} or canonical == []:
                continue
            result[_camel(key)] = canonical
        return result
    if type(value) is list:
        items = [_canonical_value(item) for item in value]
        return [item for item in items if item is not None]
    return value


def canonical_request(request: Any) -> str:
    """A text equal for a request and its echo: nulls and empty containers dropped, keys in
    camelCase and sorted, a single `parts` object made a list."""
    return json.dumps(
        _canonical_value(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


class RequestIndex:
    """Input line numbers by canonical request; identical requests are handed out in order."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[int]] = {}
        self.keys: dict[int, str] = {}

    @classmethod
    def from_input_lines(cls, lines: Iterable[InputLine]) -> RequestIndex:
        index = cls()
        for line in lines:
            index.add(line)
        return index

    def add(self, line: InputLine) -> None:
        canonical = canonical_request(line.request)
        self._lines.setdefault(canonical, deque()).append(line.number)
        if line.key is not None:
            self.keys[line.number] = line.key

    def take(self, echoed_request: Any) -> int | None:
        """The next unclaimed input line holding this request, or None."""
        waiting = self._lines.get(canonical_request(echoed_request))
        if not waiting:
            return None
        return waiting.popleft()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._lines.values())
