"""BigQuery table schemas: parsing, DuckDB column types, row checks and wire encoding.

Three conversions live here, all driven by the same `Field` tree:
- JSON row -> Python values DuckDB stores (`coerce_row`), refusing what BigQuery refuses;
- DuckDB result type -> BigQuery schema (`fields_from_duckdb`);
- stored value -> the `{"f": [{"v": ...}]}` cells the client parses (`encode_row`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from localcloud.bigquery.errors import invalid

if TYPE_CHECKING:
    from duckdb.sqltypes import DuckDBPyType

# Every spelling the API accepts, mapped to the legacy name BigQuery echoes in schemas.
_CANONICAL_TYPES: dict[str, str] = {
    "STRING": "STRING",
    "BYTES": "BYTES",
    "INTEGER": "INTEGER",
    "INT64": "INTEGER",
    "FLOAT": "FLOAT",
    "FLOAT64": "FLOAT",
    "NUMERIC": "NUMERIC",
    "DECIMAL": "NUMERIC",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "TIME": "TIME",
    "JSON": "JSON",
    "RECORD": "RECORD",
    "STRUCT": "RECORD",
}

_DUCKDB_TYPES: dict[str, str] = {
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "INTEGER": "BIGINT",
    "FLOAT": "DOUBLE",
    # NUMERIC is 38 digits with 9 after the point, exactly DuckDB's widest decimal.
    "NUMERIC": "DECIMAL(38, 9)",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIME": "TIME",
    "JSON": "JSON",
}

_MODES = ("NULLABLE", "REQUIRED", "REPEATED")
_RESERVED_PREFIXES = ("_TABLE_", "_FILE_", "_PARTITION", "_ROW_TIMESTAMP", "__ROOT__")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_NUMERIC_LIMIT = decimal.Decimal(10) ** 29
_NUMERIC_SCALE = decimal.Decimal("1e-9")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Field:
    """One column (or RECORD sub-field), with its type in canonical (legacy) spelling."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Field, ...] = ()
    description: str | None = None

    @property
    def repeated(self) -> bool:
        return self.mode == "REPEATED"

    @property
    def required(self) -> bool:
        return self.mode == "REQUIRED"

    def api_repr(self) -> dict[str, Any]:
        resource: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode}
        if self.fields:
            resource["fields"] = [child.api_repr() for child in self.fields]
        if self.description is not None:
            resource["description"] = self.description
        return resource


def parse_fields(resources: Any, *, path: str = "") -> tuple[Field, ...]:
    """Fields from a TableSchema `fields` list; raises 400 invalid as BigQuery does."""
    if not isinstance(resources, list):
        raise invalid("Invalid schema: fields must be a list")
    fields: list[Field] = []
    seen: set[str] = set()
    for resource in resources:
        if not isinstance(resource, Mapping):
            raise invalid("Invalid schema: each field must be an object")
        field = _parse_field(resource, path)
        if field.name.lower() in seen:
            raise invalid(f"Field {path}{field.name} already exists in schema")
        seen.add(field.name.lower())
        fields.append(field)
    return tuple(fields)


def _parse_field(resource: Mapping[str, Any], path: str) -> Field:
    name = resource.get("name")
    if not isinstance(name, str) or not name or len(name) > 300:
        raise invalid(f"Invalid field name {name!r} in schema{' of ' + path if path else ''}")
    if not path and name.upper().startswith(_RESERVED_PREFIXES):
        raise invalid(f'Invalid field name "{name}": the prefix is reserved')
    raw_type = str(resource.get("type", "")).upper()
    if raw_type not in _CANONICAL_TYPES:
        raise invalid(
            f"Invalid value for type: {resource.get('type')} is not a valid value"
            f" (field {path}{name})"
        )
    field_type = _CANONICAL_TYPES[raw_type]
    mode = str(resource.get("mode") or "NULLABLE").upper()
    if mode not in _MODES:
        raise invalid(f"Invalid value for mode: {resource.get('mode')} is not a valid value")
    children: tuple[Field, ...] = ()
    if field_type == "RECORD":
        if not resource.get("fields"):
            raise invalid(f"Field {path}{name} is type RECORD but has no schema")
        children = parse_fields(resource["fields"], path=f"{path}{name}.")
    elif resource.get("fields"):
        raise invalid(f"Field {path}{name} is type {field_type} and cannot have sub-fields")
    description = resource.get("description")
    return Field(
        name=name,
        type=field_type,
        mode=mode,
        fields=children,
        description=description if isinstance(description, str) else None,
    )


