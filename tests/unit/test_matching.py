"""Matching echoed requests to their input lines when the line tag did not come back."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchline.domain.input_lines import InputLine
from batchline.domain.matching import RequestIndex, canonical_request

pytestmark = pytest.mark.unit


def test_single_object_parts_and_snake_case_match_the_echoed_form() -> None:
    given_form = {
        "contents": [{"role": "user", "parts": {"text": "hi"}}],
        "system_instruction": {"parts": {"text": "be brief"}},
        "generation_config": {"max_output_tokens": 5, "stop_sequences": []},
    }
    echoed = {
        "contents": [{"parts": [{"fileData": None, "text": "hi"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "be brief", "inlineData": None}], "role": None},
        "generationConfig": {"maxOutputTokens": 5, "temperature": None},
        "tools": [],
    }
    assert canonical_request(given_form) == canonical_request(echoed)
    assert canonical_request(given_form) != canonical_request(
        {"contents": [{"parts": {"text": "x"}}]}
    )


def test_identical_requests_in_the_input_map_to_their_lines_in_order() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "same"}]}]}
    index = RequestIndex.from_input_lines(
        [InputLine(3, request, "a"), InputLine(9, request, "b"), InputLine(4, {"x": 1}, None)]
    )
    assert index.take(copy.deepcopy(request)) == 3
    assert index.take(copy.deepcopy(request)) == 9
    assert index.take(copy.deepcopy(request)) is None
    assert index.keys == {3: "a", 9: "b"}


def test_json_values_keep_their_own_names_and_labels_do_not_count() -> None:
    with_schema = {
        "contents": [{"role": "user", "parts": [{"text": "tag it"}]}],
        "generation_config": {
            "response_mime_type": "application/json",
            "response_json_schema": {"type": "object", "properties": {"first_name": {}}},
        },
        "labels": {"batchline_line": "7", "team": "a"},
    }
    echoed = {
        "contents": [{"parts": [{"text": "tag it", "fileData": None}], "role": "user"}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object", "properties": {"first_name": {}}},
        },
    }
    assert canonical_request(with_schema) == canonical_request(echoed)
    renamed = copy.deepcopy(echoed)
    renamed["generationConfig"]["responseJsonSchema"]["properties"] = {"firstName": {}}
    assert canonical_request(renamed) != canonical_request(with_schema), (
        "a JSON Schema's property names are the user's data, not field names"
    )


def test_enums_int64_strings_and_integral_floats_compare_by_value() -> None:
    given_form = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {
            "maxOutputTokens": "64",
            "temperature": 1,
            "responseSchema": {"type": "object"},
        },
        "safetySettings": [{"category": 1, "threshold": "block_none"}],
    }
    echoed = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {
            "maxOutputTokens": 64,
            "temperature": 1.0,
            "responseSchema": {"type": "OBJECT"},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    }
    assert canonical_request(given_form) == canonical_request(echoed)


_texts = st.text(min_size=1, max_size=12)
_parts = st.lists(
    st.one_of(
        st.builds(lambda text: {"text": text}, _texts),
        st.builds(
            lambda uri, mime: {"file_data": {"file_uri": f"gs://b/{uri}", "mime_type": mime}},
            _texts,
            st.sampled_from(["image/png", "video/mp4", "application/pdf"]),
        ),
    ),
    min_size=1,
    max_size=3,
)
_requests = st.builds(
    lambda contents, budget, temperature, labels: {
        "contents": [{"role": "user", "parts": parts} for parts in contents],
        "generation_config": {
            key: value
            for key, value in (("max_output_tokens", budget), ("temperature", temperature))
            if value is not None
        },
        "labels": labels,
    },
    st.lists(_parts, min_size=1, max_size=3),
    st.one_of(st.none(), st.integers(1, 8192)),
    st.one_of(st.none(), st.floats(0, 2, allow_nan=False, width=32)),
    st.dictionaries(st.sampled_from(["batchline_line", "team"]), _texts, max_size=2),
)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def _service_echo(value: Any) -> Any:
    """The service's normalisation: camelCase names, explicit nulls, int64 as text, no labels."""
    if isinstance(value, dict):
        echoed = {_camel(key): _service_echo(item) for key, item in value.items()}
        echoed.pop("labels", None)
        if "text" in echoed or "fileData" in echoed:
            echoed.setdefault("text", None)
            echoed.setdefault("fileData", None)
        if "maxOutputTokens" in echoed:
            echoed["maxOutputTokens"] = str(echoed["maxOutputTokens"])
        return echoed
    if isinstance(value, list):
        return [_service_echo(item) for item in value]
    return value


@given(_requests)
def test_a_request_and_the_services_echo_of_it_have_one_canonical_form(request: Any) -> None:
    assert canonical_request(_service_echo(request)) == canonical_request(request)


@given(_requests, _requests)
def test_requests_that_differ_for_the_model_keep_different_forms(a: Any, b: Any) -> None:
    def model_input(request: Any) -> Any:
        echoed = _service_echo(request)
        config = echoed["generationConfig"]
        config.update({k: float(v) for k, v in config.items() if k == "temperature"})
        config.update({k: int(v) for k, v in config.items() if k == "maxOutputTokens"})
        # A zero value and no value are one (proto3 JSON may leave a default out of an echo).
        echoed["generationConfig"] = {k: v for k, v in config.items() if v != 0}
        return echoed

    if model_input(a) != model_input(b):
        assert canonical_request(a) != canonical_request(b)


def test_the_index_holds_a_hash_per_request_not_the_request() -> None:
    long_prompt = {"contents": [{"parts": [{"text": "p" * 100_000}]}]}
    index = RequestIndex.from_input_lines(InputLine(n, long_prompt, None) for n in range(1, 4))
    assert len(index) == 3
    assert all(isinstance(key, int) for key in index._lines)
    assert [index.take(long_prompt) for _ in range(4)] == [1, 2, 3, None]
