"""The validator's fast path against its precise path: the same verdict, the same report.

The fast path (msgspec types, request_types.py) accepts a line only when it is valid, and
sends every other line to the precise path; so a file's report must be exactly what the
precise path alone writes. Checked here on valid lines in every spelling, on the same lines
altered at random places, and on arbitrary JSON. Each test runs a bounded number of
examples in `make test`; BATCHLINE_DIFFERENTIAL_EXAMPLES=50000 runs as many as that.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchline.domain.validation import request_schema_data as data
from batchline.domain.validation import validate_stream
from batchline.domain.validation.fast import FAST_ERRORS, line_decoder
from batchline.domain.validation.stream import validate_stream_precisely

pytestmark = pytest.mark.unit

V1 = "google.cloud.aiplatform.v1."
EXAMPLES = int(os.environ.get("BATCHLINE_DIFFERENTIAL_EXAMPLES", "150"))
DIFFERENTIAL = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

base64_data = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode())
label_keys = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True).filter(
    lambda k: k != "batchline_line"
)
label_values = st.from_regex(r"[a-z0-9_-]{0,8}", fullmatch=True)
# Valid values the service rules constrain, by (message, field).
RULED: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    (V1 + "Part", "text"): st.text(min_size=1, max_size=12),
    (V1 + "Content", "role"): st.sampled_from(["user", "model"]),
    (V1 + "FileData", "mime_type"): st.sampled_from(["image/jpeg", "application/pdf"]),
    (V1 + "FileData", "file_uri"): st.sampled_from(["gs://b/o.jpg", "https://x.test/y.png"]),
    (V1 + "Blob", "mime_type"): st.just("image/png"),
    # Empty data is valid, but the fast path wants some (narrower, by design).
    (V1 + "Blob", "data"): st.binary(min_size=1, max_size=12).map(
        lambda b: base64.b64encode(b).decode()
    ),
    (V1 + "GenerationConfig", "temperature"): st.floats(0, 2),
    (V1 + "GenerationConfig", "top_p"): st.floats(0.01, 1),
    (V1 + "GenerationConfig", "top_k"): st.integers(1, 64) | st.floats(0.5, 64),
    (V1 + "GenerationConfig", "max_output_tokens"): st.integers(1, 2**31 - 1),
    # A ranged number as a decimal string is valid, but left to the precise path.
    (V1 + "GenerationConfig", "candidate_count"): st.integers(1, 8),
    (V1 + "GenerateContentRequest", "labels"): st.dictionaries(
        label_keys, label_values, max_size=3
    ),
}
REQUIRED = {
    V1 + "FileData": ("mime_type", "file_uri"),
    V1 + "Blob": ("mime_type", "data"),
    V1 + "GenerateContentRequest": ("contents",),
}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=8),
    "bool": st.booleans(),
    "bytes": base64_data,
    "int32": st.integers(-(2**31), 2**31 - 1) | st.integers(-99, 99).map(str),
    "uint32": st.integers(0, 2**32 - 1),
    # As strings, up to 18 digits (19) take the fast path: longer ones the precise path.
    "int64": st.integers(-(2**63), 2**63 - 1) | st.integers(-(10**18) + 1, 10**18 - 1).map(str),
    "uint64": st.integers(0, 2**64 - 1) | st.integers(0, 10**19 - 1).map(str),
    "float": st.floats(-1e30, 1e30),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "struct": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    "value": json_values,
    "list_value": st.lists(json_values, max_size=3),
    "duration": st.sampled_from(["1s", "0.5s", "-3.000000001s"]),
    "timestamp": st.just("2026-01-01T00:00:00Z"),
    "field_mask": st.just("a.b"),
}


def _entry(type_name: str) -> dict[str, tuple[str, str, str, bool, str, str]]:
    return {field[0]: field for field in data.MESSAGES[type_name]}


@st.composite
def valid_message(draw: st.DrawFn, name: str, depth: int = 0) -> dict[str, Any]:
    """A valid object of message `name`, its fields in random spellings."""
    fields = data.MESSAGES[name]
    required = REQUIRED.get(name, ())
    chosen = [f for f in fields if f[0] in required or draw(st.integers(0, 5)) == 0]
    if name == V1 + "GenerateContentRequest":
        # Valid requests name no model and no cached content (not supported in batch).
        chosen = [f for f in chosen if f[0] not in ("model", "cached_content")]
    # Oneofs: at most one member, exactly one for a Part's data.
    by_oneof: dict[str, list[Any]] = {}
    for field in fields:
        if field[5]:
            by_oneof.setdefault(field[5], []).append(field)
    for oneof, members in by_oneof.items():
        chosen = [f for f in chosen if f[5] != oneof]
        if (name == V1 + "Part" and oneof == "data") or draw(st.booleans()):
            chosen.append(draw(st.sampled_from(members)))
    obj: dict[str, Any] = {}
    for field in chosen:
        proto, json_name, kind, *_ = field
        if kind == "message" and depth >= 3 and proto not in required:
            continue
        spelling = draw(st.sampled_from([json_name, proto]))
        obj[spelling] = draw(valid_value(name, field, depth))
    return obj


@st.composite
def valid_value(draw: st.DrawFn, message: str, field: tuple[Any, ...], depth: int) -> Any:
    proto, _, kind, repeated, type_name, _ = field
    ruled = RULED.get((message, proto))
    if ruled is not None:
        one = ruled
    elif kind == "message":
        one = valid_message(type_name, depth + 1)
    elif kind == "enum":
        one = st.sampled_from([v for pair in data.ENUMS[type_name] for v in pair])
    elif kind == "map":
        value_field = _entry(type_name)["value"]
        one = st.dictionaries(
            st.text(max_size=4), valid_value(type_name, value_field, depth), max_size=2
        )
    else:
        one = SCALARS[kind]
    if not repeated or ((message, proto) in RULED and kind == "map"):
        return draw(one)
    minimum = 1 if proto in ("contents", "parts") else 0
    items = draw(st.lists(one, min_size=minimum, max_size=2))
    if proto == "parts" and len(items) == 1 and draw(st.booleans()):
        return items[0]  # the documented single-object form
    return items


valid_requests = valid_message(V1 + "GenerateContentRequest")
INTERESTING = (
    st.sampled_from(
        [
            None,
            "",
            "x",
            0,
            -1,
            1,
            1.5,
            2.5,
            2**31,
            2**63,
            2**64,
            "3",
            "-0",
            "1e3",
            "NaN",
            "Infinity",
            True,
            [],
            {},
            [None],
            {"k": None},
            "user",
            "model",
            "system",
            "gs://b",
            "gs://b/o",
            "http://x",
            "ftp://x",
            "aGVsbG8=",
            "aGVsbG8",
            "aGV-bG8_",
            "a=b",
            "HARM_CATEGORY_HARASSMENT",
            "BLOCK_NONE",
            99,
            "TEXT",
            "1.5s",
            "2026-01-01T00:00:00Z",
            "\ud800",
            "batchline_line",
            "A-Label",
            "x" * 70,
            {"text": "hi"},
            [{"text": "hi"}],
            {"mimeType": "a/b"},
        ]
    )
    | json_values
)
FIELD_NAMES = sorted({name for fields in data.MESSAGES.values() for f in fields for name in f[:2]})


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict | list):
        found.append(path)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found += _containers(item, (*path, key))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


ACTIONS = ("replace", "remove", "add", "twin", "unwrap")
# One change: (which container, what to do, which member, a name to add, a value).
changes = st.tuples(
    st.integers(0, 10**6),
    st.sampled_from(ACTIONS),
    st.integers(0, 10**6),
    st.sampled_from(FIELD_NAMES) | st.sampled_from(["txt", "model", "key"]),
    INTERESTING,
    st.booleans(),
)


def altered(line: dict[str, Any], steps: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The line with changes at places picked by number (drawn beforehand, so that what is
    drawn never depends on the line): a value replaced, a field removed, added (a schema
    name in either spelling, or an unknown one) or doubled under its other spelling, a list
    unwrapped."""
    line = copy.deepcopy(line)
    for where, action, member, name, value, as_copy in steps:
        containers = _containers(line)
        target = _at(line, containers[where % len(containers)])
        value = copy.deepcopy(value)
        if isinstance(target, list):
            if not target:
                target.append(value)
                continue
            index = member % len(target)
            if action == "remove":
                del target[index]
            elif action == "unwrap" and isinstance(target[index], list) and target[index]:
                target[index] = target[index][0]
            else:
                target[index] = value
            continue
        keys = list(target)
        if action == "add" or not keys:
            target[name] = value
            continue
        key = keys[member % len(keys)]
        if action == "remove":
            del target[key]
        elif action == "twin":
            twin = _twin(key)
            if twin:
                target[twin] = copy.deepcopy(target[key]) if as_copy else None
        elif action == "unwrap":
            if isinstance(target[key], list) and target[key]:
                target[key] = target[key][0]
        else:
            target[key] = value
    return line


