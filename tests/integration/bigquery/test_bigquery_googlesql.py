"""GoogleSQL conformance through the official client: BigQuery's documented answer or error.

Each case is one the emulator once answered differently from BigQuery (accepted what BigQuery
refuses, answered another value, or refused valid GoogleSQL); the link is the page that says
what BigQuery does.
"""

from __future__ import annotations

import datetime as dt

import pytest
from bigquery_support import loaded_table
from google.api_core import exceptions
from google.cloud import bigquery

pytestmark = pytest.mark.integration

REF = "https://cloud.google.com/bigquery/docs/reference/standard-sql"
SCHEMA = [
    bigquery.SchemaField("name", "STRING"),
    bigquery.SchemaField("n", "INT64"),
    bigquery.SchemaField("response", "JSON"),
    bigquery.SchemaField("ts", "TIMESTAMP"),
    bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
]
ROWS = [
    {
        "name": "a",
        "n": 1,
        "response": {"usageMetadata": {"totalTokenCount": 42}, "sentiment": "positive"},
        "ts": "2026-11-02T10:00:00Z",
        "tags": ["x", "y"],
    },
    {"name": "b", "n": 2, "response": {"sentiment": "negative"}, "ts": "2026-11-03T10:00:00Z"},
]


@pytest.fixture
def table(client: bigquery.Client, dataset: str) -> str:
    return loaded_table(client, f"{dataset}.t", SCHEMA, ROWS)


def values(client: bigquery.Client, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row.values()) for row in client.query_and_wait(sql)]


def refused(client: bigquery.Client, sql: str) -> str:
    """The message of BigQuery's 400 invalidQuery for `sql`."""
    with pytest.raises(exceptions.BadRequest) as caught:
        client.query_and_wait(sql)
    error = caught.value.errors[0]
    assert error["reason"] == "invalidQuery", error
    return str(error["message"])


# ---------------------------------------------------------------------------------------
# Accepted by the old emulator, refused by BigQuery


def test_division_by_zero_is_an_error(client: bigquery.Client) -> None:
    # f"{REF}/operators#arithmetic_operators": "Division by zero returns an error";
    # f"{REF}/mathematical_functions#ieee_divide" never fails: 1/0 is +inf.
    assert refused(client, "SELECT 1/0") == "division by zero: 1 / 0"
    assert values(client, "SELECT IEEE_DIVIDE(1, 0), SAFE_DIVIDE(1, 0)") == [(float("inf"), None)]


def test_a_string_is_not_compared_with_an_int64(client: bigquery.Client, table: str) -> None:
    # f"{REF}/operators#comparison_operators": operands must be of the same type (no
    # implicit STRING to INT64 coercion outside literals of the right type).
    sql = f"SELECT name FROM `{table}` WHERE n = '1'"
    message = refused(client, sql)
    column = sql.index("n = ") + 1
    assert message == (
        f"No matching signature for operator = for argument types: INT64, STRING at [1:{column}]"
    )


def test_an_offset_out_of_range_is_an_error(client: bigquery.Client) -> None:
    # f"{REF}/operators#array_subscript_operator": OFFSET/ORDINAL out of range is an error,
    # SAFE_OFFSET returns NULL.
    assert refused(client, "SELECT [1, 2, 3][OFFSET(5)]") == (
        "Array index 5 is out of bounds (overflow)"
    )
    assert values(client, "SELECT [1, 2, 3][SAFE_OFFSET(-1)], [1, 2, 3][ORDINAL(1)]") == [(None, 1)]


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        ("WHERE response = response", "Equality is not defined for arguments of type JSON"),
        ("GROUP BY response", "Grouping by expressions of type JSON is not allowed"),
        ("ORDER BY response", "ORDER BY does not support expressions of type JSON"),
    ],
)
def test_json_is_not_comparable_groupable_or_orderable(
    client: bigquery.Client, table: str, clause: str, message: str
) -> None:
    # f"{REF}/data-types#json_type": JSON is not comparable, groupable or orderable.
    select = "response" if clause.startswith("GROUP") else "*"
    assert refused(client, f"SELECT {select} FROM `{table}` {clause}").startswith(message)


def test_timestamp_add_has_no_month(client: bigquery.Client, table: str) -> None:
    # f"{REF}/timestamp_functions#timestamp_add": date_part MICROSECOND ... DAY only.
    message = refused(client, f"SELECT TIMESTAMP_ADD(ts, INTERVAL 1 MONTH) FROM `{table}`")
    assert message == (
        "TIMESTAMP_ADD does not support the MONTH date part when the argument is TIMESTAMP"
        " type at [1:8]"
    )


@pytest.mark.parametrize("statement", ["UPDATE {t} SET n = 0", "DELETE FROM {t}"])
def test_update_and_delete_need_a_where_clause(
    client: bigquery.Client, table: str, statement: str
) -> None:
    # f"{REF}/dml-syntax#update_statement": "The WHERE keyword is mandatory."
    message = refused(client, statement.format(t=f"`{table}`"))
    assert message.endswith("must have a WHERE clause at [1:1]")


