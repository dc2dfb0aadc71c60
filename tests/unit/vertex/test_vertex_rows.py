"""Input rows: the request JSON the service accepts, and the row errors it gives."""

from __future__ import annotations

import json

import pytest

from localcloud.vertex.echo import echo_with_nulls, part_keys_of
from localcloud.vertex.errors import ApiError, invalid_argument
from localcloud.vertex.rows import parse_line, parse_request, plan_input

pytestmark = pytest.mark.unit


def test_documented_sample_with_parts_as_one_object_is_accepted() -> None:
    line = '{"request": {"contents": [{"parts": {"text": "Give me a recipe."}, "role": "user"}]}}'
    row = parse_line(1, line)
    assert row.error is None
    assert row.canonical_request() == {
        "contents": [{"role": "user", "parts": [{"text": "Give me a recipe."}]}]
    }


def test_snake_case_camel_case_and_lower_case_enum_names_are_accepted() -> None:
    request = parse_request(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"file_data": {"file_uri": "gs://b/a.jpg", "mime_type": "image/jpeg"}},
                        {"fileData": {"fileUri": "gs://b/b.jpg", "mimeType": "image/jpeg"}},
                    ],
                }
            ],
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {
                "response_mime_type": "application/json",
                "responseSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
        }
    )
    assert [part.file_data.file_uri for part in request.contents[0].parts] == [
        "gs://b/a.jpg",
        "gs://b/b.jpg",
    ]
    assert request.generation_config.response_schema.properties["n"].type_.name == "INTEGER"


@pytest.mark.parametrize(
    ("request_json", "named"),
    [
        ({"contents": [{"role": "user", "parts": [{"txt": "typo"}]}]}, "txt"),
        ({"contents": [{"role": "user", "parts": [{"text": 5}]}]}, "text"),
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "user", "parts": []}]}, "parts"),
        ({"contents": [{"role": "robot", "parts": [{"text": "x"}]}]}, "robot"),
        (  # "Add labels to API calls": at most 64 labels of 63 characters
            {"contents": [{"parts": [{"text": "x"}]}], "labels": {f"k{n}": "v" for n in range(65)}},
            "at most 64 labels",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "labels": {"k": "v" * 64}}, "63"),
        ({"contents": [{"parts": [{"text": "a", "fileData": {"fileUri": "gs://b/x"}}]}]}, "data"),
        ({"contents": [{"parts": [{"fileData": {"fileUri": "gs://b/x"}}]}]}, "mimeType"),
        (
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"responseSchema": {"type": "OBJECT"}},
            },
            "responseMimeType",
        ),
    ],
)
def test_invalid_request_is_an_invalid_argument_naming_the_problem(
    request_json: dict[str, object], named: str
) -> None:
    row = parse_line(7, json.dumps({"request": request_json}))
    assert row.request is None and row.error is not None
    assert (row.error.http_code, row.error.status) == (400, "INVALID_ARGUMENT")
    assert named in row.error.message
    assert row.raw_request == request_json


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"key": "a"}', '{"request": "text"}'])
def test_line_without_a_request_object_is_an_error_row(line: str) -> None:
    row = parse_line(3, line)
    assert row.request is None
    assert isinstance(row.error, ApiError) and row.error.status == "INVALID_ARGUMENT"


def test_echo_gives_every_part_every_part_key_with_nulls() -> None:
    first = {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}
    second = {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/x"}}]}]}
    keys = frozenset(part_keys_of(first) | part_keys_of(second))
    assert echo_with_nulls(first, keys) == {
        "contents": [{"role": "user", "parts": [{"text": "a", "fileData": None}]}]
    }
    assert first == {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}  # not changed


def test_row_status_text_has_the_service_form() -> None:
    status = invalid_argument("Bad thing.").row_status()
    assert status == (
        'Bad Request: {"error": {"code": 400, "message": "Bad thing.", "status": "INVALID_ARGUMENT"}}'
    )


@pytest.mark.parametrize(
    ("request_json", "message", "path"),
    [
        (
            {"contents": [{"role": "user", "parts": [{"txt": "typo"}]}]},
            "Invalid JSON payload received. Unknown name \"txt\" at 'contents[0].parts[0]': "
            "Cannot find field.",
            "contents[0].parts[0]",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"cached_content": "c"}},
            'Invalid JSON payload received. Unknown name "cached_content" at '
            "'generation_config': Cannot find field.",
            "generation_config",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "priority": "high"},
            'Invalid JSON payload received. Unknown name "priority": Cannot find field.',
            None,
        ),
    ],
)
def test_an_unknown_field_is_refused_in_googles_words_with_its_path(
    request_json: dict[str, object], message: str, path: str | None
) -> None:
    """The wording of a real output line (python-genai#1313)."""
    row = parse_line(1, json.dumps({"request": request_json}))
    assert row.error is not None and row.error.message == message
    assert row.error.details is not None
    [violation] = row.error.details[0]["fieldViolations"]
    assert violation.get("field") == path and violation["description"] == message
    assert row.error.row_status().startswith('Bad Request: {"error": {"code": 400, "message": ')


def test_plan_input_copies_completed_output_lines_and_answers_the_rest() -> None:
    request = {"contents": [{"parts": [{"fileData": None, "text": "x"}], "role": "user"}]}
    completed = json.dumps({"status": "", "request": request, "response": {"candidates": []}})
    failed = json.dumps({"status": "Bad Request: {}", "request": request})
    unanswered = json.dumps({"status": "", "request": request})
    plain = json.dumps({"request": request})

    plan = plan_input([completed, failed, plain, unanswered, "not json"])

    assert plan.total == 5 and plan.copied == [completed]
    assert [row.line_number for row in plan.to_answer] == [2, 3, 4, 5]
    assert plan.to_answer[0].request is not None  # the echo's explicit nulls parse
    assert plan.to_answer[0].request.contents[0].parts[0].text == "x"
