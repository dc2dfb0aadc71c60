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
  count a null as 0. cached_tokens (cachedContentTokenCount, implicit caching) are part of
  prompt_tokens; tool_use_prompt_tokens (toolUsePromptTokenCount) are not.
- processed_time: RFC 3339 in UTC with a "Z" ("2024-11-01T18:13:16.826000Z").
- request: the echoed request as the service returned it, minus Batchline's own tag label
  (and minus `labels` altogether when the tag was the only label).
- request and response stay JSON values (dicts); serialise the whole row once to load it.
- response_json, response_json_error: the answer as a JSON value when the request asked for
  JSON or the answer is a JSON document, and why an answer asked to be JSON is not
  (batchline.domain.structured); both null on FAILED and BLOCKED rows, whose error says why.
  The shaper sees the echoed request of each output line, so each answer is judged by the
  generationConfig it was asked with.

Joining outputs to input lines: each staged request carries its input line number in the
label staging.TAG_LABEL, since the output order is not the input order. Output without the
tag (jobs Batchline did not submit) is matched by a matching.RequestIndex.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import IO, Any, Final, TypedDict

from batchline.domain.json_codec import dumps_line, dumps_text, loads
from batchline.domain.linesets import LineSet, numbers_of
from batchline.domain.matching import RequestIndex
from batchline.domain.staging import TAG_LABEL
from batchline.domain.structured import structured_answer
from batchline.domain.totals import JobTotals

__all__ = [
    "BLOCKING_FINISH_REASONS",
    "PredictionRow",
    "PredictionShaper",
    "Status",
    "row_line",
    "row_to_json",
    "write_rows",
]

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
    attempt: int
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
    response_json: Any
    response_json_error: str | None
    cached_tokens: int | None
    tool_use_prompt_tokens: int | None


def row_to_json(row: PredictionRow) -> str:
    """One newline-delimited JSON line for a BigQuery load job (JSON columns stay nested):
    compact, non-ASCII as is (json.dumps' text, written by orjson: see json_codec)."""
    return dumps_text(row)


def row_line(row: PredictionRow) -> bytes:
    """`row_to_json(row)` as the UTF-8 line a rows file holds, newline included."""
    return dumps_line(row)


def write_rows(
    shaper: PredictionShaper,
    lines: Iterable[bytes],
    sink: IO[bytes],
    on_row: Callable[[PredictionRow, bytes], None] | None = None,
) -> int:
    """Shape output lines into rows and write them to `sink` as newline-delimited JSON (what
    the complete step loads); the number of rows written. `on_row` sees each row with the
    output line it came from (the complete step keeps the failed ones for a resume)."""
    count = 0
    write, shape = sink.write, shaper.shape_line
    for raw in lines:
        # A blank line (only ASCII whitespace, as bytes.strip drops): isspace stops at the
        # first byte of a line that is not, where strip would copy the whole line.
        if not raw or raw.isspace():
            continue
        row = shape(raw)
        if row is None:
            continue
        write(row_line(row))
        count += 1
        if on_row is not None:
            on_row(row, raw)
    return count


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
    was given (a part's line numbers, from its index); without them `missing` stays 0.
    `request_index` matches output lines whose tag label did not come back: an index, or a
    function that builds one, called on the first such line (most jobs never need it).
    `fallback_time` (say, the job's end time) fills processed_time when a line lacks one.
    `long_context_threshold`: the model's prompt size above which a request is billed at
    its long-context rates (pricing.ModelPrice); the totals keep such requests' tokens apart.
    """

    def __init__(
        self,
        *,
        job_id: str,
        source_uri: str,
        attempt: int = 1,
        model: str | None = None,
        keys: Mapping[int, str] | None = None,
        expected_lines: Iterable[int] | None = None,
        request_index: RequestIndex | Callable[[], RequestIndex] | None = None,
        fallback_time: datetime | None = None,
        long_context_threshold: int | None = None,
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.source_uri = source_uri
        self.model = model
        ready = request_index if isinstance(request_index, RequestIndex) else None
        self._keys: Mapping[int, str] = (
            keys if keys is not None else ready.keys if ready is not None else {}
        )
        self._index = ready
        self._build_index = request_index if callable(request_index) else None
        self._fallback_time = (
            fallback_time.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            if fallback_time is not None
            else None
        )
        self._seen = LineSet()
        self._expected = LineSet.of(expected_lines) if expected_lines is not None else None
        self.totals = JobTotals()
        self._long_context_threshold = long_context_threshold

    def shape_line(self, raw: str | bytes) -> PredictionRow | None:
        """The row for one output line; None for a duplicate or an unreadable line."""
        try:
            record = loads(raw)
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
        if input_line is None:
            input_line = self._match(request)
        if input_line is None:
            self.totals.unmatched += 1
        elif not self._seen.add(input_line):
            self.totals.duplicates += 1
            return None
        row = self._row(record, request, input_line)
        self.totals.add(row, self._long_context_threshold)
        return row

    def _match(self, request: Any) -> int | None:
        """The input line of an untagged echo: the next unclaimed line with that request."""
        if self._index is None:
            if self._build_index is None:
                return None
            self._index = self._build_index()
        while (number := self._index.take(request)) is not None:
            if number not in self._seen:  # a tagged line may have claimed it already
                return number
        return None

    def _row(self, record: dict[str, Any], request: Any, input_line: int | None) -> PredictionRow:
        status_text = record.get("status")
        response = record.get("response")
        error: str | None = None
        first: Any = None
        finish_reason = response_text = model_version = None
        prompt_tokens = output_tokens = thoughts_tokens = total_tokens = None
        cached_tokens = tool_use_prompt_tokens = None
        if type(response) is dict:
            model_version = response.get("modelVersion")
            usage = response.get("usageMetadata")
            if type(usage) is dict:
                prompt_tokens = _count(usage.get("promptTokenCount"))
                output_tokens = _count(usage.get("candidatesTokenCount"))
                thoughts_tokens = _count(usage.get("thoughtsTokenCount"))
                total_tokens = _count(usage.get("totalTokenCount"))
                cached_tokens = _count(usage.get("cachedContentTokenCount"))
                tool_use_prompt_tokens = _count(usage.get("toolUsePromptTokenCount"))
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
        response_json: Any = None
        response_json_error: str | None = None
        if status is Status.SUCCEEDED:
            response_json, response_json_error = structured_answer(
                request, response_text, finish_reason
            )
        processed = record.get("processed_time") or record.get("processedTime")
        processed_time = _utc_time(processed) if type(processed) is str else None
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
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
            "response_json": response_json,
            "response_json_error": response_json_error,
            "cached_tokens": cached_tokens,
            "tool_use_prompt_tokens": tool_use_prompt_tokens,
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
            return iter(())
        return numbers_of(self._expected.as_int() & ~self._seen.as_int())


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