def _twin(name: str) -> str | None:
    for fields in data.MESSAGES.values():
        for proto, json_name, *_ in fields:
            if proto != json_name and name in (proto, json_name):
                return json_name if name == proto else proto
    return None


@st.composite
def valid_lines(draw: st.DrawFn) -> dict[str, Any]:
    line: dict[str, Any] = {"request": draw(valid_requests)}
    if draw(st.booleans()):
        line["key"] = draw(
            st.sampled_from(["a", "b", "sku-1", "é"]) | st.text(min_size=1, max_size=5)
        )
    return line


def _reports(text: bytes) -> tuple[Any, Any]:
    """(report, lines seen) from the validator and from its precise path alone."""
    outcomes = []
    for validate in (validate_stream, validate_stream_precisely):
        seen: list[tuple[int, str]] = []
        report = validate(
            io.BytesIO(text),
            "f.jsonl",
            on_request=lambda n, r, seen=seen: seen.append((n, repr(r))),  # type: ignore[misc]
        )
        outcomes.append((report.to_json(), report.text(), seen))
    return outcomes[0], outcomes[1]


def _file(lines: list[Any]) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


def _fast_accepts(raw: bytes) -> bool:
    with line_decoder() as fast:
        for decode in (fast.camel, fast.either):
            try:
                decode(raw)
            except FAST_ERRORS:
                continue
            return True
    return False