def test_merge_matching_a_target_row_twice_fails(
    client: bigquery.Client, table: str, dataset: str
) -> None:
    # f"{REF}/dml-syntax#merge_statement": a target row that matches more than one source
    # row fails the statement: "UPDATE/MERGE must match at most one source row for each
    # target row".
    sql = f"""
        MERGE `{table}` T
        USING (SELECT 1 AS n UNION ALL SELECT 1) S ON T.n = S.n
        WHEN MATCHED THEN UPDATE SET name = 'merged'"""
    assert refused(client, sql) == (
        "UPDATE/MERGE must match at most one source row for each target row"
    )
    assert values(client, f"SELECT name FROM `{table}` ORDER BY n") == [("a",), ("b",)]


def test_a_string_is_not_assigned_to_a_json_column(client: bigquery.Client, table: str) -> None:
    # f"{REF}/dml-syntax#update_statement": the value must be of the column's type
    # (or coercible to it: STRING is not coercible to JSON).
    message = refused(client, f"UPDATE `{table}` SET response = 'x' WHERE true")
    assert message.startswith(
        "Value of type STRING cannot be assigned to response, which has type JSON at [1:"
    )


def test_a_result_array_with_a_null_is_an_error(client: bigquery.Client) -> None:
    # f"{REF}/data-types#array_nulls": BigQuery raises an error if a query result has an
    # ARRAY which contains NULL elements (the official client used to crash on it).
    assert refused(client, "SELECT [1, NULL, 3]") == (
        "Array cannot have a null element; error in writing field f0_"
    )


# ---------------------------------------------------------------------------------------
# Answered differently by the old emulator


def test_unnest_with_offset_counts_from_zero(client: bigquery.Client) -> None:
    # f"{REF}/query-syntax#unnest_operator": WITH OFFSET is the zero-based position.
    sql = "SELECT x, o FROM UNNEST(['a', 'b']) AS x WITH OFFSET AS o ORDER BY o"
    assert values(client, sql) == [("a", 0), ("b", 1)]


def test_dayofweek_is_one_to_seven_from_sunday(client: bigquery.Client) -> None:
    # f"{REF}/date_functions#extract": DAYOFWEEK in [1,7] with Sunday as the first day.
    sql = "SELECT EXTRACT(DAYOFWEEK FROM DATE '2026-11-01'), EXTRACT(DAYOFWEEK FROM DATE '2026-11-07')"
    assert values(client, sql) == [(1, 7)]


def test_json_type_names_are_lower_case(client: bigquery.Client) -> None:
    # f"{REF}/json_functions#json_type": object, array, string, number, boolean, null.
    sql = (
        "SELECT JSON_TYPE(JSON '{\"a\": 1}'), JSON_TYPE(JSON '\"s\"'), JSON_TYPE(JSON '1.5'),"
        " JSON_TYPE(JSON '[1]'), JSON_TYPE(JSON 'true'), JSON_TYPE(JSON 'null')"
    )
    assert values(client, sql) == [("object", "string", "number", "array", "boolean", "null")]


def test_a_decimal_literal_is_float64(client: bigquery.Client) -> None:
    # f"{REF}/lexical#floating_point_literals": a literal with a point is FLOAT64.
    job = client.query("SELECT 1.5 AS x")
    rows = list(job.result())
    assert rows[0]["x"] == 1.5 and isinstance(rows[0]["x"], float)
    assert [field.field_type for field in job.schema] == ["FLOAT"]


def test_cast_of_float64_to_string(client: bigquery.Client) -> None:
    # f"{REF}/conversion_functions#cast_as_string": FLOAT64 is written in full precision,
    # without a trailing ".0".
    sql = "SELECT CAST(0.1 + 0.2 AS STRING), CAST(1.0 AS STRING), CAST(NUMERIC '1.50' AS STRING)"
    assert values(client, sql) == [("0.30000000000000004", "1", "1.5")]


def test_date_arithmetic_returns_dates(client: bigquery.Client) -> None:
    # f"{REF}/date_functions#date_add", #date_sub, #date_trunc: DATE in, DATE out.
    sql = """SELECT DATE_ADD(DATE '2026-01-31', INTERVAL 1 DAY) AS a,
                    DATE_SUB(DATE '2026-03-31', INTERVAL 1 MONTH) AS b,
                    DATE_TRUNC(DATE '2026-11-27', MONTH) AS c"""
    job = client.query(sql)
    assert [tuple(row.values()) for row in job.result()] == [
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28), dt.date(2026, 11, 1))
    ]
    assert [field.field_type for field in job.schema] == ["DATE", "DATE", "DATE"]


# ---------------------------------------------------------------------------------------
# GoogleSQL the old emulator refused


def test_json_field_access(client: bigquery.Client, table: str) -> None:
    # f"{REF}/operators#field_access_operator": a JSON field by name, NULL if missing.
    sql = f"SELECT INT64(response.usageMetadata.totalTokenCount) FROM `{table}` ORDER BY n"
    assert values(client, sql) == [(42,), (None,)]
    sql = f"SELECT t.response.sentiment FROM `{table}` AS t ORDER BY n"
    assert values(client, sql) == [("positive",), ("negative",)]


