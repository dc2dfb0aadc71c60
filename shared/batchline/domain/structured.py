"""Structured answers: the first candidate's text as a JSON value, checked against the
request's response schema (no cloud client).

`structured_answer(request, text, finish_reason)` gives the row's `response_json` and
`response_json_error`:

- The request asked for JSON when its generationConfig has responseMimeType
  "application/json", a responseSchema (Vertex's OpenAPI subset) or a responseJsonSchema
  (JSON Schema). Then the answer text is parsed as it came back, and when it is not JSON the
  error says why, in one of three forms, each naming its cause first:
  "cut short by MAX_TOKENS: ..." (finishReason MAX_TOKENS: never trusted, even when the
  text happens to parse, since the value would be a truncated one), "invalid JSON: <the
  parser's message> at line L column C (char N)", or "does not match the responseSchema at
  <JSON path>: <what is wrong>" (types, required properties, enums, bounds; response_json
  keeps the parsed value then, for inspection). A schema that cannot be checked (not valid
  JSON Schema once converted) gives the value with "responseSchema not checked: ...".
- Otherwise the answer is taken as JSON only when it is a JSON document, an object or an
  array, and then with no error ever: plain text is not a failure.

Code fences: with responseMimeType the service returns raw JSON, so a fenced answer there is
reported as invalid JSON rather than quietly repaired (it means the request did not get what
it asked for). Text that was not asked to be JSON is often one ```json fenced block, and users
expect its content: a single fence around the whole answer is stripped before detection.

Conversion of responseSchema (Schema message, lowerCamelCase or snake_case keywords) to JSON
Schema: types lower-cased ("OBJECT" -> "object"), `nullable: true` adds "null" to the type
(and None to an enum), `propertyOrdering` dropped, int64 bounds given as strings made ints,
`ref`/`defs` turned into `$ref`/`$defs`, explicit nulls (echoed unset fields) dropped; the
rest (format, items, properties, required, enum, anyOf, minimum, ...) kept. Validators are
compiled once per distinct schema: the rows of a job usually share one.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import msgspec

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "CUT_SHORT",
    "INVALID_JSON",
    "NOT_MATCHING",
    "asks_for_json",
    "openapi_to_json_schema",
    "structured_answer",
]

JSON_MIME_TYPE: Final = "application/json"
# The first words of each response_json_error, so that a query can group on the cause.
CUT_SHORT: Final = "cut short by MAX_TOKENS"
INVALID_JSON: Final = "invalid JSON"
NOT_MATCHING: Final = "does not match the responseSchema"
NOT_CHECKED: Final = "responseSchema not checked"

_decode = msgspec.json.Decoder().decode
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?```\s*\Z", re.DOTALL)
_SNAKE = re.compile(r"_([a-z])")
# Schema keywords whose int64 values proto JSON writes as strings.
_COUNTS = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)


# The response settings of generationConfig that decide whether an answer must be JSON.
_RESPONSE_SETTINGS: Final = frozenset({"responseMimeType", "responseSchema", "responseJsonSchema"})


@lru_cache(maxsize=512)
def _camel(key: str) -> str:
    # Cached: a file's requests share a handful of keys, and this runs for every row.
    return _SNAKE.sub(lambda match: match.group(1).upper(), key)


def _response_settings(request: Any) -> dict[str, Any]:
    """generationConfig's response settings that are set, by lowerCamelCase name, whichever
    spelling the echo kept (one pass over the config)."""
    if type(request) is not dict:
        return {}
    config = request.get("generationConfig")
    if config is None:
        config = request.get("generation_config")
    if type(config) is not dict:
        return {}
    found: dict[str, Any] = {}
    for key, value in config.items():
        if value is not None:
            name = _camel(key)
            if name in _RESPONSE_SETTINGS:
                found[name] = value
    return found


def _response_schema(settings: dict[str, Any]) -> tuple[bool, dict[str, Any]] | None:
    """The request's response schema as given, and whether it is Gemini's OpenAPI form
    (converted once per distinct schema, with its validator); None when it gives none."""
    openapi = settings.get("responseSchema")
    if type(openapi) is dict:
        return True, openapi
    json_schema = settings.get("responseJsonSchema")
    if type(json_schema) is dict:
        return False, json_schema
    return None


def _asks_for_json(settings: dict[str, Any]) -> bool:
    if settings.get("responseMimeType") == JSON_MIME_TYPE:
        return True
    return any(
        type(settings.get(name)) is dict for name in ("responseSchema", "responseJsonSchema")
    )


def asks_for_json(request: Any) -> bool:
    """Whether the request asked for a JSON answer (mime type or a response schema)."""
    return _asks_for_json(_response_settings(request))


def openapi_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A responseSchema (Vertex's OpenAPI subset) as JSON Schema (see the module docstring)."""
    result: dict[str, Any] = {}
    nullable = False
    for raw_key, value in schema.items():
        key = _camel(raw_key)
        if value is None or key == "propertyOrdering":
            continue
        if key == "type":
            kind = str(value).lower()
            if kind != "type_unspecified":
                result["type"] = kind
        elif key == "nullable":
            nullable = value is True
        elif key == "properties" and type(value) is dict:
            result["properties"] = {
                name: openapi_to_json_schema(sub) if type(sub) is dict else sub
                for name, sub in value.items()  # property names are data: never renamed
            }
        elif key == "defs" and type(value) is dict:
            result["$defs"] = {
                name: openapi_to_json_schema(sub) if type(sub) is dict else sub
                for name, sub in value.items()
            }
        elif key == "items" and type(value) is dict:
            result["items"] = openapi_to_json_schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and type(value) is list:
            result[key] = [
                openapi_to_json_schema(sub) if type(sub) is dict else sub for sub in value
            ]
        elif key == "ref":
            result["$ref"] = str(value).replace("#/defs/", "#/$defs/")
        elif key in _COUNTS and type(value) is str and value.isdigit():
            result[key] = int(value)
        else:
            result[key] = value
    if nullable:
        if "type" in result:
            result["type"] = [result["type"], "null"]
        if type(result.get("enum")) is list and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]
    return result


