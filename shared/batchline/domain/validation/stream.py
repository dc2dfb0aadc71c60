"""Validate a requests file as a stream of lines: memory stays flat whatever its size."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

from batchline.domain.estimate import FileEstimate, InputTally
from batchline.domain.json_codec import loads
from batchline.domain.limits import SERVICE_LIMITS, JobLimits
from batchline.domain.validation.fast import FAST_ERRORS, UNSET, LineDecoder, line_decoder
from batchline.domain.validation.keys import KeyIndex, Reread
from batchline.domain.validation.rules import build_schema
from batchline.domain.validation.schema import Errors, Schema, describe, render_path

# A line longer than this is reported and skipped, so one huge line cannot exhaust memory.
MAX_LINE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ERRORS = 100
# Windows tools (Notepad, PowerShell's Out-File, Excel's "CSV UTF-8") open files with one.
UTF8_BOM = b"\xef\xbb\xbf"
_BOM_NOTE = (
    "the file starts with a UTF-8 byte order mark; it was ignored "
    "(the staged copy Vertex AI reads has none)"
)
TOP_LEVEL_MEMBERS = ("request", "key")

# Called with (1-based line number, the decoded line) for every line that passed.
OnRequest = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class Issue:
    """One problem: where (line, JSON path inside the line) and what was expected."""

    line: int | None
    path: str
    message: str

    def render(self, name: str, kind: str = "error") -> str:
        where = f"{name}:{self.line}" if self.line is not None else name
        inside = f"{self.path}: " if self.path else ""
        return f"{where}: {kind}: {inside}{self.message}"


@dataclass
class FileReport:
    """What validating one file found."""

    name: str
    lines: int = 0
    requests: int = 0
    bytes: int = 0
    error_count: int = 0
    invalid_lines: int = 0
    errors: list[Issue] = field(default_factory=list)
    # What was accepted but is worth saying (a byte order mark dropped): never invalidates.
    notes: list[Issue] = field(default_factory=list)
    max_errors: int = DEFAULT_MAX_ERRORS
    limits: JobLimits = SERVICE_LIMITS
    # The valid requests' input, summed as they pass (batchline.domain.estimate).
    inputs: InputTally = field(default_factory=InputTally)
    # What they will cost, once a caller that knows the model and prices set it.
    estimate: FileEstimate | None = None
    # Called once, when the file turns out invalid (the submit step stops staging it).
    on_first_error: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _last_line: int | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    @property
    def over_job_limits(self) -> bool:
        return self.requests > self.limits.max_requests or self.bytes > self.limits.max_bytes

    @property
    def jobs_needed(self) -> int:
        return self.limits.jobs_needed(self.requests, self.bytes)

    def add(self, line: int | None, path: str, message: str) -> None:
        if line is not None and line != self._last_line:
            self.invalid_lines += 1
        self._last_line = line
        if self.error_count == 0 and self.on_first_error is not None:
            self.on_first_error()
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(Issue(line, path, message))

    def summary(self) -> str:
        if self.valid:
            text = (
                f"{self.name}: valid: {_plural(self.requests, 'request')} "
                f"in {_plural(self.lines, 'line')}"
            )
        else:
            shown = len(self.errors)
            more = f" (first {shown} shown)" if shown < self.error_count else ""
            text = (
                f"{self.name}: invalid: {_plural(self.error_count, 'error')}{more} on "
                f"{_plural(self.invalid_lines, 'line')}; "
                f"{_plural(self.requests, 'valid request')}"
            )
        if self.over_job_limits:
            text += (
                f"; over one job's limits ({self.limits.describe()}): "
                f"it will be split into {self.jobs_needed} jobs"
            )
        return text

    def text(self) -> str:
        """The report as a person reads it: one line per note and error, then the summary."""
        lines = [issue.render(self.name, "note") for issue in self.notes]
        lines += [issue.render(self.name) for issue in self.errors]
        if self.error_count > len(self.errors):
            hidden = self.error_count - len(self.errors)
            lines.append(f"{self.name}: ... and {hidden} more errors not shown")
        lines.append(self.summary())
        if self.estimate is not None:
            lines.append(self.estimate.text())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "valid": self.valid,
            "lines": self.lines,
            "requests": self.requests,
            "bytes": self.bytes,
            "over_job_limits": self.over_job_limits,
            "jobs_needed": self.jobs_needed,
            "error_count": self.error_count,
            "invalid_lines": self.invalid_lines,
            "errors": [
                {"line": issue.line, "path": issue.path, "message": issue.message}
                for issue in self.errors
            ],
            "errors_truncated": self.error_count > len(self.errors),
            "notes": [
                {"line": issue.line, "path": issue.path, "message": issue.message}
                for issue in self.notes
            ],
            "inputs": self.inputs.to_json(),
            "estimate": self.estimate.to_json() if self.estimate is not None else None,
        }


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@cache
def request_schema() -> Schema:
    """Compiled once per process, on first use (not at import: keeps cold starts cheap)."""
    return build_schema()


def validate_stream(
    stream: IO[bytes],
    name: str,
    *,
    max_errors: int = DEFAULT_MAX_ERRORS,
    on_request: OnRequest | None = None,
    limits: JobLimits = SERVICE_LIMITS,
    on_first_error: Callable[[], None] | None = None,
) -> FileReport:
    """Validate a JSONL requests file read from a binary stream, line by line.

    `on_request` sees each valid line as it passes (the submit function stages it); a caller
    must still check `report.valid` at the end before using what it saw. `on_first_error`
    is called once, as soon as the file is known to be invalid.
    """
    with line_decoder() as fast, _in_large_blocks(stream) as lines:
        return _validate(lines, name, max_errors, on_request, limits, fast, on_first_error)


# How much of a local file is read at once: open()'s default buffer (8 KiB here) makes a read
# call for every few lines, 5% of validating them (bench/validate.py).
LOCAL_FILE_BLOCK = 1024 * 1024


@contextmanager
def _in_large_blocks(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    """A regular local file read from where it stands through a buffer of LOCAL_FILE_BLOCK,
    whatever its opener chose, and left where the validation stopped; any other stream (a
    pipe, a download, bytes in memory) as it is."""
    try:
        regular = isinstance(stream, io.BufferedReader) and stat.S_ISREG(
            os.fstat(stream.fileno()).st_mode
        )
    except (OSError, ValueError):  # io.UnsupportedOperation is an OSError
        regular = False
    if not regular:
        yield stream
        return
    start = stream.tell()
    # A second descriptor on the same open file: the caller's stream is never read around.
    with open(os.dup(stream.fileno()), "rb", buffering=LOCAL_FILE_BLOCK) as reader:
        reader.seek(start)
        try:
            yield reader
        finally:
            # To the end first: a seek inside the caller's read-ahead would not move the
            # descriptor, which the reader has moved.
            stream.seek(0, os.SEEK_END)
            stream.seek(reader.tell())


def validate_stream_precisely(
    stream: IO[bytes],
    name: str,
    *,
    max_errors: int = DEFAULT_MAX_ERRORS,
    on_request: OnRequest | None = None,
    limits: JobLimits = SERVICE_LIMITS,
) -> FileReport:
    """`validate_stream` with every line on the precise path (the reference the fast path is
    tested against)."""
    return _validate(stream, name, max_errors, on_request, limits, None, None)


def _validate(
    stream: IO[bytes],
    name: str,
    max_errors: int,
    on_request: OnRequest | None,
    limits: JobLimits,
    fast: LineDecoder | None,
    on_first_error: Callable[[], None] | None,
    tally: bool = True,
) -> FileReport:
    """`tally=False` leaves the estimate's tally out of the fast path (bench/validate.py's
    baseline, with types generated without counting)."""
    report = FileReport(
        name=name, max_errors=max_errors, limits=limits, on_first_error=on_first_error
    )
    keys = KeyIndex(_rereader(stream))
    validator = _LineValidator(report, request_schema(), on_request, keys)
    check, readline, limit = validator.check, stream.readline, MAX_LINE_BYTES
    # The fast path runs here, inline: most lines take it, and a call per line shows.
    # Without a fast path, none of these is used.
    fast_path = fast or _NO_FAST_PATH
    camel, either, clear = fast_path.camel, fast_path.either, fast_path.clear
    # What the fast types counted while decoding a line, cleared after each.
    line_text, line_media, line_bound = (
        fast_path.text_chars,
        fast_path.media_types,
        fast_path.output_bound,
    )
    first_use, add = keys.first_use, report.add
    inputs = report.inputs
    # The file's media parts by MIME type as spelled (a few distinct ones), sorted at the end.
    media_types: dict[object, int] = {}
    count_media = media_types.get
    text_chars = bounded = bound_sum = 0
    number = size = accepted = 0
    fast_since_check = False  # whether a line went the fast way since the last `check`
    while raw := readline(limit + 1):
        number += 1
        start = size
        size += len(raw)
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
            report.notes.append(Issue(1, "", _BOM_NOTE))
        if len(raw) > limit and not raw.endswith(b"\n"):
            size += _skip_rest_of_line(stream)
            add(number, "", f"line is longer than {limit} bytes")
            continue
        if fast is not None:
            try:
                key = camel(raw).key
            except FAST_ERRORS:
                clear()  # refused halfway: what it counted is no request's
                try:
                    key = either(raw).key  # rare: snake_case spellings
                except FAST_ERRORS:
                    clear()
                    key = _REFUSED  # the precise path tells why
            if key is not _REFUSED:
                # Valid: only its key can still be wrong.
                fast_since_check = True
                if key is not UNSET and (first := first_use(key, number, start)) != number:
                    add(number, "key", _duplicate_key(key, first))
                    clear()
                    continue
                accepted += 1
                if tally:
                    # What its decode counted.
                    text_chars += line_text[0]
                    if line_media:
                        for mime_type in line_media:
                            media_types[mime_type] = count_media(mime_type, 0) + 1
                        if len(media_types) > MEDIA_TYPES_HELD:
                            inputs.add_media_types(media_types)
                            media_types.clear()
                    if bound := line_bound[0]:
                        bounded += 1
                        bound_sum += bound
                line_text[0] = line_bound[0] = 0
                if line_media:
                    line_media.clear()
                if on_request is not None:
                    on_request(number, loads(raw))
                continue
        if fast_since_check:
            validator.saw_valid_line()
            fast_since_check = False
        if check(number, raw, start) is _STOP:
            drained, lines = _drain(stream)
            size, number = size + drained, number + lines
            break
    if fast_since_check:
        validator.saw_valid_line()
    report.requests += accepted
    inputs.add_counted(text_chars, bounded, bound_sum)
    inputs.add_media_types(media_types)
    inputs.requests = report.requests
    report.lines, report.bytes = number, size
    validator.finish()
    if report.bytes == 0:
        report.add(None, "", "the file is empty: expected one JSON request per line")
    elif report.requests == 0 and report.error_count == 0:
        report.add(None, "", "the file holds no request, only blank lines")
    return report


_STOP = object()
_REFUSED = object()


def _no_fast_path(raw: bytes) -> Any:
    raise AssertionError("the precise path decodes no line the fast way")


_NO_FAST_PATH = LineDecoder(_no_fast_path, _no_fast_path, [0], [], [0])
# Distinct MIME types counted as spelled before they are sorted into kinds: a file has a few;
# one that spells each part's differently is sorted as it goes, in flat memory.
MEDIA_TYPES_HELD = 64


class _NotJsonConstant(ValueError):
    """Python's json reads NaN and Infinity, which JSON (and Google's parser) does not have."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


