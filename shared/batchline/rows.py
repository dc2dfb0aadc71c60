"""Turning Vertex AI batch output lines into rows of the predictions table (no cloud client).

One output line (see VERTEX_BATCH.md, "Output") becomes one row:

- status: FAILED when the line's `status` text is non-empty or it has no response;
  BLOCKED when the prompt was blocked (`promptFeedback.blockReason`, no candidates) or the
  first candidate stopped for a policy reason (BLOCKING_FINISH_REASONS: SAFETY, RECITATION,
  BLOCKLIST, PROHIBITED_CONTENT, SPII, MODEL_ARMOR and the image variants); FAILED also when
  a response has no candidates and no block reason; SUCCEEDED otherwise. MAX_TOKENS and
  OTHER stay SUCCEEDED: the answer may be cut short, finish_reason says so.
- error: the status text for FAILED; the block reason (e.g. "SAFETY") for BLOCKED. A
  BLOCKED row with a null finish_reason had its prompt blocked.
- response_text: the text parts of the first candidate joined with "", without the parts
  marked "thought": true; null when there is no such text.
- token columns: from usageMetadata; null when the response does not give them. Totals
  count a null as 0.
- processed_time: RFC 3339 in UTC with a "Z" ("2024-11-01T18:13:16.826000Z").
- request: the echoed request as the service returned it, minus Batchline's own tag label
  (and minus `labels` altogether when the tag was the only label).
- request and response stay JSON values (dicts); serialise the whole row once to load it.

Joining outputs to input lines: Batchline tags each staged request with
`request.labels["batchline_line"] = "<1-based input line number>"`, since the output order is
not the input order. Output of jobs Batchline did not submit carries no tag; then a
RequestIndex built from the input file matches the echoed request on a canonical form of it.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final, TypedDict

__all__ = [
    "BLOCKING_FINISH_REASONS",
    "TAG_LABEL",
    "InputLine",
    "JobTotals",
    "PredictionRow",
    "PredictionShaper",
    "RequestIndex",
    "Status",
    "canonical_request",
    "job_id_from_name",
    "read_input_lines",
    "row_to_json",
    "staged_line",
    "tag_request",
]

TAG_LABEL: Final = "batchline_line"

# Finish reasons meaning a filter stopped the answer, not the model.
BLOCKING_FINISH_REASONS: Final = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


class Status(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"


class PredictionRow(TypedDict):
    """One row of the predictions table (column order as in schemas/predictions.json)."""

    job_id: str
    source_uri: str
    input_line: int | None
    key: str | None
    status: str
    error: str | None
    response_text: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    output_tokens: int | None
    thoughts_tokens: int | None
    total_tokens: int | None
    model: str | None
    model_version: str | None
    processed_time: str | None
    request: Any
    response: Any


def job_id_from_name(job_name: str) -> str:
    """The id at the end of projects/P/locations/L/batchPredictionJobs/ID."""
    return job_name.rstrip("/").rpartition("/")[2]


def row_to_json(row: PredictionRow) -> str:
    """One newline-delimited JSON line for a BigQuery load job (JSON columns stay nested)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


def tag_request(request: Mapping[str, Any], line: int) -> dict[str, Any]:
    """A copy of `request` carrying the input line number in its labels."""
    tagged = dict(request)
    labels = request.get("labels")
    tagged["labels"] = {**(labels if isinstance(labels, dict) else {}), TAG_LABEL: str(line)}
    return tagged


def staged_line(request: Mapping[str, Any], line: int) -> str:
    """The line Batchline stages for Vertex AI: {"request": tagged request}."""
    # Compact: the staged copy counts against the service's 1 GB per job.
    return json.dumps(
        {"request": tag_request(request, line)}, ensure_ascii=False, separators=(",", ":")
    )


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


# --- Matching echoed requests to input lines (outputs without Batchline's tag) ---------------

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


# --- Totals --------------------------------------------------------------------------------


