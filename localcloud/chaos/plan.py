"""What the chaos suite uploads, and what each upload must end as.

Files of mixed sizes, valid and invalid, under names Cloud Storage allows but HTTP headers
do not carry as they are (CJK, emoji, spaces, `#`, `?`, a newline, the longest name), one file
split into parts, one with a byte order mark, one of repeated identical lines, and one name
uploaded twice (the second generation once the first is under way). The full plan is what
`make chaos` runs; the small one is the bounded subset `make test` runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SUCCEEDED = "job.succeeded"
REJECTED = "file.rejected"
FAILED = "job.failed"
# The per-job request limit the suite sets, so that the split file makes several parts.
MAX_REQUESTS_PER_JOB = 100
LONGEST_NAME = "chaos/long-" + "é" * 503 + ".jsonl"  # 1,023 bytes of UTF-8: within 1,024


@dataclass(frozen=True)
class Upload:
    """One object generation to write and the outcome it must have.

    `lines` is the number of requests (rows expected when it succeeds); `error_lines` the
    lines its rejection report must name; `wave` 2 is written once wave 1's generation of the
    same name is under way; `wave` 3 is a probe (see `probe`).
    """

    name: str
    data: bytes
    outcome: str
    lines: int = 0
    error_lines: tuple[int, ...] = ()
    wave: int = 1

    @property
    def parts(self) -> int:
        return -(-self.lines // MAX_REQUESTS_PER_JOB) if self.outcome == SUCCEEDED else 0


def request_line(tag: str, number: int) -> bytes:
    request = {"contents": [{"role": "user", "parts": [{"text": f"{tag}: line {number}"}]}]}
    return json.dumps({"request": request}, ensure_ascii=False).encode()


def valid(name: str, lines: int, *, wave: int = 1) -> Upload:
    body = b"".join(request_line(name, n) + b"\n" for n in range(1, lines + 1))
    return Upload(name, body, SUCCEEDED, lines, wave=wave)


def with_errors(name: str, lines: int, bad: dict[int, bytes]) -> Upload:
    """`lines` lines, those in `bad` replaced by what is given there."""
    body = b"".join(bad.get(n, request_line(name, n)) + b"\n" for n in range(1, lines + 1))
    return Upload(name, body, REJECTED, lines - len(bad), tuple(sorted(bad)))


def _unknown_field(number: int) -> bytes:
    line = json.loads(request_line("typo", number))
    line["request"]["generationConfig"] = {"temprature": 0.2}
    return json.dumps(line).encode()


def _sample(name: str, sample: str, outcome: str, lines: int) -> Upload:
    expected: tuple[int, ...] = ()
    if outcome == REJECTED:
        errors = json.loads((SAMPLES / "broken_requests.expected.json").read_text())["errors"]
        expected = tuple(sorted({error["line"] for error in errors}))
    return Upload(name, (SAMPLES / sample).read_bytes(), outcome, lines, expected)


def probe(number: int, parts: int) -> Upload:
    """A file of `parts` parts written once everything else settled, while a kill point has
    not been reached (which steps meet which calls depends on timing): with the running-jobs
    cap free, its submit creates the first part's job and poll ticks the rest."""
    return valid(f"chaos/probes/{number}.jsonl", parts * MAX_REQUESTS_PER_JOB, wave=3)


def uploads(scale: str) -> list[Upload]:
    """The uploads of the `full` or the `small` plan."""
    if scale not in ("full", "small"):
        raise ValueError(f"scale is full or small, not {scale!r}")
    full = scale == "full"
    sizes = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 25, 30, 35, 40, 45, 50, 60, 75, 90, 99]
    if not full:
        sizes = [1, 7, 40]
    plan = [valid(f"chaos/sizes/{size:03d}.jsonl", size) for size in sizes]
    plan += [
        valid("chaos/split.jsonl", 250 if full else 210),
        Upload(
            "chaos/windows-bom.jsonl",
            b"\xef\xbb\xbf" + valid("bom", 4).data,
            SUCCEEDED,
            4,
        ),
        Upload("chaos/repeats.jsonl", (request_line("same", 0) + b"\n") * 12, SUCCEEDED, 12),
        valid("chaos/レビュー 評価 😀.jsonl", 3),
        valid("chaos/twice.jsonl", 6),
        valid("chaos/twice.jsonl", 9, wave=2),
        _sample("chaos/samples/text.jsonl", "text_requests.jsonl", SUCCEEDED, 10),
        _sample("chaos/bad/broken.jsonl", "broken_requests.jsonl", REJECTED, 2),
        with_errors("chaos/bad/not json.jsonl", 10, {3: b'{"request": {"contents": ['}),
        with_errors("chaos/bad/last-line.jsonl", 130, {129: _unknown_field(129)}),
    ]
    if full:
        plan += [
            valid("chaos/spaces #hash ?query & more.jsonl", 3),
            valid(LONGEST_NAME, 2),
            valid("chaos/sizes/120.jsonl", 120),
            valid("chaos/sizes/1000.jsonl", 1000),
            _sample("chaos/samples/multimodal.jsonl", "multimodal_requests.jsonl", SUCCEEDED, 2),
            _sample("chaos/bad/壊れた.jsonl", "broken_requests.jsonl", REJECTED, 2),
            _sample("chaos/bad/two\nlines.jsonl", "broken_requests.jsonl", REJECTED, 2),
            with_errors("chaos/bad/typo.jsonl", 8, {5: _unknown_field(5)}),
            with_errors("chaos/bad/not an object.jsonl", 4, {2: b"[1, 2, 3]", 4: b'"text"'}),
        ]
    return plan
