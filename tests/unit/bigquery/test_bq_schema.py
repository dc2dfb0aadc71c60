"""Rows in, cells out: the BigQuery emulator's type rules, without a server."""

from __future__ import annotations

import datetime as dt
import decimal

import duckdb
import pytest

from localcloud.bigquery.errors import BigQueryError
from localcloud.bigquery.row_values import RowError, TimestampFormat, coerce_row, encode_row
from localcloud.bigquery.schema import (
    Field,
    fields_from_duckdb,
    infer_fields,
    parse_fields,
)

pytestmark = pytest.mark.unit

FIELDS = parse_fields(
    [
        {"name": "id", "type": "INT64", "mode": "REQUIRED"},
        {"name": "at", "type": "TIMESTAMP"},
        {"name": "cost", "type": "NUMERIC"},
        {"name": "doc", "type": "JSON"},
        {"name": "tags", "type": "STRING", "mode": "REPEATED"},
        {"name": "usage", "type": "STRUCT", "fields": [{"name": "n", "type": "INTEGER"}]},
    ]
)


def load(row: object, **options: bool) -> tuple[object, ...]:
    return coerce_row(
        row,
        FIELDS,
        ignore_unknown_values=options.get("ignore_unknown", False),
        json_text_in_strings=options.get("json_text", False),
    )


def test_schema_names_are_canonical() -> None:
    assert [(f.type, f.mode) for f in FIELDS] == [
        ("INTEGER", "REQUIRED"),
        ("TIMESTAMP", "NULLABLE"),
        ("NUMERIC", "NULLABLE"),
        ("JSON", "NULLABLE"),
        ("STRING", "REPEATED"),
        ("RECORD", "NULLABLE"),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        [{"name": "a", "type": "VARCHAR"}],
        [{"name": "a", "type": "STRING", "mode": "OPTIONAL"}],
        [{"name": "a", "type": "RECORD"}],
        [{"name": "a", "type": "STRING"}, {"name": "A", "type": "STRING"}],
        [{"name": "_PARTITIONTIME", "type": "TIMESTAMP"}],
    ],
)
def test_bad_schemas_are_invalid(fields: list[dict[str, object]]) -> None:
    with pytest.raises(BigQueryError) as raised:
        parse_fields(fields)
    assert (raised.value.code, raised.value.reason) == (400, "invalid")


def test_values_are_converted_to_their_column_types() -> None:
    values = load(
        {
            "ID": "42",
            "at": "2026-11-02 10:00:00.25 UTC",
            "cost": 1.2345678915,
            "doc": {"a": [1, None]},
            "tags": None,
            "usage": {"n": 7.0},
        }
    )
    assert values == (
        42,
        dt.datetime(2026, 11, 2, 10, 0, 0, 250000, tzinfo=dt.UTC),
        decimal.Decimal("1.234567892"),
        '{"a":[1,null]}',
        [],
        {"n": 7},
    )


def test_timestamps_accept_offsets_and_epoch_seconds() -> None:
    assert load({"id": 1, "at": "2026-11-02T12:00:00+02:00"})[1] == dt.datetime(
        2026, 11, 2, 10, tzinfo=dt.UTC
    )
    assert load({"id": 1, "at": 1.5})[1] == dt.datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=dt.UTC)


def test_json_strings_are_json_text_only_for_insert_all() -> None:
    assert load({"id": 1, "doc": '{"a": 1}'})[3] == '"{\\"a\\": 1}"'
    assert load({"id": 1, "doc": '{"a": 1}'}, json_text=True)[3] == '{"a":1}'
    with pytest.raises(RowError, match="Invalid JSON"):
        load({"id": 1, "doc": "{not json"}, json_text=True)


@pytest.mark.parametrize(
    ("row", "message", "location"),
    [
        ({"at": "2026-01-01"}, "Missing required field: id.", "id"),
        ({"id": "x"}, "Could not convert value 'x' to integer", "id"),
        ({"id": True}, "Could not convert value 'true' to integer", "id"),
        ({"id": 1.5}, "to integer", "id"),
        ({"id": 2**63}, "out of range for INT64", "id"),
        ({"id": 1, "extra": 1}, "No such field: extra.", "extra"),
        ({"id": 1, "usage": {"n": 1, "m": 2}}, "No such field: usage.m.", "usage.m"),
        ({"id": 1, "tags": "a"}, "Array specified for non-repeated field", "tags"),
        ({"id": 1, "tags": ["a", None]}, "Only optional fields can be set to NULL", "tags"),
        ({"id": 1, "at": "yesterday"}, "to timestamp", "at"),
        ({"id": 1, "cost": "1e40"}, "out of range for NUMERIC", "cost"),
        ({"id": 1, "usage": [1]}, "Array specified for non-repeated field", "usage"),
    ],
)
def test_rows_that_do_not_fit_name_the_field(row: object, message: str, location: str) -> None:
    with pytest.raises(RowError) as raised:
        load(row)
    assert message in raised.value.message
    assert raised.value.location == location