def quote_identifier(name: str) -> str:
    """A DuckDB identifier that keeps any characters BigQuery allowed in the name."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_type(field: Field) -> str:
    """The DuckDB column type that stores `field`, repeated fields as lists."""
    if field.type == "RECORD":
        members = ", ".join(f"{quote_identifier(c.name)} {duckdb_type(c)}" for c in field.fields)
        base = f"STRUCT({members})"
    else:
        base = _DUCKDB_TYPES[field.type]
    return f"{base}[]" if field.repeated else base


def column_definition(field: Field) -> str:
    not_null = " NOT NULL" if field.required else ""
    return f"{quote_identifier(field.name)} {duckdb_type(field)}{not_null}"


def same_shape(left: Field, right: Field) -> bool:
    """Whether two fields store the same data (names compared as BigQuery does, any case)."""
    return (
        left.name.lower() == right.name.lower()
        and left.type == right.type
        and left.mode == right.mode
        and len(left.fields) == len(right.fields)
        and all(same_shape(a, b) for a, b in zip(left.fields, right.fields, strict=True))
    )


# ---------------------------------------------------------------------------
# JSON rows in (load jobs and insertAll)


class RowError(Exception):
    """A row that does not fit the schema; `location` names the field."""

    def __init__(self, message: str, location: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.location = location


def coerce_row(
    row: Any,
    fields: Sequence[Field],
    *,
    ignore_unknown_values: bool,
    json_text_in_strings: bool,
) -> tuple[Any, ...]:
    """Python values for one JSON row, in schema order, or RowError.

    `json_text_in_strings`: insertAll takes a JSON column's string as JSON text (the
    client sends json.dumps of the value); a load job stores the raw JSON value as is.
    """
    values = _coerce_record(row, fields, "", ignore_unknown_values, json_text_in_strings)
    return tuple(values[field.name] for field in fields)


def _coerce_record(
    value: Any,
    fields: Sequence[Field],
    path: str,
    ignore_unknown_values: bool,
    json_text_in_strings: bool,
) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        where = f" for field {path.rstrip('.')}" if path else ""
        raise RowError(f"Expected a JSON object{where}", path.rstrip("."))
    by_name = {field.name.lower(): field for field in fields}
    given: dict[str, Any] = {}
    for key, item in value.items():
        field = by_name.get(str(key).lower())
        if field is None:
            if ignore_unknown_values:
                continue
            raise RowError(f"No such field: {path}{key}.", f"{path}{key}")
        given[field.name] = item
    return {
        field.name: _coerce_value(
            given.get(field.name),
            field,
            f"{path}{field.name}",
            ignore_unknown_values,
            json_text_in_strings,
        )
        for field in fields
    }


def _coerce_value(
    value: Any,
    field: Field,
    path: str,
    ignore_unknown_values: bool,
    json_text_in_strings: bool,
) -> Any:
    if field.repeated:
        if value is None:
            return []
        if not isinstance(value, list):
            raise RowError(f"Array specified for non-repeated field: {path}.", path)
        items = []
        for item in value:
            if item is None:
                raise RowError(f"Only optional fields can be set to NULL. Field: {path}", path)
            items.append(
                _coerce_single(item, field, path, ignore_unknown_values, json_text_in_strings)
            )
        return items
    if value is None:
        if field.required:
            raise RowError(f"Missing required field: {path}.", path)
        return None
    if isinstance(value, list) and field.type != "JSON":
        raise RowError(f"Array specified for non-repeated field: {path}.", path)
    return _coerce_single(value, field, path, ignore_unknown_values, json_text_in_strings)


def _coerce_single(
    value: Any,
    field: Field,
    path: str,
    ignore_unknown_values: bool,
    json_text_in_strings: bool,
) -> Any:
    if field.type == "RECORD":
        return _coerce_record(
            value, field.fields, f"{path}.", ignore_unknown_values, json_text_in_strings
        )
    if field.type == "JSON":
        return _coerce_json(value, path, json_text_in_strings)
    try:
        return _SCALAR_COERCERS[field.type](value)
    except (ValueError, TypeError, ArithmeticError, binascii.Error) as exc:
        shown = json.dumps(value) if not isinstance(value, str) else value
        raise RowError(
            f"Could not convert value '{shown}' to {field.type.lower()}. Field: {path}; "
            f"Value: {shown}. {exc}".rstrip(),
            path,
        ) from exc


def _coerce_json(value: Any, path: str, json_text_in_strings: bool) -> str:
    if isinstance(value, str) and json_text_in_strings:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowError(f"Invalid JSON value for field {path}: {exc.msg}", path) from exc
        return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise TypeError("a JSON object cannot be a STRING")


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.match(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError("not an integer")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValueError("out of range for INT64")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise TypeError("not a number")


def _to_numeric(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("not a number")
    number = decimal.Decimal(str(value).strip())
    if not number.is_finite() or abs(number) >= _NUMERIC_LIMIT:
        raise ValueError("out of range for NUMERIC")
    # BigQuery rounds extra fractional digits half away from zero.
    return number.quantize(_NUMERIC_SCALE, rounding=decimal.ROUND_HALF_UP)


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError("not a boolean")


def _to_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        return _EPOCH + dt.timedelta(microseconds=round(value * 1_000_000))
    if not isinstance(value, str):
        raise TypeError("not a timestamp")
    text = value.strip().replace("/", "-", 2)
    if text.upper().endswith(" UTC"):
        text = text[:-4] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _to_date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise TypeError("not a date")
    return dt.date.fromisoformat(value.strip())


def _to_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError("not a datetime")
    parsed = dt.datetime.fromisoformat(value.strip())
    if parsed.tzinfo is not None:
        raise ValueError("DATETIME has no time zone")
    return parsed


def _to_time(value: Any) -> dt.time:
    if not isinstance(value, str):
        raise TypeError("not a time")
    return dt.time.fromisoformat(value.strip())


def _to_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("BYTES must be base64 text")
    return base64.b64decode(value, validate=True)


_SCALAR_COERCERS: dict[str, Any] = {
    "STRING": _to_string,
    "INTEGER": _to_integer,
    "FLOAT": _to_float,
    "NUMERIC": _to_numeric,
    "BOOLEAN": _to_boolean,
    "TIMESTAMP": _to_timestamp,
    "DATE": _to_date,
    "DATETIME": _to_datetime,
    "TIME": _to_time,
    "BYTES": _to_bytes,
}


# ---------------------------------------------------------------------------
# Schema auto-detection (load jobs with autodetect and no table yet)


def infer_fields(rows: Iterable[Mapping[str, Any]]) -> tuple[Field, ...]:
    """A schema for JSON rows, roughly as BigQuery's auto-detection builds it."""
    found: dict[str, Field] = {}
    for row in rows:
        for key, value in row.items():
            guess = _infer_field(str(key), value)
            if guess is None:
                continue
            known = found.get(key)
            found[key] = guess if known is None else _widen(known, guess)
    return tuple(found.values())