@dataclass(slots=True)
class JobTotals:
    """Counts and token sums over a job's rows.

    total = succeeded + failed + blocked + missing. `missing` counts expected input lines with
    no output line; `duplicates` output lines dropped because their input line already had a
    row; `unmatched` rows whose input line could not be found (they are kept, and their input
    line, if expected, also counts as missing); `unreadable` output lines that were not a JSON
    object (skipped).
    """

    succeeded: int = 0
    failed: int = 0
    blocked: int = 0
    missing: int = 0
    duplicates: int = 0
    unmatched: int = 0
    unreadable: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    thoughts_tokens: int = 0
    total_tokens: int = 0

    @property
    def rows(self) -> int:
        return self.succeeded + self.failed + self.blocked

    @property
    def total(self) -> int:
        return self.rows + self.missing

    def add(self, row: PredictionRow) -> None:
        status = row["status"]
        if status == Status.SUCCEEDED:
            self.succeeded += 1
        elif status == Status.BLOCKED:
            self.blocked += 1
        else:
            self.failed += 1
        self.prompt_tokens += row["prompt_tokens"] or 0
        self.output_tokens += row["output_tokens"] or 0
        self.thoughts_tokens += row["thoughts_tokens"] or 0
        self.total_tokens += row["total_tokens"] or 0

    def merged(self, other: JobTotals) -> JobTotals:
        """The sum of two totals (a source's parts)."""
        return JobTotals(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        """Every count, `total` included (the form the ledger stores)."""
        return {**asdict(self), "total": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobTotals:
        return cls(**{f.name: int(data.get(f.name) or 0) for f in fields(cls)})


class _LineSet:
    """A growable bitset of line numbers: 25 kB for 200,000 lines, where a set takes MBs."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, number: int) -> bool:
        """Add `number`; False when it was already there."""
        byte, bit = divmod(number, 8)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(byte - len(bits) + 1 + len(bits) // 2))
        mask = 1 << bit
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        return True

    def __contains__(self, number: int) -> bool:
        byte, bit = divmod(number, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def as_int(self) -> int:
        return int.from_bytes(self._bits, "little")

    @classmethod
    def of(cls, numbers: Iterable[int]) -> _LineSet:
        line_set = cls()
        if isinstance(numbers, range) and numbers.step == 1 and len(numbers) > 0:
            # A part's lines are a range: set its bits in one go.
            if numbers.start < 0:
                raise ValueError("line numbers are positive")
            bits = ((1 << numbers.stop) - 1) ^ ((1 << numbers.start) - 1)
            line_set._bits = bytearray(bits.to_bytes((numbers.stop + 7) // 8, "little"))
            return line_set
        for number in numbers:
            line_set.add(number)
        return line_set


def _count(value: Any) -> int | None:
    if type(value) is int:
        return value
    # int64 fields may arrive as JSON strings.
    if type(value) is str and value.isdigit():
        return int(value)
    return None


@lru_cache(maxsize=1024)
def _utc_time(text: str) -> str | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _line_number(tag: Any) -> int | None:
    if type(tag) is str and tag.isdigit():
        number = int(tag)
        return number if number > 0 else None
    return None


class PredictionShaper:
    """Shapes one job's output lines into rows, joining, de-duplicating and counting.

    Streams: keeps no row, only two bitsets of line numbers. `keys` maps input line numbers
    to keys (a RequestIndex brings its own). `expected_lines` are the input lines this job
    was given (a part's line numbers, from its index); without them `missing` stays 0. `fallback_time`
    (say, the job's end time) fills processed_time when a line lacks a readable one.
    """

    def __init__(
        self,
        *,
        job_id: str,
        source_uri: str,
        model: str | None = None,
        keys: Mapping[int, str] | None = None,
        expected_lines: Iterable[int] | None = None,
        request_index: RequestIndex | None = None,
        fallback_time: datetime | None = None,
    ) -> None:
        self.job_id = job_id
        self.source_uri = source_uri
        self.model = model
        self._keys: Mapping[int, str] = (
            keys if keys is not None else request_index.keys if request_index else {}
        )
        self._index = request_index
        self._fallback_time = (
            fallback_time.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            if fallback_time is not None
            else None
        )
        self._seen = _LineSet()
        self._expected = _LineSet.of(expected_lines) if expected_lines is not None else None
        self.totals = JobTotals()

    def shape_line(self, raw: str | bytes) -> PredictionRow | None:
        """The row for one output line; None for a duplicate or an unreadable line."""
        try:
            record = json.loads(raw)
        except ValueError:
            self.totals.unreadable += 1
            return None
        if type(record) is not dict:
            self.totals.unreadable += 1
            return None
        request = record.get("request")
        input_line = None
        if type(request) is dict:
            labels = request.get("labels")
            if type(labels) is dict and TAG_LABEL in labels:
                input_line = _line_number(labels.pop(TAG_LABEL))
                if not labels:
                    del request["labels"]
        if input_line is None and self._index is not None:
            input_line = self._index.take(request)
        if input_line is None:
            self.totals.unmatched += 1
        elif not self._seen.add(input_line):
            self.totals.duplicates += 1
            return None
        row = self._row(record, request, input_line)
        self.totals.add(row)
        return row

    def _row(self, record: dict[str, Any], request: Any, input_line: int | None) -> PredictionRow:
        status_text = record.get("status")
        response = record.get("response")
        error: str | None = None
        first: Any = None
        finish_reason = response_text = model_version = None
        prompt_tokens = output_tokens = thoughts_tokens = total_tokens = None
        if type(response) is dict:
            model_version = response.get("modelVersion")
            usage = response.get("usageMetadata")
            if type(usage) is dict:
                prompt_tokens = _count(usage.get("promptTokenCount"))
                output_tokens = _count(usage.get("candidatesTokenCount"))
                thoughts_tokens = _count(usage.get("thoughtsTokenCount"))
                total_tokens = _count(usage.get("totalTokenCount"))
            candidates = response.get("candidates")
            first = candidates[0] if type(candidates) is list and candidates else None
            if type(first) is dict:
                finish_reason = first.get("finishReason")
                response_text = _answer_text(first.get("content"))
        if status_text:
            status = Status.FAILED
            error = status_text if type(status_text) is str else json.dumps(status_text)
        elif type(response) is not dict:
            status = Status.FAILED
            error = "no response"
        elif finish_reason in BLOCKING_FINISH_REASONS:
            status = Status.BLOCKED
            error = finish_reason
        elif type(first) is not dict:
            feedback = response.get("promptFeedback")
            block_reason = feedback.get("blockReason") if type(feedback) is dict else None
            if block_reason:
                status = Status.BLOCKED
                error = str(block_reason)
            else:
                status = Status.FAILED
                error = "the response has no candidates"
        else:
            status = Status.SUCCEEDED
        processed = record.get("processed_time") or record.get("processedTime")
        processed_time = _utc_time(processed) if type(processed) is str else None
        return {
            "job_id": self.job_id,
            "source_uri": self.source_uri,
            "input_line": input_line,
            "key": self._keys.get(input_line) if input_line is not None else None,
            "status": status.value,
            "error": error,
            "response_text": response_text,
            "finish_reason": finish_reason,
            "prompt_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "thoughts_tokens": thoughts_tokens,
            "total_tokens": total_tokens,
            "model": self.model,
            "model_version": model_version,
            "processed_time": processed_time or self._fallback_time,
            "request": request,
            "response": response,
        }

    def shape_lines(self, lines: Iterable[str | bytes]) -> Iterator[PredictionRow]:
        """Rows for a stream of output lines (blank lines skipped), lazily."""
        shape = self.shape_line
        for raw in lines:
            if not raw.strip():
                continue
            row = shape(raw)
            if row is not None:
                yield row

    def finish(self) -> JobTotals:
        """The totals with `missing` counted; call after the last line (repeatable)."""
        if self._expected is not None:
            unanswered = self._expected.as_int() & ~self._seen.as_int()
            self.totals.missing = unanswered.bit_count()
        return self.totals

    def missing_lines(self) -> Iterator[int]:
        """Expected input line numbers with no output line, ascending."""
        if self._expected is None:
            return
        unanswered = self._expected.as_int() & ~self._seen.as_int()
        data = unanswered.to_bytes((unanswered.bit_length() + 7) // 8, "little")
        for byte_index, byte in enumerate(data):
            if byte:
                for bit in range(8):
                    if byte >> bit & 1:
                        yield byte_index * 8 + bit


def _answer_text(content: Any) -> str | None:
    if type(content) is not dict:
        return None
    parts = content.get("parts")
    if type(parts) is dict:
        parts = [parts]
    elif type(parts) is not list:
        return None
    texts = [
        part["text"]
        for part in parts
        if type(part) is dict and type(part.get("text")) is str and not part.get("thought")
    ]
    return "".join(texts) if texts else None