def test_unknown_values_can_be_ignored() -> None:
    assert load({"id": 1, "extra": 1, "usage": {"m": 2}}, ignore_unknown=True)[0] == 1


def test_cells_are_encoded_as_the_client_parses_them() -> None:
    at = dt.datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
    row = (7, at, decimal.Decimal("1.500000000"), '{"a": 1}', ["x", "y"], {"n": None})
    encoded = encode_row(row, FIELDS, TimestampFormat(int64_micros=True))
    assert encoded == {
        "f": [
            {"v": "7"},
            {"v": "1793613600123456"},
            {"v": "1.5"},
            {"v": '{"a":1}'},
            {"v": [{"v": "x"}, {"v": "y"}]},
            {"v": {"f": [{"v": None}]}},
        ]
    }


def test_timestamp_formats() -> None:
    at = (dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC),)
    fields = [Field("at", "TIMESTAMP")]
    assert encode_row(at, fields, TimestampFormat.from_options("true", None)) == {
        "f": [{"v": "1793613600000000"}]
    }
    assert encode_row(at, fields, TimestampFormat.from_options(None, "ISO8601_STRING")) == {
        "f": [{"v": "2026-11-02T10:00:00.000000Z"}]
    }
    assert encode_row(at, fields, TimestampFormat.from_options(None, None)) == {
        "f": [{"v": "1793613600.0"}]
    }


def test_special_floats_are_encoded_by_name() -> None:
    fields = [Field("f", "FLOAT")] * 3
    encoded = encode_row((float("nan"), float("inf"), 0.1), fields, TimestampFormat())
    assert encoded == {"f": [{"v": "NaN"}, {"v": "Infinity"}, {"v": "0.1"}]}


def test_result_schema_from_duckdb_types() -> None:
    relation = duckdb.sql(
        "SELECT 1::BIGINT AS i, sum(2) AS s, 0.5::DOUBLE AS f, 1.5::DECIMAL(10, 2) AS n,"
        " 'x' AS t, NULL AS nothing, [1, 2] AS l, {'a': 1, 'b': ['x']} AS r,"
        " TIMESTAMPTZ '2026-01-01 00:00:00+00' AS ts, TIMESTAMP '2026-01-01' AS dtm,"
        " DATE '2026-01-01' AS d, '{}'::JSON AS j, true AS b, 'x'::BLOB AS bytes"
    )
    fields = fields_from_duckdb(relation.columns, relation.types)
    assert [(f.name, f.type, f.mode) for f in fields] == [
        ("i", "INTEGER", "NULLABLE"),
        ("s", "INTEGER", "NULLABLE"),
        ("f", "FLOAT", "NULLABLE"),
        ("n", "NUMERIC", "NULLABLE"),
        ("t", "STRING", "NULLABLE"),
        ("nothing", "INTEGER", "NULLABLE"),
        ("l", "INTEGER", "REPEATED"),
        ("r", "RECORD", "NULLABLE"),
        ("ts", "TIMESTAMP", "NULLABLE"),
        ("dtm", "DATETIME", "NULLABLE"),
        ("d", "DATE", "NULLABLE"),
        ("j", "JSON", "NULLABLE"),
        ("b", "BOOLEAN", "NULLABLE"),
        ("bytes", "BYTES", "NULLABLE"),
    ]
    assert [(c.name, c.type, c.mode) for c in fields[7].fields] == [
        ("a", "INTEGER", "NULLABLE"),
        ("b", "STRING", "REPEATED"),
    ]


def test_autodetect_widens_types_across_rows() -> None:
    fields = infer_fields(
        [
            {"n": 1, "when": "2026-01-01T00:00:00Z", "day": "2026-01-01", "r": {"a": 1}},
            {"n": 1.5, "tags": ["a"], "r": {"b": "x"}, "mixed": 1},
            {"mixed": "text", "empty": None},
        ]
    )
    assert [(f.name, f.type, f.mode) for f in fields] == [
        ("n", "FLOAT", "NULLABLE"),
        ("when", "TIMESTAMP", "NULLABLE"),
        ("day", "DATE", "NULLABLE"),
        ("r", "RECORD", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
        ("mixed", "STRING", "NULLABLE"),
    ]
    assert [c.name for c in fields[3].fields] == ["a", "b"]
