"""The request validator: what a user sees for good and bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from batchline.domain.limits import JobLimits
from batchline.domain.validation import FileReport, stream, validate_stream

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "docs"


def check(text: str | bytes, name: str = "in.jsonl", **kwargs: object) -> FileReport:
    data = text.encode() if isinstance(text, str) else text
    return validate_stream(io.BytesIO(data), name, **kwargs)  # type: ignore[arg-type]


def line(request: object, **extra: object) -> str:
    return json.dumps({"request": request, **extra})


TEXT = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


@pytest.mark.parametrize("sample", ["text_requests.jsonl", "multimodal_requests.jsonl"])
def test_documentation_samples_are_valid(sample: str) -> None:
    report = check((FIXTURES / sample).read_bytes(), sample)
    assert report.valid, [issue.render(sample) for issue in report.errors]
    assert report.requests == sum(1 for raw in (FIXTURES / sample).read_text().splitlines() if raw)


def test_bigquery_request_column_sample_is_a_valid_request() -> None:
    request = json.loads((FIXTURES / "bigquery_request_column.json").read_text())
    assert check(line(request)).valid


def test_echoed_request_with_explicit_nulls_is_valid() -> None:
    """The service echoes requests with nulls for unset fields; null means unset."""
    output = json.loads((FIXTURES / "prediction_output_line.json").read_text())
    assert check(line(output["request"])).valid


def content(**part: object) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [part]}]}


def with_config(**config: object) -> dict[str, object]:
    return {**TEXT, "generationConfig": config}


BROKEN = [
    # (request or whole-line text, JSON path in the message, words the message must hold)
    (
        with_config(temprature=0.3),
        "request.generationConfig.temprature",
        'did you mean "temperature"',
    ),
    (with_config(temperature="warm"), "request.generationConfig.temperature", "expected a number"),
    (with_config(temperature=2.5), "request.generationConfig.temperature", "between 0 and 2"),
    (with_config(topP=0), "request.generationConfig.topP", "greater than 0"),
    (with_config(top_p=1.5), "request.generationConfig.top_p", "at most 1"),
    (with_config(maxOutputTokens=0), "request.generationConfig.maxOutputTokens", "positive"),
    (with_config(maxOutputTokens=1.5), "request.generationConfig.maxOutputTokens", "integer"),
    (with_config(candidateCount=-1), "request.generationConfig.candidateCount", "positive"),
    (with_config(topK=0), "request.generationConfig.topK", "positive"),
    (with_config(seed=True), "request.generationConfig.seed", "expected an integer"),
    (
        with_config(maxOutputTokens=2**31),
        "request.generationConfig.maxOutputTokens",
        "out of range",
    ),
    (with_config(stopSequences="END"), "request.generationConfig.stopSequences", "expected a list"),
    (with_config(responseModalities="TEXT"), "request.generationConfig.responseModalities", "list"),
    (
        with_config(responseModalities=["WORDS"]),
        "request.generationConfig.responseModalities[0]",
        "Modality",
    ),
    (with_config(topK=1, top_k=2), "request.generationConfig.top_k", "given twice"),
    ({"contents": []}, "request.contents", "at least one content"),
    ({"contents": {"parts": [{"text": "x"}]}}, "request.contents", "expected a list"),
    ({"systemInstruction": {"parts": [{"text": "x"}]}}, "request.contents", "missing"),
    (
        {"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
        "request.contents[0].role",
        '"user" or "model"',
    ),
    (
        {"contents": [{"role": "user", "parts": []}]},
        "request.contents[0].parts",
        "at least one part",
    ),
    ({"contents": [{"role": "user", "parts": [None]}]}, "request.contents[0].parts[0]", "null"),
    (
        {"contents": [{"role": "user", "parts": ["hi"]}]},
        "request.contents[0].parts[0]",
        "expected an object",
    ),
    (content(), "request.contents[0].parts[0]", "one kind of data"),
    (content(text=""), "request.contents[0].parts[0].text", "empty text"),
    (content(text=5), "request.contents[0].parts[0].text", "expected a string"),
    (
        content(text="a", inlineData={"mimeType": "image/png", "data": "aGk="}),
        "request.contents[0].parts[0].inlineData",
        "only one",
    ),
    (
        content(fileData={"fileUri": "gs://b/o"}),
        "request.contents[0].parts[0].fileData.mimeType",
        "needs a mimeType",
    ),
    (
        content(fileData={"mimeType": "image/png"}),
        "request.contents[0].parts[0].fileData.fileUri",
        "needs a fileUri",
    ),
    (
        content(fileData={"mimeType": "image/png", "fileUri": "s3://b/o"}),
        "request.contents[0].parts[0].fileData.fileUri",
        "gs://",
    ),
    (
        content(file_data={"mime_type": "image/png", "file_uri": "gs://bucket"}),
        "request.contents[0].parts[0].file_data.fileUri",
        "object is missing",
    ),
    (
        content(inlineData={"mimeType": "image/png", "data": "not base64!"}),
        "request.contents[0].parts[0].inlineData.data",
        "base64",
    ),
    (
        content(inlineData={"mimeType": "image/png"}),
        "request.contents[0].parts[0].inlineData.data",
        "needs base64 data",
    ),
    (content(text="x", thought="yes"), "request.contents[0].parts[0].thought", "true or false"),
    (
        content(text="x", videoMetadata={"startOffset": "ten"}),
        "request.contents[0].parts[0].videoMetadata.startOffset",
        "duration",
    ),
    (
        {**TEXT, "safetySettings": [{"category": "HARM_CATEGORY_FUN", "threshold": "BLOCK_NONE"}]},
        "request.safetySettings[0].category",
        "HarmCategory",
    ),
    (
        {
            **TEXT,
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "BLOB"}}]}],
        },
        "request.tools[0].functionDeclarations[0].parameters.type",
        "Type",
    ),
    ({**TEXT, "labels": {"Team": "x"}}, "request.labels.Team", "label key"),
    ({**TEXT, "labels": {"team": "X Y"}}, "request.labels.team", "label value"),
    ({**TEXT, "labels": {"team": 3}}, "request.labels.team", "expected a string"),
    ({**TEXT, "labels": {"batchline_line": "1"}}, "request.labels.batchline_line", "reserved"),
    (
        {**TEXT, "model": "publishers/google/models/gemini-3.5-flash"},
        "request.model",
        "may not name a model",
    ),
    # Explicit context caching is not supported in batch prediction (VERTEX_BATCH.md, "Ends,
    # exports and resume": https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini).
    (
        {**TEXT, "cachedContent": "projects/p/locations/l/cachedContents/1"},
        "request.cachedContent",
        "context caching is not supported in batch",
    ),
    (
        {**TEXT, "cached_content": "projects/p/locations/l/cachedContents/1"},
        "request.cached_content",
        "context caching is not supported in batch",
    ),
    ({**TEXT, "prompt": "hi"}, "request.prompt", "unknown field in GenerateContentRequest"),
    ({**TEXT, "systemInstruction": "Be brief"}, "request.systemInstruction", "expected an object"),
]


@pytest.mark.parametrize(("request_", "path", "words"), BROKEN)
def test_broken_request_names_line_path_and_expectation(
    request_: dict[str, object], path: str, words: str
) -> None:
    good = line(TEXT)
    report = check("\n".join([good, good, line(request_), good]) + "\n")
    assert not report.valid
    assert report.requests == 3
    assert [(issue.line, issue.path) for issue in report.errors] == [(3, path)], report.errors
    assert words in report.errors[0].message
    rendered = report.errors[0].render("in.jsonl")
    assert rendered.startswith(f"in.jsonl:3: error: {path}: ")


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ('{"request": ' + json.dumps(TEXT) + ', "key": 7}', "key", "non-empty string"),
        ('{"request": ' + json.dumps(TEXT) + ', "key": ""}', "key", "non-empty string"),
        ('{"request": ' + json.dumps(TEXT) + ', "id": "a"}', "id", "unknown member"),
        ('{"key": "a"}', "request", 'needs a "request"'),
        ('{"request": null}', "request", 'needs a "request"'),
        ('{"request": []}', "request", "expected an object"),
        ('"just a string"', "", "expected a JSON object"),
        ('{"request": {"contents": [}', "", "not valid JSON"),
        ('{"request": {"generationConfig": {"temperature": NaN}}}', "", "NaN is not a JSON value"),
        ('{"request": {"generationConfig": {"topP": -Infinity}}}', "", "-Infinity is not a JSON"),
        (b'{"request": "caf\xe9"}', "", "not valid UTF-8"),
        (
            '{"request": {"contents": [{"parts": [{"text": "\\ud800"}]}]}}',
            "request.contents[0].parts[0].text",
            "surrogate",
        ),
    ],
)
def test_broken_line_structure(text: str | bytes, path: str, words: str) -> None:
    middle = text if isinstance(text, bytes) else text.encode()
    good = line(TEXT).encode()
    report = check(b"\n".join([good, middle, good]) + b"\n")
    assert [(issue.line, issue.path) for issue in report.errors] == [(2, path)], report.errors
    assert words in report.errors[0].message


def test_keys_must_be_unique_within_the_file() -> None:
    report = check(line(TEXT, key="a") + "\n" + line(TEXT, key="b") + "\n" + line(TEXT, key="a"))
    assert [(i.line, i.path) for i in report.errors] == [(3, "key")]
    assert "first used on line 1" in report.errors[0].message


def test_snake_and_camel_case_both_accepted() -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {
            "max_output_tokens": "128",
            "response_mime_type": "application/json",
            "response_schema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
            "thinking_config": {"thinking_budget": 0},
        },
        "safety_settings": [{"category": 3, "threshold": "BLOCK_NONE"}],
        "labels": {"team": "shop-1"},
    }
    report = check(line(request))
    assert report.valid, report.errors


def test_blank_lines_crlf_and_missing_final_newline_are_fine() -> None:
    text = line(TEXT) + "\r\n\r\n   \n" + line(TEXT) + "\r\n" + line(TEXT)
    report = check(text)
    assert report.valid, report.errors
    assert (report.requests, report.lines) == (3, 5)


def test_empty_file_is_an_error() -> None:
    report = check(b"")
    assert not report.valid
    assert "empty" in report.errors[0].message and report.errors[0].line is None


def test_file_of_blank_lines_holds_no_request() -> None:
    report = check("\n\n  \n")
    assert not report.valid and "no request" in report.errors[0].message


def test_json_array_file_gets_one_message_that_says_so() -> None:
    one_line = check(json.dumps([{"request": TEXT}, {"request": TEXT}]))
    pretty = check(json.dumps([{"request": TEXT}] * 3, indent=2))
    for report in (one_line, pretty):
        assert report.error_count == 1
        assert "JSON array, not JSON Lines" in report.errors[0].message
    assert pretty.lines == json.dumps([{"request": TEXT}] * 3, indent=2).count("\n") + 1


def test_pretty_printed_object_gets_one_message_that_says_so() -> None:
    report = check(json.dumps({"request": TEXT}, indent=2))
    assert report.error_count == 1 and "pretty-printed" in report.errors[0].message


@pytest.mark.parametrize("ending", ["", "\n"])
def test_truncated_last_line_says_so(ending: str) -> None:
    report = check(line(TEXT) + "\n" + line(TEXT)[:-9] + ending)
    assert [(i.line, i.path) for i in report.errors] == [(2, "")]
    assert "last line is truncated" in report.errors[0].message


def test_a_cut_line_in_the_middle_is_not_called_the_last() -> None:
    report = check(line(TEXT)[:-9] + "\n" + line(TEXT) + "\n")
    assert "cut short" in report.errors[0].message


def test_error_cap_keeps_the_total() -> None:
    report = check("\n".join(["{bad"] * 250), max_errors=20)
    assert len(report.errors) == 20
    assert report.error_count == 250
    assert report.to_json()["errors_truncated"] is True


def test_overlong_line_is_reported_and_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "MAX_LINE_BYTES", 1000)
    text = line(TEXT) + "\n" + line(content(text="x" * 5000)) + "\n" + line(TEXT) + "\n"
    report = check(text)
    assert [(i.line, i.path) for i in report.errors] == [(2, "")]
    assert "longer than 1000 bytes" in report.errors[0].message
    assert report.requests == 2 and report.lines == 3 and report.bytes == len(text)


def test_file_over_one_jobs_limits_is_flagged_for_splitting() -> None:
    report = check("\n".join([line(TEXT)] * 9), limits=JobLimits(max_requests=4))
    assert report.valid and report.over_job_limits and report.jobs_needed == 3
    assert "split into 3 jobs" in report.summary()
    assert report.to_json()["over_job_limits"] is True


def test_on_request_sees_each_valid_line_with_its_number() -> None:
    seen: list[tuple[int, object]] = []
    text = "\n".join([line(TEXT, key="a"), "", "{bad", line(TEXT)])
    check(text, on_request=lambda number, record: seen.append((number, record.get("key"))))
    assert seen == [(1, "a"), (4, None)]


def test_deep_nesting_ends_in_a_report() -> None:
    schema: dict[str, object] = {"type": "STRING"}
    for _ in range(200):
        schema = {"type": "ARRAY", "items": schema}
    deep_struct = "[" * 100_000 + "]" * 100_000
    report = check(
        line(with_config(responseSchema=schema))
        + "\n"
        + '{"request": {"contents": '
        + deep_struct
        + "}}\n"
    )
    assert [i.line for i in report.errors] == [1, 2]
    assert "nested" in report.errors[0].message


def test_labels_leave_a_slot_for_the_line_tag() -> None:
    """The pipeline adds one label to every request; the service allows 64."""
    labels = {f"l{i}": "v" for i in range(64)}
    report = check(line({**TEXT, "labels": labels}))
    assert [(i.path, i.message) for i in report.errors] == [
        ("request.labels", "at most 63 labels, got 64")
    ]
    assert check(line({**TEXT, "labels": dict(list(labels.items())[:63])})).valid


def test_a_byte_order_mark_is_accepted_with_a_note() -> None:
    report = check(b"\xef\xbb\xbf" + (line(TEXT) + "\n").encode())
    assert report.valid and report.requests == 1
    assert [(note.line, "byte order mark" in note.message) for note in report.notes] == [(1, True)]
    assert report.text().startswith("in.jsonl:1: note: the file starts with a UTF-8 byte order")
    assert report.to_json()["notes"][0]["line"] == 1


def test_a_byte_order_mark_elsewhere_than_the_start_is_an_error() -> None:
    report = check((line(TEXT) + "\n").encode() + b"\xef\xbb\xbf" + line(TEXT).encode())
    assert not report.valid and report.errors[0].line == 2
