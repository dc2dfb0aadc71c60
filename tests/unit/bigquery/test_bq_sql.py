"""GoogleSQL to DuckDB: name resolution, parameters and what is refused."""

from __future__ import annotations

import duckdb
import pytest

from localcloud.bigquery.errors import BigQueryError
from localcloud.bigquery.sql import TableName, translate

pytestmark = pytest.mark.unit


def test_every_spelling_of_a_table_resolves_to_one_duckdb_table() -> None:
    spellings = [
        "SELECT * FROM `my-proj.ds.t`",
        "SELECT * FROM `my-proj`.ds.t",
        "SELECT * FROM my-proj.ds.t",
        "SELECT * FROM ds.t",
        "SELECT * FROM `ds.t`",
        "SELECT * FROM t",
    ]
    for sql in spellings:
        statement = translate(sql, project="my-proj", default_dataset=("my-proj", "ds"))
        assert statement.referenced == (TableName("my-proj", "ds", "t"),), sql
        assert statement.sql == 'SELECT * FROM "my-proj.ds"."t"', sql


def test_columns_qualified_by_the_full_name_keep_the_table_part() -> None:
    statement = translate("SELECT `p.ds.t`.a, t.b FROM `p.ds.t`", project="p", default_dataset=None)
    assert statement.sql == 'SELECT "t"."a", t.b FROM "p.ds"."t"'


def test_cte_names_are_not_tables() -> None:
    statement = translate(
        "WITH recent AS (SELECT * FROM ds.t) SELECT * FROM recent",
        project="p",
        default_dataset=None,
    )
    assert statement.referenced == (TableName("p", "ds", "t"),)


def test_check_table_is_asked_about_every_table() -> None:
    asked: list[TableName] = []
    translate(
        "SELECT * FROM ds.a JOIN other.ds.b USING (k)",
        project="p",
        default_dataset=None,
        check_table=asked.append,
    )
    assert asked == [TableName("p", "ds", "a"), TableName("other", "ds", "b")]


@pytest.mark.parametrize(
    ("sql", "reason", "fragment"),
    [
        ("SELECT * FROM t", "invalidQuery", "must be qualified with a dataset"),
        ("SELEC 1", "invalidQuery", "Syntax error"),
        ("SELECT 1; SELECT 2", "invalid", "Multi-statement"),
        ("SELECT * FROM ds.t_*", "invalid", "Wildcard tables"),
        ("CREATE TABLE ds.x (a INT64)", "invalid", "CREATE statements"),
        ("SELECT * FROM ds.t WHERE a = @missing", "invalidQuery", "'missing' not found"),
    ],
)
def test_refused_statements(sql: str, reason: str, fragment: str) -> None:
    with pytest.raises(BigQueryError) as raised:
        translate(sql, project="p", default_dataset=None)
    assert raised.value.reason == reason
    assert fragment in raised.value.message


def test_parameters_become_typed_literals_that_duckdb_runs() -> None:
    statement = translate(
        "SELECT @n + 1 AS n, @names AS names, @at AS at, ? AS pos, @nothing AS nothing",
        project="p",
        default_dataset=None,
        parameters=[
            {"name": "n", "parameterType": {"type": "INT64"}, "parameterValue": {"value": "41"}},
            {
                "name": "names",
                "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                "parameterValue": {"arrayValues": [{"value": "a"}, {"value": "b"}]},
            },
            {
                "name": "at",
                "parameterType": {"type": "TIMESTAMP"},
                "parameterValue": {"value": "2026-01-01 00:00:00+00:00"},
            },
            {"parameterType": {"type": "STRING"}, "parameterValue": {"value": "it's"}},
            {"name": "nothing", "parameterType": {"type": "BOOL"}, "parameterValue": {}},
        ],
    )
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    row = connection.execute(statement.sql).fetchone()
    assert row is not None
    assert row[0] == 42
    assert row[1] == ["a", "b"]
    assert row[2].isoformat() == "2026-01-01T00:00:00+00:00"
    assert row[3] == "it's"
    assert row[4] is None


def test_unnamed_columns_are_named_like_bigquery() -> None:
    statement = translate(
        "SELECT 1, a, a + 1, COUNT(*) AS n, 2 FROM ds.t", project="p", default_dataset=None
    )
    assert statement.sql.startswith("SELECT 1 AS f0_, a, a + 1 AS f1_, COUNT(*) AS n, 2 AS f2_")


def test_dml_target_and_statement_type() -> None:
    statement = translate(
        "MERGE ds.target T USING ds.source S ON T.k = S.k WHEN NOT MATCHED THEN INSERT (k) VALUES (S.k)",
        project="p",
        default_dataset=None,
    )
    assert statement.statement_type == "MERGE"
    assert statement.target == TableName("p", "ds", "target")
    insert = translate("INSERT INTO ds.t (a) SELECT a FROM ds.u", project="p", default_dataset=None)
    assert (insert.statement_type, insert.target) == ("INSERT", TableName("p", "ds", "t"))


def test_timestamp_functions_give_instants_and_format_is_printf_style() -> None:
    statement = translate(
        "SELECT TIMESTAMP_MILLIS(1000) AS ms, PARSE_TIMESTAMP('%Y-%m-%d', '2026-11-02') AS p,"
        " FORMAT('%d-%s', 7, 'x') AS f",
        project="p",
        default_dataset=None,
    )
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    relation = connection.sql(statement.sql)
    assert [str(kind) for kind in relation.types][:2] == ["TIMESTAMP WITH TIME ZONE"] * 2
    row = connection.execute(statement.sql).fetchone()
    assert row is not None
    assert row[0].isoformat() == "1970-01-01T00:00:01+00:00"
    assert row[1].isoformat() == "2026-11-02T00:00:00+00:00"
    assert row[2] == "7-x"
