"""Reading the request lines of an input file, numbered as the user sees them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["InputLine", "read_input_lines"]


@dataclass(frozen=True, slots=True)
class InputLine:
    """One request line of an input file."""

    number: int  # 1-based physical line number
    request: Any
    key: str | None


def read_input_lines(lines: Iterable[str | bytes]) -> Iterator[InputLine]:
    """The request lines of an input file, numbered from 1; blank lines keep their number.

    Lines that are not a JSON object with a "request" are skipped: validation reports them,
    and they were never submitted.
    """
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if type(record) is not dict or "request" not in record:
            continue
        key = record.get("key")
        yield InputLine(number, record["request"], None if key is None else str(key))
