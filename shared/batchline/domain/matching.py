"""Matching an echoed request to the input line it came from (no cloud client).

The output of a batch job is not in input order, and the request each output line echoes is
the service's normalisation of what was sent (camelCase names, explicit nulls for unset
fields, `parts` as lists, enum names) or, by another path, the user's own spelling. Batchline
tags each staged request with its line number in a label, but labels may be dropped from the
echo (Google warns that a label key with more than 1,000 unique values may be dropped without
notice), or turned off (BATCHLINE_ROW_LABELS). Then the echo is matched on a canonical form,
read through the GenerateContentRequest schema, equal for a request and any echo of it:

- field names in camelCase (snake_case accepted), sorted; names inside JSON values
  (`responseJsonSchema`, function arguments) and map keys kept as written;
- unset fields, nulls, empty lists and objects, and scalar zero values left out (proto3 JSON
  omits a default value, so an echo may or may not carry it);
- a single `parts` object made a list; enums by name, upper case (a number becomes its name);
  int64 given as a string becomes a number; floats compared as numbers (1 equals 1.0);
- `labels` left out: they do not reach the model, and the line tag is unique per line.

Two lines whose requests are the same in that form are handed out in input order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from batchline.domain.input_lines import InputLine
from batchline.domain.validation import request_schema_data as schema

__all__ = ["RequestIndex", "canonical_request"]

_INTEGERS = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64"})
_FLOATS = frozenset({"float", "double"})
_JSON_VALUES = frozenset({"struct", "value", "list_value"})
# Field as (kind, repeated, type name), by both of its names.
_Fields = Mapping[str, tuple[str, bool, str]]


@cache
def _fields(message: str) -> _Fields:
    fields: dict[str, tuple[str, bool, str]] = {}
    for proto_name, json_name, kind, repeated, type_name, _oneof in schema.MESSAGES[message]:
        fields[json_name] = fields[proto_name] = (kind, repeated, type_name)
    return fields


@cache
def _json_name(message: str, key: str) -> str:
    for proto_name, json_name, *_ in schema.MESSAGES[message]:
        if key in (proto_name, json_name):
            return json_name
    return key


@cache
def _enum_names(enum: str) -> Mapping[int, str]:
    return {number: name for name, number in schema.ENUMS.get(enum, ())}


def _message(value: Any, message: str, *, root: bool = False) -> Any:
    if type(value) is not dict:
        return _generic(value)
    fields = _fields(message)
    result: dict[str, Any] = {}
    for key, item in value.items():
        if root and key == "labels":
            continue
        spec = fields.get(key)
        canonical = _generic(item) if spec is None else _field(item, *spec)
        if _absent(canonical):
            continue
        result[_json_name(message, key) if spec is not None else key] = canonical
    return result


def _field(value: Any, kind: str, repeated: bool, type_name: str) -> Any:
    if kind == "map":
        if type(value) is not dict:
            return _generic(value)
        entry = {spec[0]: spec for spec in schema.MESSAGES[type_name]}
        _, _, value_kind, _, value_type, _ = entry["value"]
        entries = {key: _field(item, value_kind, False, value_type) for key, item in value.items()}
        return {key: item for key, item in entries.items() if not _absent(item)}
    if repeated:
        items = value if type(value) is list else [value]
        return [_field(item, kind, False, type_name) for item in items]
    if kind == "message":
        return _message(value, type_name)
    if kind == "enum":
        if type(value) is int:
            return _enum_names(type_name).get(value, value)
        return value.upper() if type(value) is str else value
    if kind in _INTEGERS:
        if type(value) is str and value.lstrip("-").isdigit():
            return int(value)
        return int(value) if type(value) is float and value.is_integer() else value
    if kind in _FLOATS:
        return float(value) if type(value) in (int, float) else value
    if kind in _JSON_VALUES:
        return _generic(value)
    return value


def _generic(value: Any) -> Any:
    """A JSON value outside the schema (a Struct, an unknown field): nulls dropped only."""
    if type(value) is dict:
        return {key: _generic(item) for key, item in value.items() if item is not None}
    if type(value) is list:
        return [_generic(item) for item in value]
    return value


def _absent(value: Any) -> bool:
    return value is None or value is False or value == "" or value == 0 or value in ({}, [])


def canonical_request(request: Any) -> str:
    """The canonical form of a request (see the module docstring), as compact JSON."""
    return json.dumps(
        _message(request, schema.ROOT, root=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _digest(request: Any) -> int:
    # 64 bits of a hash stand for the canonical text: a part's index stays a few bytes per
    # request, and a collision among a job's 200,000 requests is a one in a billion chance.
    text = canonical_request(request).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class RequestIndex:
    """Input line numbers by canonical request; identical requests are handed out in order.

    Holds a hash per request, not the request: memory grows with the part's request count
    (about 100 bytes each), whatever the requests' size.
    """

    def __init__(self) -> None:
        # One line number, or the list of those still waiting when several share a request.
        self._lines: dict[int, int | list[int]] = {}
        self.keys: dict[int, str] = {}

    @classmethod
    def from_input_lines(cls, lines: Iterable[InputLine]) -> RequestIndex:
        index = cls()
        for line in lines:
            index.add(line)
        return index

    def add(self, line: InputLine) -> None:
        digest = _digest(line.request)
        waiting = self._lines.get(digest)
        if waiting is None:
            self._lines[digest] = line.number
        elif isinstance(waiting, list):
            waiting.append(line.number)
        else:
            self._lines[digest] = [waiting, line.number]
        if line.key is not None:
            self.keys[line.number] = line.key

    def take(self, echoed_request: Any) -> int | None:
        """The next unclaimed input line holding this request, or None."""
        digest = _digest(echoed_request)
        waiting = self._lines.get(digest)
        if waiting is None:
            return None
        if not isinstance(waiting, list):
            del self._lines[digest]
            return waiting
        number = waiting.pop(0)
        if len(waiting) == 1:
            self._lines[digest] = waiting[0]
        return number

    def __len__(self) -> int:
        return sum(len(w) if isinstance(w, list) else 1 for w in self._lines.values())