def _infer_field(name: str, value: Any) -> Field | None:
    if value is None:
        return None
    if isinstance(value, list):
        guesses = (_infer_field(name, item) for item in value if item is not None)
        items = [guess for guess in guesses if guess is not None]
        if not items:
            return None
        merged = items[0]
        for item in items[1:]:
            merged = _widen(merged, item)
        return Field(name, merged.type, "REPEATED", merged.fields)
    if isinstance(value, Mapping):
        children = infer_fields([value])
        return Field(name, "RECORD", "NULLABLE", children) if children else None
    if isinstance(value, bool):
        return Field(name, "BOOLEAN")
    if isinstance(value, int):
        return Field(name, "INTEGER")
    if isinstance(value, float):
        return Field(name, "FLOAT")
    return Field(name, _infer_string_type(str(value)))


def _infer_string_type(text: str) -> str:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return "DATE"
    if re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z| ?UTC|[+-]\d{2}:\d{2})", text
    ):
        return "TIMESTAMP"
    return "STRING"


def _widen(known: Field, new: Field) -> Field:
    if known.type == new.type:
        if known.type == "RECORD":
            merged = {f.name: f for f in known.fields}
            for child in new.fields:
                merged[child.name] = (
                    _widen(merged[child.name], child) if child.name in merged else child
                )
            return Field(known.name, "RECORD", known.mode, tuple(merged.values()))
        return known
    if {known.type, new.type} == {"INTEGER", "FLOAT"}:
        return Field(known.name, "FLOAT", known.mode)
    return Field(known.name, "STRING", known.mode)


# ---------------------------------------------------------------------------
# Query results: DuckDB types back to BigQuery fields

_FROM_DUCKDB: dict[str, str] = {
    "BIGINT": "INTEGER",
    "INTEGER": "INTEGER",
    "SMALLINT": "INTEGER",
    "TINYINT": "INTEGER",
    "HUGEINT": "INTEGER",
    "UBIGINT": "INTEGER",
    "UINTEGER": "INTEGER",
    "USMALLINT": "INTEGER",
    "UTINYINT": "INTEGER",
    "UHUGEINT": "INTEGER",
    "DOUBLE": "FLOAT",
    "FLOAT": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "VARCHAR": "STRING",
    "JSON": "JSON",
    "BLOB": "BYTES",
    "DATE": "DATE",
    "TIME": "TIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP_S": "DATETIME",
    "TIMESTAMP_MS": "DATETIME",
    "TIMESTAMP_NS": "DATETIME",
    # BigQuery types an untyped NULL as INT64.
    "NULL": "INTEGER",
    '"NULL"': "INTEGER",
}


