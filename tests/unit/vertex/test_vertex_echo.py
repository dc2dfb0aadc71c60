"""The echoed request in the service's normalisation or the user's own spelling, and labels."""

from __future__ import annotations

import json

import pytest

from localcloud.vertex.echo import RequestEcho
from localcloud.vertex.rows import parse_line

pytestmark = pytest.mark.unit

SENT = {
    "contents": [{"role": "user", "parts": {"text": "Describe: red kettle"}}],
    "generation_config": {"max_output_tokens": 64},
    "labels": {"line": "1", "team": "red"},
}


def rows(*requests: dict[str, object]) -> list:
    return [parse_line(n, json.dumps({"request": r})) for n, r in enumerate(requests, start=1)]


def test_normalized_echo_is_camel_case_with_sorted_keys() -> None:
    [row] = rows(SENT)
    echoed = RequestEcho([row]).of(row)
    assert json.dumps(echoed) == json.dumps(
        {
            "contents": [{"parts": [{"text": "Describe: red kettle"}], "role": "user"}],
            "generationConfig": {"maxOutputTokens": 64},
            "labels": {"line": "1", "team": "red"},
        }
    )


def test_as_sent_echo_keeps_the_spelling_and_the_single_parts_object() -> None:
    [row] = rows(SENT)
    echoed = RequestEcho([row], mode="as_sent").of(row)
    assert json.dumps(echoed) == json.dumps(SENT, sort_keys=True)


def test_a_key_past_the_unique_value_limit_is_left_out_of_every_echo() -> None:
    many = rows(*({**SENT, "labels": {"line": str(n), "team": "red"}} for n in range(4)))
    echo = RequestEcho(many, drop_labels="past_unique_limit", unique_value_limit=3)
    assert echo.dropped_label_keys == {"line"}
    assert [echo.of(row)["labels"] for row in many] == [{"team": "red"}] * 4
    within = RequestEcho(many, drop_labels="past_unique_limit", unique_value_limit=4)
    assert [within.of(row)["labels"]["line"] for row in many] == ["0", "1", "2", "3"]


def test_all_labels_can_be_left_out_and_a_bad_line_is_echoed_as_it_was() -> None:
    [row] = rows(SENT)
    bad = parse_line(2, "not json")
    echo = RequestEcho([row, bad], drop_labels="all")
    assert "labels" not in echo.of(row)
    assert echo.of(bad) == "not json"