@DIFFERENTIAL
@given(valid_lines())
def test_valid_lines_in_every_spelling_take_the_fast_path(line: dict[str, Any]) -> None:
    """Both spellings, parts as one object, int64 as strings, enums by number, base64 bytes:
    the precise path finds them valid, and so does the fast path, without sending them on."""
    raw = json.dumps(line).encode()
    report = validate_stream_precisely(io.BytesIO(raw), "f.jsonl")
    assert report.valid, report.errors
    assert _fast_accepts(raw), line


@DIFFERENTIAL
@given(
    st.lists(
        st.tuples(valid_lines(), st.lists(changes, min_size=0, max_size=3)), min_size=1, max_size=4
    )
)
def test_altered_lines_get_the_precise_paths_report(
    lines: list[tuple[dict[str, Any], list[tuple[Any, ...]]]],
) -> None:
    fast, precise = _reports(_file([altered(line, steps) for line, steps in lines]))
    assert fast == precise


@DIFFERENTIAL
@given(st.lists(json_values | st.builds(lambda v: {"request": v}, json_values), max_size=4))
def test_arbitrary_json_gets_the_precise_paths_report(lines: list[Any]) -> None:
    fast, precise = _reports(_file(lines))
    assert fast == precise


@DIFFERENTIAL
@given(
    st.lists(
        st.binary(max_size=80) | valid_lines().map(lambda v: json.dumps(v).encode()), max_size=4
    )
)
def test_arbitrary_bytes_get_the_precise_paths_report(lines: list[bytes]) -> None:
    fast, precise = _reports(b"\n".join(lines))
    assert fast == precise


def test_the_fast_path_is_not_fooled_by_what_only_the_precise_path_counts() -> None:
    """Nesting past the schema's depth, unpaired surrogates, a field under both spellings with
    one of them null, raw JSON that is not UTF-8: refused by the fast path, and reported (or
    not) by the precise path exactly as without it."""
    deep: dict[str, Any] = {"type": "OBJECT"}
    for _ in range(70):
        deep = {"type": "OBJECT", "items": deep}
    tool = {"functionDeclarations": [{"name": "f", "parameters": deep}]}
    text = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    lines = [
        {"request": {**text, "tools": [tool]}},
        {"request": {"contents": [{"parts": {"text": "\ud800"}}]}},
        {
            "request": {
                **text,
                "generationConfig": {"maxOutputTokens": None, "max_output_tokens": 5},
            }
        },
        {
            "request": {
                **text,
                "generationConfig": {"max_output_tokens": None, "maxOutputTokens": 5},
            }
        },
        b'{"request": {"contents": [{"parts": [{"functionCall": {"name": "f", "args": {"a": "\xff"}}}]}]}}',
        {"request": text, "key": "k"},
        {"request": text, "key": "k"},
    ]
    fast, precise = _reports(_file(lines))
    assert fast == precise
    assert len(fast[0]["errors"]) >= 4
