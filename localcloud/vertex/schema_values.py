"""Deterministic JSON values that conform to a response schema.

Two schema dialects reach the model: `responseSchema` (Vertex's OpenAPI subset, the Schema
message) and `responseJsonSchema` (JSON Schema). The first is turned into the second, then one
generator walks it. Supported keywords: type (one or a list), properties, propertyOrdering,
required, items, minItems, maxItems, enum, const, anyOf, oneOf, allOf (merged), $ref to $defs or
definitions, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength and the
string formats date, date-time, email and uuid. `pattern` is not honoured.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from typing import Any

_WORDS = [
    "amber",
    "basil",
    "cedar",
    "delta",
    "ember",
    "fable",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lumen",
    "meadow",
    "nectar",
    "orchid",
    "pebble",
    "quartz",
    "river",
    "saffron",
    "thistle",
    "umber",
    "velvet",
    "willow",
    "yarrow",
    "zephyr",
]
_MAX_DEPTH = 6


def openapi_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The Schema message (as lowerCamelCase JSON) in JSON Schema form."""
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            result["type"] = str(value).lower()
        elif key == "properties":
            result["properties"] = {
                name: openapi_to_json_schema(sub) for name, sub in value.items()
            }
        elif key == "defs":
            result["$defs"] = {name: openapi_to_json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            result["items"] = openapi_to_json_schema(value)
        elif key == "anyOf":
            result["anyOf"] = [openapi_to_json_schema(sub) for sub in value]
        elif key == "ref":
            result["$ref"] = str(value).replace("#/defs/", "#/$defs/")
        elif key in ("minItems", "maxItems", "minLength", "maxLength"):
            result[key] = int(value)  # int64 fields come as strings in proto JSON
        elif key == "nullable":
            continue  # null is allowed, never needed: the generator always gives a value
        else:
            result[key] = value
    return result


def break_schema(value: Any, schema: dict[str, Any]) -> Any:
    """`value` changed so that `schema` refuses it (for the emulator's off-schema answers): an
    object loses its first required property, or else its first property gets a value of
    another type; anything else becomes a value of another type."""
    if isinstance(value, dict) and value:
        required = [name for name in schema.get("required", []) if name in value]
        if required:
            return {key: item for key, item in value.items() if key != required[0]}
        first = next(iter(value))
        return {**value, first: _other_type(value[first])}
    return _other_type(value)


def _other_type(value: Any) -> Any:
    # A list where anything but a list was given, and the other way round.
    return {"unexpected": True} if isinstance(value, list) else [value]


def value_for_schema(schema: dict[str, Any], rng: random.Random) -> Any:
    """A JSON value that `schema` accepts; the same rng state gives the same value."""
    return _value(schema, rng, schema, 0)


def _value(schema: Any, rng: random.Random, root: dict[str, Any], depth: int) -> Any:
    if schema is True or not isinstance(schema, dict):
        return _words(rng, 2)
    if "$ref" in schema:
        return _value(_resolve(schema["$ref"], root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    for keyword in ("anyOf", "oneOf"):
        if schema.get(keyword):
            options = [option for option in schema[keyword] if _type_of(option, root) != "null"]
            return _value(rng.choice(options or schema[keyword]), rng, root, depth + 1)
    if schema.get("allOf"):
        return _value(_merge(schema, root), rng, root, depth + 1)
    kind = _type_of(schema, root)
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind == "integer":
        return _integer(schema, rng)
    if kind == "number":
        return _number(schema, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _type_of(schema: Any, root: dict[str, Any]) -> str:
    if not isinstance(schema, dict):
        return "string"
    if "$ref" in schema:
        return _type_of(_resolve(schema["$ref"], root), root)
    declared = schema.get("type")
    if isinstance(declared, list):
        concrete = [str(item).lower() for item in declared if str(item).lower() != "null"]
        return concrete[0] if concrete else "null"
    if isinstance(declared, str) and declared:
        return declared.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _resolve(reference: str, root: dict[str, Any]) -> Any:
    if not reference.startswith("#/"):
        raise ValueError(f"only local references are supported, not {reference}")
    target: Any = root
    for step in reference[2:].split("/"):
        target = target[step.replace("~1", "/").replace("~0", "~")]
    return target


def _merge(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema["allOf"]:
        part = _resolve(part["$ref"], root) if "$ref" in part else part
        for key, value in part.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _object(
    schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int
) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    order = [name for name in schema.get("propertyOrdering", []) if name in properties]
    order += [name for name in properties if name not in order]
    result: dict[str, Any] = {}
    for name in order:
        if depth >= _MAX_DEPTH and name not in required:
            continue
        result[name] = _value(properties[name], rng, root, depth + 1)
    for name in sorted(required - set(result)):
        result[name] = _words(rng, 1)  # required but not described: any value is allowed
    return result


def _array(
    schema: dict[str, Any], rng: random.Random, root: dict[str, Any], depth: int
) -> list[Any]:
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, 3)))
    count = low if depth >= _MAX_DEPTH else max(low, min(high, rng.randint(1, 3)))
    items = schema.get("items", {"type": "string"})
    return [_value(items, rng, root, depth + 1) for _ in range(count)]


def _bounds(schema: dict[str, Any], default_low: float, default_high: float) -> tuple[float, float]:
    low = schema.get("minimum", schema.get("exclusiveMinimum", default_low))
    high = schema.get("maximum", schema.get("exclusiveMaximum", max(default_high, low + 100)))
    return float(low), float(high)


def _integer(schema: dict[str, Any], rng: random.Random) -> int:
    low, high = _bounds(schema, 0, 100)
    first = math.ceil(low) + (1 if "exclusiveMinimum" in schema and low.is_integer() else 0)
    last = math.floor(high) - (1 if "exclusiveMaximum" in schema and high.is_integer() else 0)
    return rng.randint(first, max(first, last))


def _number(schema: dict[str, Any], rng: random.Random) -> float:
    low, high = _bounds(schema, 0, 100)
    value = min(max(round(rng.uniform(low, high), 2), low), high)
    too_low = "exclusiveMinimum" in schema and value <= low
    too_high = "exclusiveMaximum" in schema and value >= high
    return (low + high) / 2 if too_low or too_high else value


def _string(schema: dict[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rng.randint(0, 10**7)
        )
        return moment.isoformat().replace("+00:00", "Z")
    if fmt == "date":
        return (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 365))).isoformat()
    if fmt == "email":
        return f"{rng.choice(_WORDS)}@example.com"
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    text = _words(rng, rng.randint(1, 4))
    min_length = int(schema.get("minLength", 0))
    max_length = int(schema.get("maxLength", len(text) if len(text) >= min_length else min_length))
    if len(text) < min_length:
        text = text + "x" * (min_length - len(text))
    return text[:max_length]


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(count))