def fields_from_duckdb(names: Sequence[str], types: Sequence[DuckDBPyType]) -> tuple[Field, ...]:
    """The BigQuery schema of a DuckDB result."""
    return tuple(_field_from_duckdb(name, kind) for name, kind in zip(names, types, strict=True))


def _field_from_duckdb(name: str, kind: DuckDBPyType, mode: str = "NULLABLE") -> Field:
    text = str(kind)
    if kind.id == "list":
        if mode == "REPEATED":
            # BigQuery has no arrays of arrays; the nearest faithful shape is JSON.
            return Field(name, "JSON", mode)
        return _field_from_duckdb(name, cast("DuckDBPyType", kind.children[0][1]), "REPEATED")
    if kind.id == "struct":
        children = tuple(
            _field_from_duckdb(str(n), cast("DuckDBPyType", t)) for n, t in kind.children
        )
        return Field(name, "RECORD", mode, children)
    if kind.id == "decimal":
        return Field(name, "NUMERIC", mode)
    return Field(name, _FROM_DUCKDB.get(text, "STRING"), mode)


# ---------------------------------------------------------------------------
# Stored values out: the wire form tabledata.list and getQueryResults send


@dataclass(frozen=True)
class TimestampFormat:
    """How TIMESTAMP cells are written (the request's formatOptions)."""

    int64_micros: bool = False
    iso8601: bool = False

    @classmethod
    def from_options(cls, use_int64: Any, output_format: Any) -> TimestampFormat:
        chosen = str(output_format or "").upper()
        if chosen == "ISO8601_STRING":
            return cls(iso8601=True)
        if chosen == "INT64":
            return cls(int64_micros=True)
        if chosen == "FLOAT64":
            return cls()
        return cls(int64_micros=str(use_int64).lower() == "true")


def encode_row(
    values: Sequence[Any], fields: Sequence[Field], timestamps: TimestampFormat
) -> dict[str, Any]:
    """One TableRow: {"f": [{"v": cell}, ...]}."""
    return {
        "f": [
            {"v": _encode_cell(value, field, timestamps)}
            for value, field in zip(values, fields, strict=True)
        ]
    }


def _encode_cell(value: Any, field: Field, timestamps: TimestampFormat) -> Any:
    if field.repeated:
        if value is None:
            return []
        return [{"v": _encode_single(item, field, timestamps)} for item in value]
    return _encode_single(value, field, timestamps)


def _encode_single(value: Any, field: Field, timestamps: TimestampFormat) -> Any:
    if value is None:
        return None
    if field.type == "RECORD":
        members = (
            value
            if isinstance(value, Mapping)
            else dict(zip([f.name for f in field.fields], value, strict=False))
        )
        return {
            "f": [{"v": _encode_cell(members.get(c.name), c, timestamps)} for c in field.fields]
        }
    return _SCALAR_ENCODERS.get(field.type, str)(value, timestamps)


def _encode_float(value: Any, _: TimestampFormat) -> str:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def _encode_numeric(value: Any, _: TimestampFormat) -> str:
    number = decimal.Decimal(value)
    return format(number.normalize(), "f") if number else "0"


def _encode_timestamp(value: Any, timestamps: TimestampFormat) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    else:
        moment = _to_timestamp(value)
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if timestamps.iso8601:
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if timestamps.int64_micros:
        return str(micros)
    # The legacy form: seconds since the epoch as a floating-point number.
    return repr(micros / 1_000_000)


def _encode_datetime(value: Any, _: TimestampFormat) -> str:
    text: str = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    return text


def _encode_bytes(value: Any, _: TimestampFormat) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _encode_json(value: Any, _: TimestampFormat) -> str:
    # DuckDB hands JSON back as its text; normalise spacing as BigQuery does.
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


_SCALAR_ENCODERS: dict[str, Any] = {
    "STRING": lambda value, _: str(value),
    "INTEGER": lambda value, _: str(int(value)),
    "FLOAT": _encode_float,
    "NUMERIC": _encode_numeric,
    "BOOLEAN": lambda value, _: "true" if value else "false",
    "TIMESTAMP": _encode_timestamp,
    "DATE": lambda value, _: value.isoformat() if isinstance(value, dt.date) else str(value),
    "DATETIME": _encode_datetime,
    "TIME": lambda value, _: value.isoformat() if isinstance(value, dt.time) else str(value),
    "BYTES": _encode_bytes,
    "JSON": _encode_json,
}
