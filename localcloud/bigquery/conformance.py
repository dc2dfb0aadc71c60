"""Check JSON bodies against BigQuery's v2 discovery document.

The document ships inside google-api-python-client
(googleapiclient/discovery_cache/documents/bigquery.v2.json). A body conforms when every
field name exists in the schema of its resource, recursively, and every value has the
JSON type the schema gives it: int64/uint64 fields are decimal strings, int32 fields are
numbers, booleans are booleans, enums hold one of their values. Error answers are checked
against Google's JSON error envelope, whose `errors` items are the document's ErrorProto.

Usage:
    document = DiscoveryDocument.bundled()
    problems = document.check_response("bigquery.tables.get", body)
    problems = document.check(body, "Table")
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Mapping
from typing import Any

ERROR_RESPONSE = "ErrorResponse"

# Google's JSON error format is not a schema of the document; written in its dialect here.
_ERROR_RESPONSE_SCHEMA: dict[str, Any] = {
    "id": ERROR_RESPONSE,
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "errors": {"type": "array", "items": {"$ref": "ErrorProto"}},
                "details": {"type": "array", "items": {"type": "any"}},
            },
        }
    },
}
_INTEGER_TEXT = re.compile(r"^-?\d+$")
_UNSIGNED_TEXT = re.compile(r"^\d+$")


class DiscoveryDocument:
    """The schemas and methods of one discovery document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.revision = str(document.get("revision", ""))
        self._schemas: dict[str, Any] = dict(document["schemas"])
        self._schemas[ERROR_RESPONSE] = _ERROR_RESPONSE_SCHEMA
        self._methods: dict[str, Any] = {}
        for resource in document.get("resources", {}).values():
            for method in resource.get("methods", {}).values():
                self._methods[method["id"]] = method

    @classmethod
    @functools.cache
    def bundled(cls) -> DiscoveryDocument:
        """bigquery.v2.json as google-api-python-client ships it."""
        path = (
            importlib.resources.files("googleapiclient")
            / "discovery_cache"
            / "documents"
            / "bigquery.v2.json"
        )
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def response_schema(self, method_id: str) -> str | None:
        """The schema a method answers with, e.g. "Job" for "bigquery.jobs.insert"."""
        ref = self._method(method_id).get("response", {}).get("$ref")
        return str(ref) if ref else None

    def request_schema(self, method_id: str) -> str | None:
        ref = self._method(method_id).get("request", {}).get("$ref")
        return str(ref) if ref else None

    def _method(self, method_id: str) -> Mapping[str, Any]:
        if method_id not in self._methods:
            raise KeyError(f"{method_id} is not a method of the discovery document")
        method: Mapping[str, Any] = self._methods[method_id]
        return method

    def check_response(self, method_id: str, body: Any, *, error: bool = False) -> list[str]:
        """Problems with a method's answer body (an error envelope when `error`)."""
        if error:
            return self.check(body, ERROR_RESPONSE)
        schema = self.response_schema(method_id)
        if schema is None:
            return [] if body in (None, b"", "", {}) else [f"{method_id} answers with no body"]
        return self.check(body, schema)

    def check(self, body: Any, schema_name: str, *, names_only: bool = False) -> list[str]:
        """Every problem found in `body` against the named schema; empty when it conforms.

        `names_only` checks field names but not value types: Google's parser accepts a
        number for an int64 field in a request, so requests are held to names only.
        """
        if schema_name not in self._schemas:
            raise KeyError(f"{schema_name} is not a schema of the discovery document")
        problems: list[str] = []
        self._walk(body, {"$ref": schema_name}, schema_name, problems, names_only)
        return problems

    def _walk(
        self,
        value: Any,
        schema: Mapping[str, Any],
        path: str,
        problems: list[str],
        names_only: bool,
    ) -> None:
        while "$ref" in schema:
            schema = self._schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "any" or (value is None and names_only):
            return
        if value is None:
            problems.append(f"{path}: null where the schema has a {kind}")
            return
        if kind == "object":
            self._walk_object(value, schema, path, problems, names_only)
        elif kind == "array":
            if not isinstance(value, list):
                if not names_only:
                    problems.append(f"{path}: expected an array, got {_json_type(value)}")
                return
            items = schema.get("items", {"type": "any"})
            for index, item in enumerate(value):
                self._walk(item, items, f"{path}[{index}]", problems, names_only)
        elif not names_only:
            problem = _scalar_problem(value, schema)
            if problem:
                problems.append(f"{path}: {problem}")

    def _walk_object(
        self,
        value: Any,
        schema: Mapping[str, Any],
        path: str,
        problems: list[str],
        names_only: bool,
    ) -> None:
        if not isinstance(value, Mapping):
            if not names_only:
                problems.append(f"{path}: expected an object, got {_json_type(value)}")
            return
        properties: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        if not properties and extra is None:
            return
        for key, item in value.items():
            if key in properties:
                self._walk(item, properties[key], f"{path}.{key}", problems, names_only)
            elif extra is not None:
                self._walk(item, extra, f"{path}.{key}", problems, names_only)
            else:
                owner = schema.get("id", path)
                problems.append(f"{path}.{key}: no field {key!r} in {owner}")


def _scalar_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    form = schema.get("format")
    if kind == "string":
        if not isinstance(value, str):
            wanted = f"a string ({form})" if form else "a string"
            return f"expected {wanted}, got {_json_type(value)} {value!r}"
        if form == "int64" and not _INTEGER_TEXT.match(value):
            return f"expected an int64 decimal string, got {value!r}"
        if form == "uint64" and not _UNSIGNED_TEXT.match(value):
            return f"expected a uint64 decimal string, got {value!r}"
        allowed = schema.get("enum")
        if allowed and value not in allowed:
            return f"{value!r} is not one of {', '.join(allowed)}"
        return None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer ({form or 'int32'}), got {_json_type(value)} {value!r}"
        if form in ("uint32", "uint64") and value < 0:
            return f"expected an unsigned integer, got {value}"
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {_json_type(value)} {value!r}"
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            return f"expected a boolean, got {_json_type(value)} {value!r}"
        return None
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
