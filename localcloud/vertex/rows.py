"""Input rows: parse a JSONL line into a GenerateContentRequest the way the service does.

Parsing goes through the library's own message types (json_format on the protobuf), so field
names, types and unknown fields are checked exactly as the schema says. On top of that the service
is more forgiving than json_format in two documented ways, reproduced here: a single object where
a list is expected (the documentation's own sample gives `parts` as one object) and enum names in
any letter case (`"type": "object"` in a response schema).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.cloud import aiplatform_v1
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from localcloud.vertex.errors import ApiError, invalid_argument, unknown_field

_REQUEST_DESCRIPTOR: Descriptor = aiplatform_v1.GenerateContentRequest.pb().DESCRIPTOR
_ROLES = frozenset({"", "user", "model"})
MAX_REQUEST_LABELS = 64
MAX_LABEL_CHARACTERS = 63


@dataclass(frozen=True)
class ParsedRow:
    """One input line after parsing: either a request or the error that row gets."""

    line_number: int  # 1-based, across all input files of the job
    raw_line: str
    raw_request: Any  # what the line held under "request" (None when the line was not JSON)
    request: aiplatform_v1.GenerateContentRequest | None
    error: ApiError | None

    def canonical_request(self) -> dict[str, Any] | None:
        """The request as lowerCamelCase JSON with only the fields that are set."""
        if self.request is None:
            return None
        return cast(
            dict[str, Any],
            json_format.MessageToDict(aiplatform_v1.GenerateContentRequest.pb(self.request)),
        )


def parse_line(line_number: int, raw_line: str) -> ParsedRow:
    """Parse one JSONL line of the form {"request": GenerateContentRequest}."""
    try:
        document = json.loads(raw_line)
    except json.JSONDecodeError as exc:
        error = invalid_argument(f"Invalid JSON payload received in line {line_number}: {exc}.")
        return ParsedRow(line_number, raw_line, None, None, error)
    return parse_document(line_number, raw_line, document)


def parse_document(line_number: int, raw_line: str, document: Any) -> ParsedRow:
    """The row of a line already read as JSON."""
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
        error = invalid_argument(
            f'Line {line_number} must be a JSON object with a "request" object '
            "holding a GenerateContentRequest."
        )
        raw_request = document.get("request") if isinstance(document, dict) else None
        return ParsedRow(line_number, raw_line, raw_request, None, error)
    raw_request = document["request"]
    try:
        request = parse_request(raw_request)
    except ApiError as error:
        return ParsedRow(line_number, raw_line, raw_request, None, error)
    return ParsedRow(line_number, raw_line, raw_request, request, None)


@dataclass(frozen=True)
class InputPlan:
    """A job's input lines: those copied from an earlier job's output, and those to answer."""

    total: int
    copied: list[str]  # completed lines of an earlier output, verbatim
    to_answer: list[ParsedRow]  # in input order


def plan_input(lines: list[str]) -> InputPlan:
    """Sort the input's non-blank lines (numbered from 1 across its files)."""
    copied: list[str] = []
    to_answer: list[ParsedRow] = []
    for number, line in enumerate(lines, start=1):
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            to_answer.append(parse_line(number, line))
            continue
        if _completed_output(document):
            copied.append(line)
        else:  # an input line, or a failed or unanswered line of an earlier output
            to_answer.append(parse_document(number, line, document))
    return InputPlan(len(lines), copied, to_answer)


def _completed_output(document: Any) -> bool:
    """A completed line of an earlier job's output: an empty status and a response."""
    return (
        isinstance(document, dict)
        and not document.get("status")
        and isinstance(document.get("response"), dict)
    )