def test_lax_int64(client: bigquery.Client) -> None:
    # f"{REF}/json_functions#lax_int64": examples of the page.
    sql = """SELECT LAX_INT64(JSON '10'), LAX_INT64(JSON '"10"'), LAX_INT64(JSON '1.1'),
                    LAX_INT64(JSON '3.5'), LAX_INT64(JSON 'true'), LAX_INT64(JSON '"foo"')"""
    assert values(client, sql) == [(10, 10, 1, 4, 1, None)]


def test_safe_parse_json(client: bigquery.Client) -> None:
    # f"{REF}/functions-reference#safe_prefix": SAFE. gives NULL instead of an error.
    assert values(client, "SELECT SAFE.PARSE_JSON('not json'), SAFE.PARSE_JSON('[1]')") == [
        (None, [1])
    ]


def test_extract_date_from_a_timestamp(client: bigquery.Client, table: str) -> None:
    # f"{REF}/timestamp_functions#extract": EXTRACT(DATE FROM timestamp).
    sql = f"SELECT EXTRACT(DATE FROM ts) FROM `{table}` ORDER BY n"
    assert values(client, sql) == [(dt.date(2026, 11, 2),), (dt.date(2026, 11, 3),)]


def test_array_agg_with_order_and_limit(client: bigquery.Client, table: str) -> None:
    # f"{REF}/aggregate_functions#array_agg": ORDER BY and LIMIT inside ARRAY_AGG.
    sql = f"SELECT ARRAY_AGG(name ORDER BY ts DESC LIMIT 1) FROM `{table}`"
    assert values(client, sql) == [(["b"],)]


def test_byte_length(client: bigquery.Client) -> None:
    # f"{REF}/string_functions#byte_length": bytes, not characters.
    assert values(client, "SELECT BYTE_LENGTH('абв'), CHAR_LENGTH('абв')") == [(6, 3)]


# ---------------------------------------------------------------------------------------
# BigQuery's error shape


def test_errors_are_bigquerys_with_their_position(client: bigquery.Client, table: str) -> None:
    # https://cloud.google.com/bigquery/docs/error-messages: invalidQuery, HTTP 400.
    message = refused(client, f"SELECT nope FROM `{table}`")
    assert message == "Unrecognized name: nope; Did you mean name? at [1:8]"
    assert refused(client, "SELECT 1 x y") == (
        'Syntax error: Expected end of input but got identifier "y" at [1:12]'
    )


# ---------------------------------------------------------------------------------------
# The README's queries and a dataframe


def test_the_readme_queries(client: bigquery.Client, dataset: str) -> None:
    schema = [
        bigquery.SchemaField("key", "STRING"),
        bigquery.SchemaField("source_uri", "STRING"),
        bigquery.SchemaField("input_line", "INT64"),
        bigquery.SchemaField("status", "STRING"),
        bigquery.SchemaField("response_text", "STRING"),
        bigquery.SchemaField("response_json", "JSON"),
    ]
    table = f"{dataset}.predictions"
    client.create_table(bigquery.Table(table, schema=schema))
    rows = [
        {
            "key": f"k{line}",
            "source_uri": f"gs://my-input/reviews.jsonl#{generation}",
            "input_line": line,
            "status": status,
            "response_text": f"text {line}",
            "response_json": {"sentiment": sentiment},
        }
        for line, generation, status, sentiment in [
            (2, 7, "SUCCEEDED", "negative"),
            (1, 7, "SUCCEEDED", "positive"),
            (3, 7, "FAILED", None),
            (1, 8, "SUCCEEDED", "positive"),
        ]
    ]
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_json(rows, table, job_config=config).result()
    readme = f"""
        SELECT key, response_text FROM `{table}`
        WHERE source_uri LIKE 'gs://my-input/reviews.jsonl#%' AND status = 'SUCCEEDED'
        ORDER BY input_line"""
    assert sorted(values(client, readme))[:2] == [("k1", "text 1"), ("k1", "text 1")]
    assert [row[0] for row in values(client, readme)] == ["k1", "k1", "k2"]
    sentiments = f"""
        SELECT JSON_VALUE(response_json, '$.sentiment') AS sentiment, COUNT(*) AS n
        FROM `{table}` WHERE status = 'SUCCEEDED' GROUP BY sentiment ORDER BY sentiment"""
    assert values(client, sentiments) == [("negative", 1), ("positive", 2)]


def test_a_dataframe_of_a_table(client: bigquery.Client, table: str) -> None:
    frame = client.query(f"SELECT * FROM `{table}` ORDER BY n").to_dataframe()
    assert list(frame.columns) == ["name", "n", "response", "ts", "tags"]
    assert frame["name"].tolist() == ["a", "b"]
    assert frame["n"].tolist() == [1, 2]
    assert frame["ts"].iloc[0] == dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)