_decoder = json.JSONDecoder(parse_constant=_refuse_constant)
# The C scanner behind json.loads (typeshed does not declare the attribute).
_scan: Callable[[str, int], tuple[Any, int]] = getattr(_decoder, "scan_once")  # noqa: B009


def _rereader(stream: IO[bytes]) -> Reread | None:
    """How the key index reads a line's key again, when the stream is cheap to seek: bytes in
    memory or a local file (not a pipe, nor a download that a seek would start again)."""
    try:
        cheap = isinstance(stream, io.BytesIO) or (stream.fileno() >= 0 and stream.seekable())
        base = stream.tell() if cheap else 0
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError
        return None
    if not cheap:
        return None

    def key_at(offset: int) -> object:
        here = stream.tell()
        try:
            stream.seek(base + offset)
            raw = stream.readline(MAX_LINE_BYTES + 1)
        finally:
            stream.seek(here)
        if offset == 0 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
        try:
            record = json.loads(raw)
        except ValueError:  # the file changed since: then it is not the same key
            return None
        return record.get("key") if type(record) is dict else None

    return key_at


class _LineValidator:
    __slots__ = ("cut_short", "first_seen", "keys", "on_request", "report", "schema")

    def __init__(
        self, report: FileReport, schema: Schema, on_request: OnRequest | None, keys: KeyIndex
    ) -> None:
        self.report = report
        self.schema = schema
        self.on_request = on_request
        self.keys = keys
        self.first_seen = False
        # (index in report.errors, JSON message) of the last line that ended inside a value.
        self.cut_short: tuple[int, str] | None = None

    def finish(self) -> None:
        """If the last non-blank line was cut short, say the file is truncated."""
        if self.cut_short is None:
            return
        index, reason = self.cut_short
        issue = self.report.errors[index]
        self.report.errors[index] = Issue(
            issue.line,
            "",
            f"the last line is truncated: the file ends inside a JSON value ({reason})",
        )

    def saw_valid_line(self) -> None:
        """A line the fast path accepted came since the last `check`."""
        self.first_seen = True
        self.cut_short = None

    def check(self, number: int, raw: bytes, offset: int) -> object:
        report = self.report
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.add(number, "", f"not valid UTF-8 (byte {exc.start + 1} of the line)")
            return None
        if text.isspace():
            return None
        first = not self.first_seen
        self.first_seen = True
        self.cut_short = None
        try:
            # The C scanner straight on the common clean line; json.loads' whitespace passes
            # and error wording only when it is not one.
            try:
                record, end = _scan(text, 0)
            except StopIteration:
                record, end = _decoder.decode(text), len(text)
            if end != len(text) and not text[end:].isspace():
                record = _decoder.decode(text)
        except json.JSONDecodeError as exc:
            return self._bad_json(number, text.strip(), exc, first)
        except RecursionError:
            report.add(number, "", "the JSON is nested too deeply")
            return None
        except _NotJsonConstant as exc:
            report.add(number, "", f'not valid JSON: {exc} is not a JSON value (write "{exc}")')
            return None
        if type(record) is not dict:
            if first and type(record) is list:
                report.add(number, "", _ARRAY_MESSAGE)
                return _STOP
            report.add(
                number, "", f'expected a JSON object {{"request": ...}}, got {describe(record)}'
            )
            return None
        errors: Errors = []
        request = record.get("request")
        if request is None:
            report.add(number, "request", 'missing: each line needs a "request" object')
        else:
            try:
                self.schema.root.check(request, "request", errors, 0)
            except RecursionError:
                errors.append(("request", "the JSON is nested too deeply"))
        if len(record) == 2 and "key" in record:
            key = record["key"]
            # A fresh key, the common case, inline; anything else gets its message.
            if (
                type(key) is not str
                or not key
                or self.keys.first_use(key, number, offset) != number
            ):
                self._key(number, key, errors, offset)
        elif len(record) > 1 or request is None:
            self._top_level(number, record, errors, offset)
        if errors:
            for path, message in errors:
                report.add(number, render_path(path), message)
            return None
        if request is not None:
            report.requests += 1
            report.inputs.add_request(request)
            if self.on_request is not None:
                self.on_request(number, record)
        return None

    def _top_level(self, number: int, record: dict[str, Any], errors: Errors, offset: int) -> None:
        for member, value in record.items():
            if member == "key":
                self._key(number, value, errors, offset)
            elif member != "request":
                hint = " (the model is chosen per job, not per line)" if member == "model" else ""
                errors.append(
                    (member, f'unknown member: a line holds "request" and an optional "key"{hint}')
                )

    def _key(self, number: int, value: Any, errors: Errors, offset: int) -> None:
        if type(value) is not str or not value:
            errors.append(("key", f"expected a non-empty string, got {describe(value)}"))
            return
        first = self.keys.first_use(value, number, offset)  # repeating it is harmless
        if first != number:
            errors.append(("key", _duplicate_key(value, first)))

    def _bad_json(self, number: int, text: str, exc: json.JSONDecodeError, first: bool) -> object:
        if first and text.startswith("["):
            self.report.add(number, "", _ARRAY_MESSAGE)
            return _STOP
        reason = _JSON_REASONS.get(exc.msg, exc.msg)
        if first and text == "{":
            self.report.add(number, "", _PRETTY_MESSAGE)
            return _STOP
        # Positions count from the unstripped line: an error past its last character, or a
        # string never closed, means the line stops inside a value.
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            message = f"the line is cut short: it ends inside a JSON value ({reason})"
            if len(self.report.errors) < self.report.max_errors:
                self.cut_short = (len(self.report.errors), reason)
        else:
            message = f"not valid JSON: {reason} at column {exc.colno}"
        self.report.add(number, "", message)
        return None


def _duplicate_key(key: str, first: int) -> str:
    return f"duplicate key {json.dumps(key)}: first used on line {first}"


_ARRAY_MESSAGE = (
    'the file is a JSON array, not JSON Lines: put one {"request": ...} object on each line'
)


# The standard library's wording, said in the user's terms.
_JSON_REASONS = {
    "Unterminated string starting at": "a string is never closed",
    "Invalid control character at": "a raw control character or line break inside a string",
    "Expecting value": "a value is missing",
}

_PRETTY_MESSAGE = (
    "the first line is only '{': the file looks like pretty-printed JSON, not JSON Lines: "
    "put each request on one line"
)


def _skip_rest_of_line(stream: IO[bytes]) -> int:
    skipped = 0
    while True:
        chunk = stream.readline(1024 * 1024)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _drain(stream: IO[bytes]) -> tuple[int, int]:
    """Read past the rest of a file not worth checking: its bytes and its lines."""
    total = lines = 0
    last = b"\n"
    while chunk := stream.read(1024 * 1024):
        total += len(chunk)
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    return total, lines + (last != b"\n")
