"""The validator against the library's own JSON parser, and against arbitrary input."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from google.cloud import aiplatform_v1
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchline.domain.validation import request_schema_data as data
from batchline.domain.validation import validate_stream
from batchline.domain.validation.rules import SINGLETON_LISTS
from batchline.domain.validation.schema import Schema, render_path

pytestmark = pytest.mark.unit

SAMPLE_VALUES: dict[str, Any] = {
    "string": "a",
    "bytes": "aGVsbG8=",
    "bool": True,
    "int32": 3,
    "int64": "3",
    "uint32": 3,
    "uint64": "3",
    "float": 0.5,
    "double": 0.5,
    "message": {},
    "map": {},
    "struct": {"any": ["json", 1]},
    "value": [1, "two"],
    "list_value": [1, "two"],
    "duration": "1.5s",
    "timestamp": "2026-01-01T00:00:00Z",
    "field_mask": "a.b",
}


def sample(kind: str, repeated: bool, type_name: str) -> Any:
    if kind == "enum":
        value: Any = data.ENUMS[type_name][-1][0]
    else:
        value = SAMPLE_VALUES[kind]
    return [value] if repeated else value


def proto_class(full_name: str) -> Any:
    from google.protobuf import descriptor_pool, message_factory

    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


SCHEMA_ONLY = Schema({}, {}, SINGLETON_LISTS)
FIELDS = [
    (message, field[0], field[1], field)
    for message, fields in data.MESSAGES.items()
    if not message.endswith("Entry")
    for field in fields
]


@pytest.mark.parametrize(("message", "proto_name", "json_name", "field"), FIELDS)
def test_every_schema_field_is_accepted_in_both_spellings(
    message: str, proto_name: str, json_name: str, field: tuple[Any, ...]
) -> None:
    """A valid field is never rejected: the library's parser agrees the value is fine.

    The schema layer alone (service rules such as URI schemes are tested on their own).
    """
    aiplatform_v1.GenerateContentRequest  # noqa: B018 - registers the descriptors
    spec = SCHEMA_ONLY.messages[message]
    _, _, kind, repeated, type_name, _ = field
    value = sample(kind, repeated, type_name)
    for name in {proto_name, json_name}:
        json_format.ParseDict({name: value}, proto_class(message)())
        errors: list[Any] = []
        spec.check({name: value}, "x", errors, 0)
        at_field = [m for p, m in errors if render_path(p) == f"x.{name}"]
        assert at_field == [], f"{message}.{name}: {at_field}"


def _accepted_by_library(request: Any) -> bool:
    try:
        json_format.ParseDict(request, aiplatform_v1.GenerateContentRequest.pb()())
    except (json_format.ParseError, ValueError, TypeError, AttributeError):
        return False
    return True


V1 = "google.cloud.aiplatform.v1."
# Values of the right type for each kind; strictly valid where the validator is knowingly
# stricter than json_format (base64 it decodes leniently, enum numbers outside the enum).
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(min_size=1, max_size=5),
    "bool": st.booleans(),
    "int32": st.integers(-(2**31), 2**31 - 1) | st.integers(-99, 99).map(str),
    "int64": st.integers(-(2**63), 2**63 - 1).map(str) | st.integers(-99, 99),
    "float": st.floats(-1e30, 1e30) | st.sampled_from(["NaN", "Infinity", "0.25"]),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "bytes": st.binary(max_size=12).map(lambda b: __import__("base64").b64encode(b).decode()),
    "message": st.just({}),
    "map": st.just({}),
    "struct": st.just({"k": [1]}),
    "value": st.just(None),
    "list_value": st.just([1]),
    "duration": st.sampled_from(["1s", "0.5s", "-3s"]),
}
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0.5", "12", "x", "TEXT", "STOP", "1.5s", "NaN"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def typed_fields(message: str, extra_names: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """Objects of `message` with random fields: mostly well typed, sometimes anything."""
    choices = []
    for proto_name, json_name, kind, repeated, type_name, _ in data.MESSAGES[V1 + message]:
        if kind == "enum":
            typed: st.SearchStrategy[Any] = st.sampled_from([n for n, _ in data.ENUMS[type_name]])
        else:
            typed = TYPED.get(kind, st.just({}))
        value = st.lists(typed, max_size=2) if repeated else typed
        for name in {proto_name, json_name}:
            choices.append(st.tuples(st.just(name), value | value | value | json_values))
    for name in extra_names:
        choices.append(st.tuples(st.just(name), json_values))
    return st.lists(st.one_of(choices), max_size=4).map(dict)


requests = st.fixed_dictionaries(
    {
        "contents": st.lists(
            st.fixed_dictionaries(
                {
                    "role": st.sampled_from(["user", "model"]),
                    "parts": st.lists(
                        typed_fields("Part", ("txt",))
                        | st.fixed_dictionaries({"text": st.text(min_size=1, max_size=9)}),
                        max_size=3,
                    ),
                }
            ),
            min_size=1,
            max_size=2,
        ),
        "generationConfig": typed_fields("GenerationConfig", ("temprature",)),
    }
)


def _library_leniency(message: str) -> bool:
    """Errors where json_format (pure Python) is knowingly laxer than Google's servers.

    - an empty list or string where a message belongs: it iterates the value as if it were
      the object's keys;
    - one field under both spellings: the proto3 JSON conformance suite
      (FieldNameDuplicateDifferentCasing) requires refusing it;
    - true/false for a number or an enum: Python's bool is an int, so it becomes 0 or 1;
    - a number that is none of the enum's values: proto3 keeps it as an unknown value; the
      validator refuses it, since no valid request can mean it;
    - a fraction for an enum: json_format truncates it with int().
    """
    return (
        message.endswith(("got a list", "got the string ''"))
        or message.startswith("given twice")
        or message.endswith(("got true", "got false"))
        or ((message.startswith("-") or message[:1].isdigit()) and " number" in message)
        or " name, got the number " in message
    )


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(requests)
def test_schema_layer_agrees_with_the_librarys_parser(request: dict[str, Any]) -> None:
    """Without the service rules, the validator accepts exactly what json_format accepts."""
    errors: list[Any] = []
    SCHEMA_ONLY.root.check(request, "request", errors, 0)
    accepted = _accepted_by_library(request)
    quirk = accepted and all(_library_leniency(message) for _, message in errors)
    assert (not errors) == accepted or quirk, errors


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(requests)
def test_whatever_the_validator_accepts_the_library_parses(request: dict[str, Any]) -> None:
    report = validate_stream(io.BytesIO(json.dumps({"request": request}).encode()), "p.jsonl")
    if report.valid:
        assert _accepted_by_library(request), request


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_always_end_in_a_report(blob: bytes) -> None:
    report = validate_stream(io.BytesIO(blob), "random.bin")
    assert report.lines == blob.count(b"\n") + (0 if blob.endswith(b"\n") or not blob else 1)
    assert report.valid == (report.error_count == 0)
    if not blob:
        assert not report.valid


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_in_a_request_always_ends_in_a_report(value: Any) -> None:
    for record in ({"request": value}, {"request": {"contents": value}}, value):
        text = json.dumps(record).encode() + b"\n\x00\n"
        report = validate_stream(io.BytesIO(text), "random.jsonl")
        assert report.error_count >= 1  # the NUL line at least
