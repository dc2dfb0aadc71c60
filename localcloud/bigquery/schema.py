"""BigQuery table schemas: the `Field` tree, parsing, DuckDB column types, detection.

- schema resources -> `Field`s (`parse_fields`), checked as BigQuery checks them;
- `Field` -> DuckDB column types (`duckdb_type`, `column_definition`);
- JSON rows -> a schema (`infer_fields`, a load's autodetect);
- DuckDB result types -> BigQuery schema (`fields_from_duckdb`).
The values of rows, in and out, are `row_values`' work.
"""

from __future__ import annotations

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
