"""The staged copy of a valid requests file: what Vertex AI reads (no cloud client here).

Each valid line becomes canonical compact JSON `{"request": ...}` with `parts` always a
list and, unless BATCHLINE_ROW_LABELS is off, Batchline's line tag in `request.labels`
(TAG_LABEL), so the output row can be joined back to its input line; without the tag (or when
the service drops it) the row is matched on its request (batchline.domain.matching). Blank lines are dropped. A file over one job's limits is
split into parts, each within the JobLimits given (the service's, or smaller by settings).
Next to each part goes an index, one `{"line": N, "key": K}` per request, which the
completion function uses to fill `key` and to count input lines that got no output.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, Final

from batchline.domain.input_lines import InputLine
from batchline.domain.json_codec import compact
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


def staged_line(request: Mapping[str, Any], line: int | None) -> str:
    """The line Batchline stages for Vertex AI: {"request": request}, tagged with its input
    line unless `line` is None (BATCHLINE_ROW_LABELS off)."""
    tagged = request if line is None else tag_request(request, line)
    # Compact: the staged copy counts against the service's 1 GB per job.
    return compact({"request": tagged}).decode("utf-8")


def staged_bytes(request: Mapping[str, Any], line: int | None) -> bytes:
    """`staged_line` as the UTF-8 line the staged file holds, newline included."""
    tagged = request if line is None else tag_request(request, line)
    return compact({"request": tagged}) + b"\n"


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
    """Writes validated lines into parts; call `add` per line, then `close`.

    It stages while the file is validated, in the same read: `stop` (the validator's first
    error) makes it ignore what follows, and the caller then discards what it wrote
    (`abort` the part being written, delete the `closed` ones).
    """

    def __init__(
        self,
        open_part: OpenPart,
        limits: JobLimits = SERVICE_LIMITS,
        *,
        tag_lines: bool = True,
    ) -> None:
        self._open_part = open_part
        self._tag_lines = tag_lines
        self._max_requests = limits.max_requests
        self._max_bytes = limits.max_bytes
        self._parts: list[StagedPart] = []
        self._sinks: tuple[IO[bytes], IO[bytes]] | None = None
        self._requests = self._bytes = self._first = self._last = 0
        self._stopped = False

    @property
    def closed(self) -> list[StagedPart]:
        """The parts written whole so far."""
        return list(self._parts)

    def stop(self) -> None:
        """The file turned out invalid: stage nothing more."""
        self._stopped = True

    def add(self, line: int, record: Mapping[str, Any]) -> None:
        if self._stopped:
            return
        data = staged_bytes(normalise_request(record["request"]), line if self._tag_lines else None)
        full = self._requests >= self._max_requests or self._bytes + len(data) > self._max_bytes
        if self._sinks is None or (full and self._requests):
            self._next_part(line)
        assert self._sinks is not None
        requests_sink, index_sink = self._sinks
        requests_sink.write(data)
        index_sink.write(index_line(line, record.get("key")))
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
RESUME_PREFIX = "resume/"


def staged_requests_name(source_id: str, part: int) -> str:
    return f"{STAGING_PREFIX}{source_id}/part-{part:05d}.jsonl"


def staged_index_name(source_id: str, part: int) -> str:
    return f"{STAGING_PREFIX}{source_id}/part-{part:05d}.index.jsonl"


def output_prefix_name(source_id: str, part: int, attempt: int) -> str:
    return f"{OUTPUTS_PREFIX}{source_id}/part-{part:05d}/attempt-{attempt}"


def rows_name(source_id: str, part: int, attempt: int) -> str:
    return f"{LOADS_PREFIX}{source_id}/part-{part:05d}.attempt-{attempt}.rows.jsonl"


def resume_failed_name(source_id: str, part: int, attempt: int) -> str:
    """The output lines of attempt `attempt` that failed for a reason that may pass: with
    the missing lines, the input of the part's next attempt (the documented resume path)."""
    return f"{RESUME_PREFIX}{source_id}/part-{part:05d}.attempt-{attempt}.failed.jsonl"


def resume_missing_name(source_id: str, part: int, attempt: int) -> str:
    """The staged requests of the lines attempt `attempt` never answered."""
    return f"{RESUME_PREFIX}{source_id}/part-{part:05d}.attempt-{attempt}.missing.jsonl"


def resume_index_name(source_id: str, part: int, attempt: int) -> str:
    """The lines (and keys) attempt `attempt` of a part is asked, when it is a resume."""
    return f"{RESUME_PREFIX}{source_id}/part-{part:05d}.attempt-{attempt}.index.jsonl"


def index_line(line: int, key: Any) -> bytes:
    """One line of a part's (or a resume's) index."""
    return compact({"line": line, "key": key}) + b"\n"


def staged_requests(requests: Iterable[bytes], index: Iterable[bytes]) -> Iterator[InputLine]:
    """A part's staged requests with their input line numbers (from the part's index, which
    lists them in the same order): what an untagged echo is matched against."""
    entries = (raw for raw in index if raw.strip())
    for raw in requests:
        if not raw.strip():
            continue
        entry = json.loads(next(entries))
        yield InputLine(int(entry["line"]), json.loads(raw)["request"], None)


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