@lru_cache(maxsize=256)
def _validator(schema_text: str, openapi: bool) -> Validator:
    import jsonschema  # on the first row with a schema: it costs a function's cold start 0.5 s

    schema = json.loads(schema_text)
    if openapi:
        schema = openapi_to_json_schema(schema)
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft202012Validator
    )
    validator_class.check_schema(schema)
    return validator_class(schema)


def _schema_problem(value: Any, schema: dict[str, Any], openapi: bool) -> str | None:
    """What is wrong with `value` under `schema` (Gemini's OpenAPI form when `openapi`), or
    None when it conforms. The rows of a file share a few schemas: the key is the schema's
    text, and the conversion and compilation are done once per key."""
    from jsonschema import SchemaError
    from jsonschema.exceptions import best_match
    from referencing.exceptions import Unresolvable

    key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    try:
        validator = _validator(key, openapi)
    except SchemaError as exc:
        return f"{NOT_CHECKED}: it is not valid JSON Schema ({exc.message})"
    try:
        error = best_match(validator.iter_errors(value))
    except Unresolvable as exc:  # a $ref to nothing, or to a remote document (never fetched)
        return f"{NOT_CHECKED}: it has a reference that cannot be resolved ({exc})"
    if error is None:
        return None
    return f"{NOT_MATCHING} at {error.json_path}: {error.message}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _parse(text: str) -> tuple[Any, str | None]:
    """The JSON value of `text`, or the parser's reason it is none."""
    try:
        return _decode(text), None  # strict and fast; the standard parser explains refusals
    except (msgspec.DecodeError, RecursionError):
        pass
    try:
        return json.loads(text, parse_constant=_refuse_constant), None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
        return None, f"{INVALID_JSON}: {exc.msg} at {where}"
    except (ValueError, RecursionError) as exc:
        return None, f"{INVALID_JSON}: {exc}"


def _unfenced(text: str) -> str:
    # Most answers are prose: the fence pattern only where one can start.
    if "```" not in text[:64]:
        return text
    match = _FENCE.match(text)
    return match.group(1) if match else text


def structured_answer(request: Any, text: str | None, finish_reason: Any) -> tuple[Any, str | None]:
    """(response_json, response_json_error) of one answered row (see the module docstring)."""
    settings = _response_settings(request)
    if not _asks_for_json(settings):
        if text is None:
            return None, None
        candidate = _unfenced(text).strip()
        if not candidate.startswith(("{", "[")):
            return None, None
        value, problem = _parse(candidate)
        return (value, None) if problem is None else (None, None)
    if finish_reason == "MAX_TOKENS":
        length = len(text) if text else 0
        return None, f"{CUT_SHORT}: the answer stopped after {length} characters"
    if text is None:
        return None, f"{INVALID_JSON}: the answer has no text"
    value, problem = _parse(text)
    if problem is not None:
        return None, problem
    given = _response_schema(settings)
    if given is None:
        return value, None
    openapi, schema = given
    return value, _schema_problem(value, schema, openapi)
