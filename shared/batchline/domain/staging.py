"""The staged copy of a valid requests file: what Vertex AI reads (no cloud client here).

Each valid line becomes canonical compact JSON `{"request": ...}` with `parts` always a
list and Batchline's line tag in `request.labels` (rows.TAG_LABEL), so the output row can
be joined back to its input line. Blank lines are dropped. A file over one job's limits is
split into parts, each within the JobLimits given (the service's, or smaller by settings).
Next to each part goes an index, one `{"line": N, "key": K}` per request, which the
completion function uses to fill `key` and to count input lines that got no output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from batchline.domain.json_codec import dumps, dumps_text
from batchline.domain.limits import SERVICE_LIMITS, JobLimits

TAG_LABEL: Final = "batchline_line"

# Opens the two sinks of part N (1-based): the staged requests and the index.
OpenPart = Callable[[int], tuple[IO[bytes], IO[bytes]]]


@dataclass(frozen=True)
class StagedPart:
    number: int
    requests: int
    bytes: int
    first_line: int
    last_line: int


def tag_request(request: Mapping[str, Any], line: int) -> dict[str, Any]:
    """A copy of `request` carrying the input line number in its labels."""
    tagged = dict(request)
    labels = request.get("labels")
    tagged["labels"] = {**(labels if isinstance(labels, dict) else {}), TAG_LABEL: str(line)}
    return tagged


def staged_line(request: Mapping[str, Any], line: int) -> str:
    """The line Batchline stages for Vertex AI: {"request": tagged request}."""
    # Compact: the staged copy counts against the service's 1 GB per job.
    return dumps_text({"request": tag_request(request, line)})


def staged_bytes(request: Mapping[str, Any], line: int) -> bytes:
    """`staged_line` as the UTF-8 line the staged file holds, newline included."""
    return dumps({"request": tag_request(request, line)}) + b"\n"


def normalise_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request with every `parts` a list (the service's documented sample gives one
    Part object, which the validator accepts)."""
    normal = dict(request)
    for name in ("contents",):
        contents = normal.get(name)
        if isinstance(contents, list):
            normal[name] = [_listed_parts(content) for content in contents]
    for name in ("systemInstruction", "system_instruction"):
        instruction = normal.get(name)
        if isinstance(instruction, dict):
            normal[name] = _listed_parts(instruction)
    return normal


def _listed_parts(content: Any) -> Any:
    if isinstance(content, dict) and isinstance(content.get("parts"), dict):
        return {**content, "parts": [content["parts"]]}
    return content


class Stager:
    """Writes validated lines into parts; call `add` per line, then `close`."""

    def __init__(
        self,
        open_part: OpenPart,
        limits: JobLimits = SERVICE_LIMITS,
    ) -> None:
        self._open_part = open_part
        self._max_requests = limits.max_requests
        self._max_bytes = limits.max_bytes
        self._parts: list[StagedPart] = []
        self._sinks: tuple[IO[bytes], IO[bytes]] | None = None
        self._requests = self._bytes = self._first = self._last = 0

    def add(self, line: int, record: Mapping[str, Any]) -> None:
        data = staged_bytes(normalise_request(record["request"]), line)
        full = self._requests >= self._max_requests or self._bytes + len(data) > self._max_bytes
        if self._sinks is None or (full and self._requests):
            self._next_part(line)
        assert self._sinks is not None
        requests_sink, index_sink = self._sinks
        requests_sink.write(data)
        key = record.get("key")
        index_sink.write(json.dumps({"line": line, "key": key}).encode() + b"\n")
        self._requests += 1
        self._bytes += len(data)
        self._last = line

    def close(self) -> list[StagedPart]:
        """Close the last part; the parts written, in order."""
        self._finish_part()
        return list(self._parts)

    def abort(self, discard: Callable[[IO[bytes]], None]) -> None:
        """Give up on the part being written: `discard` each of its sinks, so that no
        half-written part replaces a good one a job may be reading."""
        sinks, self._sinks = self._sinks, None
        for sink in sinks or ():
            discard(sink)

    def _next_part(self, line: int) -> None:
        self._finish_part()
        self._sinks = self._open_part(len(self._parts) + 1)
        self._requests = self._bytes = 0
        self._first = line

    def _finish_part(self) -> None:
        if self._sinks is None:
            return
        for sink in self._sinks:
            sink.close()
        self._sinks = None
        self._parts.append(
            StagedPart(len(self._parts) + 1, self._requests, self._bytes, self._first, self._last)
        )


# Where the pipeline writes in the work bucket, per source (its ledger document id).
STAGING_PREFIX = "staging/"
OUTPUTS_PREFIX = "outputs/"
LOADS_PREFIX = "loads/"


def staged_requests_name(source_id: str, part: int) -> str:
    return f"{STAGING_PREFIX}{source_id}/part-{part:05d}.jsonl"


def staged_index_name(source_id: str, part: int) -> str:
    return f"{STAGING_PREFIX}{source_id}/part-{part:05d}.index.jsonl"


def output_prefix_name(source_id: str, part: int) -> str:
    return f"{OUTPUTS_PREFIX}{source_id}/part-{part:05d}"


def rows_name(source_id: str, part: int) -> str:
    return f"{LOADS_PREFIX}{source_id}/part-{part:05d}.rows.jsonl"


def read_index(lines: Iterable[bytes]) -> tuple[list[int], dict[int, str]]:
    """A part's index: its input line numbers in order, and the keys the lines carry."""
    numbers: list[int] = []
    keys: dict[int, str] = {}
    for raw in lines:
        if not raw.strip():
            continue
        entry = json.loads(raw)
        numbers.append(int(entry["line"]))
        if entry.get("key") is not None:
            keys[int(entry["line"])] = str(entry["key"])
    return numbers, keys