def parse_request(raw_request: dict[str, Any]) -> aiplatform_v1.GenerateContentRequest:
    """A GenerateContentRequest from its JSON (camelCase or snake_case), or INVALID_ARGUMENT."""
    lenient = _forgive(raw_request, _REQUEST_DESCRIPTOR)
    message = aiplatform_v1.GenerateContentRequest.pb()()
    try:
        json_format.ParseDict(lenient, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from None
    request = cast(
        aiplatform_v1.GenerateContentRequest, aiplatform_v1.GenerateContentRequest.wrap(message)
    )
    _check_request(request)
    return request


def _check_request(request: aiplatform_v1.GenerateContentRequest) -> None:
    """The checks the service makes beyond the JSON schema."""
    _check_labels(request.labels)
    if not request.contents:
        raise invalid_argument(
            "Unable to submit request because it must include at least one contents field."
        )
    contents = list(request.contents)
    if request.system_instruction.parts:
        contents.append(request.system_instruction)
    for index, content in enumerate(request.contents):
        if content.role not in _ROLES:
            raise invalid_argument(
                f'contents[{index}].role must be "user" or "model", not "{content.role}".'
            )
    for content in contents:
        if not content.parts:
            raise invalid_argument(
                "Unable to submit request because it must include at least one parts field, "
                "which describes the prompt input."
            )
        for part in content.parts:
            kind = aiplatform_v1.Part.pb(part).WhichOneof("data")
            if kind is None:
                raise invalid_argument(
                    "Unable to submit request because a part holds no data: give exactly one of "
                    "text, inlineData, fileData, functionCall, functionResponse, executableCode "
                    "or codeExecutionResult."
                )
            if kind == "file_data" and not part.file_data.mime_type:
                raise invalid_argument("fileData.mimeType is required.")
            if kind == "file_data" and not part.file_data.file_uri:
                raise invalid_argument("fileData.fileUri is required.")
            if kind == "inline_data" and not part.inline_data.mime_type:
                raise invalid_argument("inlineData.mimeType is required.")
    config = aiplatform_v1.GenerationConfig.pb(request.generation_config)
    has_schema = config.HasField("response_schema")
    has_json_schema = config.HasField("response_json_schema")
    if has_schema and has_json_schema:
        raise invalid_argument("Only one of responseSchema and responseJsonSchema may be set.")
    if (has_schema or has_json_schema) and config.response_mime_type not in (
        "application/json",
        "text/x.enum",
    ):
        raise invalid_argument(
            "responseMimeType must be application/json (or text/x.enum) when a response "
            "schema is given."
        )
    if config.HasField("max_output_tokens") and config.max_output_tokens < 1:
        raise invalid_argument("generationConfig.maxOutputTokens must be at least 1.")


def _check_labels(labels: Mapping[str, str]) -> None:
    """ "Add labels to API calls": at most 64 labels, keys and values up to 63 characters."""
    if len(labels) > MAX_REQUEST_LABELS:
        raise invalid_argument(
            f"A request may have at most {MAX_REQUEST_LABELS} labels, not {len(labels)}."
        )
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_CHARACTERS or len(value) > MAX_LABEL_CHARACTERS:
            raise invalid_argument(
                f'Label "{key}": keys are 1 to {MAX_LABEL_CHARACTERS} characters, values up to '
                f"{MAX_LABEL_CHARACTERS}."
            )


def _forgive(value: Any, descriptor: Descriptor, path: str = "") -> Any:
    """Rewrite the two leniencies of Google's JSON parser into the strict form json_format takes;
    an unknown field name is refused here, in Google's words, with its path."""
    if not isinstance(value, dict) or descriptor.full_name.startswith("google.protobuf."):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        field = descriptor.fields_by_camelcase_name.get(key) or descriptor.fields_by_name.get(key)
        if field is None:
            raise unknown_field(key, path)
        where = f"{path}.{field.name}" if path else field.name
        result[key] = _forgive_field(item, field, where)
    return result


def _forgive_field(item: Any, field: FieldDescriptor, path: str) -> Any:
    message_type = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        value_field = message_type.fields_by_name["value"]
        if isinstance(item, dict):
            return {
                key: _forgive_single(entry, value_field, f"{path}[{key}]")
                for key, entry in item.items()
            }
        return item
    if field.is_repeated:
        if item is None:
            return None  # null clears a field, as for any other field
        items = item if isinstance(item, list) else [item]
        return [
            _forgive_single(entry, field, f"{path}[{index}]") for index, entry in enumerate(items)
        ]
    return _forgive_single(item, field, path)


def _forgive_single(item: Any, field: FieldDescriptor, path: str) -> Any:
    if field.message_type is not None:
        return _forgive(item, field.message_type, path)
    if field.enum_type is not None and isinstance(item, str):
        names = field.enum_type.values_by_name
        if item not in names and item.upper() in names:
            return item.upper()
    return item
