"""Row values in and out, driven by a table's `Field` tree:

- JSON row -> Python values DuckDB stores (`coerce_row`), refusing what BigQuery refuses,
  with its wording (`RowError`: message and location);
- stored value -> the `{"f": [{"v": ...}]}` cells the client parses (`encode_row`), with
  TIMESTAMP as the request's formatOptions ask (`TimestampFormat`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from localcloud.bigquery.schema import Field

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_NUMERIC_LIMIT = decimal.Decimal(10) ** 29
_NUMERIC_SCALE = decimal.Decimal("1e-9")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------
# JSON rows in (load jobs and insertAll)


class RowError(Exception):
    """A row that does not fit the schema; `location` names the field."""

    def __init__(
        self, message: str, location: str = "", conversion: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        # (field type, the value as text) when a value could not be converted.
        self.conversion = conversion


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
            (field.type, shown),
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
