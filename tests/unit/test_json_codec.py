"""JSON read and written by msgspec and orjson, exactly as the standard library does it:
the staged lines and the rows files keep their bytes."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from batchline.domain.json_codec import dumps, dumps_line, dumps_text, loads
from batchline.domain.rows import PredictionShaper, row_line, row_to_json
from batchline.domain.staging import TAG_LABEL, staged_bytes, staged_line

pytestmark = pytest.mark.unit


def standard(value: Any) -> str:
    """What json.dumps writes, but null for NaN and the infinities: the one difference the
    codec keeps on purpose (no JSON text holds them, and BigQuery cannot load `NaN`)."""
    return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_finite(item) for item in value)
    return value


def outcome(write: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", write(value)
    except Exception as exc:  # the same kind of failure is part of "the same behaviour"
        return "error", type(exc)


floats = st.floats() | st.sampled_from(
    [1e-4, 9.99e-5, 1e-5, 2.5e-7, 1e16, 1e22, 5e-324, -0.0, float("nan"), float("inf")]
)
integers = st.integers() | st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30])
# Unpaired surrogates are included: json.dumps writes them, encoding them to UTF-8 fails.
texts = st.text() | st.sampled_from(["\ud800", "a\udfffb", "\u2028\u2029\x7f\x00\x1f", "é😀"])
scalars = st.none() | st.booleans() | integers | floats | texts
keys = texts | st.integers(-5, 5) | st.sampled_from([None, True, 1.5])
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_dumps_writes_what_json_dumps_writes(value: Any) -> None:
    assert outcome(dumps_text, value) == outcome(standard, value)
    assert outcome(dumps, value) == outcome(lambda v: standard(v).encode("utf-8"), value)
    line = outcome(lambda v: (standard(v) + "\n").encode("utf-8"), value)
    assert outcome(dumps_line, value) == line


@settings(max_examples=400, deadline=None)
@given(values)
def test_loads_reads_what_json_loads_reads(value: Any) -> None:
    text = standard(value)
    for raw in (text, text.encode("utf-8", "surrogatepass")):
        expected = outcome(json.loads, raw)
        got = outcome(loads, raw)
        # repr tells 1 from 1.0 and keeps NaN comparable.
        assert repr(got) == repr(expected), raw


@pytest.mark.parametrize(
    "raw", [b"NaN", b"[Infinity]", b"1e400", b'"\\ud800"', b"[1,]", b"", b"\xef\xbb\xbf{}", b"{"]
)
def test_loads_reads_or_refuses_the_edge_cases_as_json_does(raw: bytes) -> None:
    assert repr(outcome(loads, raw)) == repr(outcome(json.loads, raw))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=5), st.integers(1, 10**6))
@example({"labels": {"": None}}, 1)
@example({"labels": {TAG_LABEL: "7", "team": "a"}}, 2)
def test_staged_lines_hold_the_same_value(request: dict[str, Any], line: int) -> None:
    """Staged lines are read by Vertex AI, not compared: the same JSON value as json.dumps
    writes (a small float may be spelled 2.5e-7 rather than 2.5e-07)."""
    # A request's own labels are kept beside the tag (staging.tag_request).
    own = request.get("labels")
    tagged = {**request, "labels": {**(own if isinstance(own, dict) else {}), TAG_LABEL: str(line)}}
    expected = outcome(standard, {"request": tagged})
    # The validator refuses unpaired surrogates (UTF-8 cannot hold them): never staged.
    assume(expected[0] == "error" or _utf8(expected[1]))
    got = outcome(lambda r: staged_line(r, line), request)
    assert got[0] == expected[0]
    if expected[0] == "ok":
        assert repr(json.loads(got[1])) == repr(json.loads(expected[1]))
        raw = staged_bytes(request, line)
        assert raw.endswith(b"\n") and raw.decode("utf-8") == got[1] + "\n"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _benchmark_output_lines(count: int) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import complete as output_file
    finally:
        sys.path.pop(0)
    rng = random.Random(5)
    return [output_file.make_line(rng, line) for line in range(1, count + 1)]


def test_rows_files_keep_their_bytes() -> None:
    """Rows shaped from realistic output lines (answers, failures, blocks, thinking parts,
    scores in every float range) are written as json.dumps wrote them."""
    shaper = PredictionShaper(job_id="1", source_uri="gs://in/f.jsonl#1", model="m")
    lines = _benchmark_output_lines(500)
    lines += [
        '{"status": "", "response": {"candidates": [{"avgLogprobs": NaN, "score": 1e400}]}}',
        '{"status": "", "response": {"usageMetadata": {"totalTokenCount": 123456789012345678901}}}',
        '{"status": "", "response": {"candidates": [{"content": {"parts": [{"text": "\\ud83d"}]}}]}}',
        '{"status": "", "response": {"candidates": [{"avgLogprobs": -2.5e-07, "p": 1e-05}]}}',
    ]
    rows = 0
    for raw in lines:
        row = shaper.shape_line(raw)
        assert row is not None
        assert row == json.loads(standard(row)) or "NaN" in raw or "ud83d" in raw
        expected = outcome(standard, row)
        assert outcome(row_to_json, row) == expected
        assert outcome(row_line, row) == outcome(lambda r: (standard(r) + "\n").encode(), row)
        rows += 1
    assert rows == len(lines)


@pytest.mark.parametrize("hyphens", [0, 1, 23, 24, 25, 26, 200])
def test_a_small_float_after_many_hyphens_is_written_as_json_dumps_writes(hyphens: int) -> None:
    """The scan for orjson's spelling of small floats looks at hyphens one by one, then
    searches: a float is found wherever it comes."""
    for small in (-2.5e-07, 9.99e-05, 1.5e-05):
        # No hyphen of the text follows an "e": only the float's can be the one found.
        value = {"text": "a well-known fact " * hyphens, "score": small, "note": "1E-7"}
        assert dumps(value) == standard(value).encode("utf-8")
        assert dumps_text(value) == standard(value)
        assert dumps_line(value) == (standard(value) + "\n").encode("utf-8")
