"""Every function the emulator runs gives BigQuery's documented answer.

`semantics.SUPPORTED_FUNCTIONS` is the list of ZetaSQL functions whose DuckDB translation is
BigQuery's; each is called here (the last test checks that none is left out) and its answer
compared with the one the GoogleSQL reference gives for it:
https://cloud.google.com/bigquery/docs/reference/standard-sql/functions-and-operators
(operators, conditional, mathematical, string, array, date, datetime, timestamp, JSON,
aggregate, navigation and numbering functions). The answers are the cells the REST API sends
(`v`): numbers as text, TIMESTAMPs as seconds since the epoch, NULL as None.
"""

from __future__ import annotations

import datetime as dt

import pytest

from localcloud.bigquery.errors import BigQueryError
from localcloud.bigquery.prepare import prepare_statement
from localcloud.bigquery.semantics import SUPPORTED_FUNCTIONS
from localcloud.bigquery.service import BigQueryService
from localcloud.bigquery.store import Store

pytestmark = pytest.mark.unit

# (expression, the cell BigQuery answers); "TS:..." is a UTC TIMESTAMP.
EXPRESSIONS = [
    ("1 + 2", "3"),
    ("5 - 7", "-2"),
    ("3 * 4", "12"),
    ("7 / 2", "3.5"),
    ("-(3)", "-3"),
    ("1 = 1", "true"),
    ("1 != 2", "true"),
    ("1 < 2", "true"),
    ("2 <= 2", "true"),
    ("3 > 2", "true"),
    ("3 >= 4", "false"),
    ("true AND false", "false"),
    ("true OR false", "true"),
    ("NOT true", "false"),
    ("NULL IS NULL", "true"),
    ("(1 = 1) IS TRUE", "true"),
    ("(1 = 2) IS FALSE", "true"),
    ("'abc' LIKE 'a%'", "true"),
    ("'abc' NOT LIKE 'b%'", "true"),
    ("2 IN (1, 2)", "true"),
    ("2 IN UNNEST([1, 2])", "true"),
    ("2 BETWEEN 1 AND 3", "true"),
    ("CASE WHEN 1 > 2 THEN 'a' ELSE 'b' END", "b"),
    ("CASE 2 WHEN 1 THEN 'a' WHEN 2 THEN 'b' END", "b"),
    ("'a' || 'b'", "ab"),
    ("ARRAY_LENGTH([1, 2, 3])", "3"),
    ("[10, 20][OFFSET(1)]", "20"),
    ("[10, 20][ORDINAL(1)]", "10"),
    ("[10, 20][SAFE_OFFSET(5)]", None),
    ("[10, 20][SAFE_ORDINAL(0)]", None),
    ("[10, 20][1]", "20"),
    ("EXTRACT(YEAR FROM DATE '2026-11-27')", "2026"),
    ("EXTRACT(DATE FROM TIMESTAMP '2026-11-27 10:00:00+00')", "2026-11-27"),
    ("EXTRACT(TIME FROM TIMESTAMP '2026-11-27 10:11:12+00')", "10:11:12"),
    ("EXTRACT(DATETIME FROM TIMESTAMP '2026-11-27 10:11:12+00')", "2026-11-27T10:11:12"),
    ("EXTRACT(WEEK FROM DATE '2026-01-04')", "1"),
    ("EXTRACT(ISOWEEK FROM DATE '2026-01-04')", "1"),
    ("EXTRACT(MILLISECOND FROM TIMESTAMP '2026-01-01 00:00:05.123+00')", "123"),
    ("1 IS DISTINCT FROM NULL", "true"),
    ("NULL IS NOT DISTINCT FROM NULL", "true"),
    ("IF(1 < 2, 'y', 'n')", "y"),
    ("IFNULL(NULL, 3)", "3"),
    ("COALESCE(NULL, NULL, 'c')", "c"),
    ("NULLIF(1, 1)", None),
    ("GREATEST(1, 5, 3)", "5"),
    ("LEAST(4, 2, 9)", "2"),
    ("ABS(-4)", "4"),
    ("SIGN(-2)", "-1"),
    ("ROUND(2.5)", "3.0"),
    ("ROUND(-2.5)", "-3.0"),
    ("ROUND(3.14159, 2)", "3.14"),
    ("FLOOR(2.7)", "2.0"),
    ("CEIL(2.1)", "3.0"),
    ("TRUNC(-2.7)", "-2.0"),
    ("SQRT(16.0)", "4.0"),
    ("POW(2, 10)", "1024.0"),
    ("POWER(3, 2)", "9.0"),
    ("EXP(0)", "1.0"),
    ("LN(1)", "0.0"),
    ("LOG10(1000)", "3.0"),
    ("DIV(7, 2)", "3"),
    ("DIV(-7, 2)", "-3"),
    ("MOD(7, 3)", "1"),
    ("MOD(-7, 3)", "-1"),
    ("SAFE_DIVIDE(1, 0)", None),
    ("SAFE_DIVIDE(6, 3)", "2.0"),
    ("IEEE_DIVIDE(0, 0)", "NaN"),
    ("IEEE_DIVIDE(-1, 0)", "-Infinity"),
    ("CONCAT('a', 'b', 'c')", "abc"),
    ("LOWER('AbC')", "abc"),
    ("UPPER('abc')", "ABC"),
    ("LENGTH('абв')", "3"),
    ("CHAR_LENGTH('ab')", "2"),
    ("CHARACTER_LENGTH('abc')", "3"),
    ("BYTE_LENGTH('абв')", "6"),
    ("TRIM('  a  ')", "a"),
    ("LTRIM('  a ')", "a "),
    ("RTRIM(' a  ')", " a"),
    ("TRIM('xxaxx', 'x')", "a"),
    ("SUBSTR('abcdef', 2, 3)", "bcd"),
    ("SUBSTR('abcdef', -2)", "ef"),
    ("SUBSTRING('abcdef', 3)", "cdef"),
    ("STARTS_WITH('abc', 'ab')", "true"),
    ("ENDS_WITH('abc', 'bc')", "true"),
    ("STRPOS('abcb', 'b')", "2"),
    ("REPLACE('aXbX', 'X', '-')", "a-b-"),
    ("ARRAY_LENGTH(SPLIT('a,b,c'))", "3"),
    ("SPLIT('a,b', ',')[OFFSET(1)]", "b"),
    ("REGEXP_CONTAINS('abc123', r'\\d+')", "true"),
    ("REGEXP_EXTRACT('abc123', r'\\d+')", "123"),
    ("REGEXP_EXTRACT('abc', r'\\d+')", None),
    ("REGEXP_REPLACE('a1b2', r'\\d', 'x')", "axbx"),
    ("LPAD('7', 3, '0')", "007"),
    ("RPAD('ab', 4, '-')", "ab--"),
    ("REVERSE('abc')", "cba"),
    ("REPEAT('ab', 3)", "ababab"),
    ("ARRAY_TO_STRING(['a', 'b'], '-')", "a-b"),
    ("ARRAY_LENGTH(ARRAY_CONCAT([1], [2, 3]))", "3"),
    ("ARRAY_LENGTH(GENERATE_ARRAY(1, 10, 3))", "4"),
    ("GENERATE_ARRAY(1, 10, 3)[OFFSET(3)]", "10"),
    ("TIMESTAMP_TRUNC(TIMESTAMP '2026-11-27 10:11:12+00', HOUR)", "TS:2026-11-27T10:00:00"),
    ("DATETIME_TRUNC(DATETIME '2026-11-27 10:11:12', DAY)", "2026-11-27T00:00:00"),
    ("DATE_TRUNC(DATE '2026-11-27', YEAR)", "2026-01-01"),
    ("DATE_ADD(DATE '2026-01-31', INTERVAL 1 MONTH)", "2026-02-28"),
    ("DATE_SUB(DATE '2026-03-01', INTERVAL 1 DAY)", "2026-02-28"),
    ("DATE_DIFF(DATE '2026-11-27', DATE '2026-11-01', DAY)", "26"),
    (
        "TIMESTAMP_ADD(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 90 MINUTE)",
        "TS:2026-01-01T01:30:00",
    ),
    (
        "TIMESTAMP_SUB(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 1 HOUR)",
        "TS:2025-12-31T23:00:00",
    ),
    (
        "TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 01:00:00+00', TIMESTAMP '2026-01-01 00:00:00+00', MINUTE)",
        "60",
    ),
    ("TIMESTAMP_MILLIS(1000)", "TS:1970-01-01T00:00:01"),
    ("TIMESTAMP_MICROS(1000000)", "TS:1970-01-01T00:00:01"),
    ("TIMESTAMP_SECONDS(60)", "TS:1970-01-01T00:01:00"),
    ("UNIX_MILLIS(TIMESTAMP '1970-01-01 00:00:01+00')", "1000"),
    ("UNIX_MICROS(TIMESTAMP '1970-01-01 00:00:01+00')", "1000000"),
    ("UNIX_SECONDS(TIMESTAMP '1970-01-01 00:01:00+00')", "60"),
    ("DATE(2026, 11, 27)", "2026-11-27"),
    ("DATE(TIMESTAMP '2026-11-27 23:00:00+00')", "2026-11-27"),
    ('JSON_VALUE(JSON \'{"a": {"b": "x"}}\', \'$.a.b\')', "x"),
    ("JSON_VALUE('{\"a\": 1}', '$.a')", "1"),
    ("TO_JSON_STRING(JSON_QUERY(JSON '{\"a\": {\"b\": 1}}', '$.a'))", '{"b":1}'),
    ("JSON_EXTRACT_SCALAR('{\"a\": \"x\"}', '$.a')", "x"),
    ("JSON_EXTRACT('{\"a\": {\"b\": 1}}', '$.a')", '{"b":1}'),
    ("JSON_TYPE(JSON '[]')", "array"),
    ("TO_JSON_STRING(PARSE_JSON('{\"a\": 1}'))", '{"a":1}'),
    ("LAX_INT64(JSON '\"7\"')", "7"),
    ("INT64(JSON '7')", "7"),
    ("STRING(JSON '\"s\"')", "s"),
    ("FLOAT64(JSON '1.5')", "1.5"),
    ("BOOL(JSON 'true')", "true"),
    ("TIMESTAMP('2026-11-27 10:00:00')", "TS:2026-11-27T10:00:00"),
    ("FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', TIMESTAMP '2026-11-27 10:05:00+00')", "2026-11-27 10:05"),
    ("PARSE_TIMESTAMP('%Y-%m-%d', '2026-11-27')", "TS:2026-11-27T00:00:00"),
    ("FORMAT_DATE('%Y/%m/%d', DATE '2026-11-27')", "2026/11/27"),
    ("PARSE_DATE('%Y%m%d', '20261127')", "2026-11-27"),
    ("DATETIME(2026, 11, 27, 1, 2, 3)", "2026-11-27T01:02:03"),
    ("FORMAT('%d-%s', 5, 'x')", "5-x"),
    ("LENGTH(GENERATE_UUID())", "36"),
    ("TO_JSON_STRING('a\"b')", '"a\\"b"'),
    ("ARRAY_LENGTH([x, 2])", "2"),
]
QUERIES = [
    ("SELECT COUNT(*) FROM UNNEST([1, 2, 3]) x", "3"),
    ("SELECT COUNT(x) FROM UNNEST([1, NULL, 3]) x", "2"),
    ("SELECT SUM(x) FROM UNNEST([1, 2, 3]) x", "6"),
    ("SELECT AVG(x) FROM UNNEST([1, 2]) x", "1.5"),
    ("SELECT MIN(x) FROM UNNEST([3, 1]) x", "1"),
    ("SELECT MAX(x) FROM UNNEST([3, 1]) x", "3"),
    ("SELECT ARRAY_LENGTH(ARRAY_AGG(x)) FROM UNNEST([1, 2]) x", "2"),
    ("SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a']) x", "a,b"),
    ("SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) x", "2"),
    ("SELECT LOGICAL_AND(x > 0) FROM UNNEST([1, 2]) x", "true"),
    ("SELECT LOGICAL_OR(x > 1) FROM UNNEST([1, 2]) x", "true"),
    ("SELECT ANY_VALUE(x) FROM UNNEST([5]) x", "5"),
    ("SELECT ROW_NUMBER() OVER (ORDER BY x) FROM UNNEST([5]) x", "1"),
    ("SELECT RANK() OVER (ORDER BY x) FROM UNNEST([5]) x", "1"),
    ("SELECT DENSE_RANK() OVER (ORDER BY x) FROM UNNEST([5]) x", "1"),
    ("SELECT LAG(x) OVER (ORDER BY x) FROM UNNEST([5]) x", None),
    ("SELECT LEAD(x, 1, 0) OVER (ORDER BY x) FROM UNNEST([5]) x", "0"),
    ("SELECT FIRST_VALUE(x) OVER (ORDER BY x) FROM UNNEST([5]) x", "5"),
    ("SELECT LAST_VALUE(x) OVER (ORDER BY x) FROM UNNEST([5]) x", "5"),
    ("SELECT CURRENT_TIMESTAMP() > TIMESTAMP '2020-01-01 00:00:00+00'", "true"),
    ("SELECT CURRENT_DATE() > DATE '2020-01-01'", "true"),
]


def sql_of(case: str) -> str:
    if case.startswith("SELECT"):
        return case
    # Expressions over a column, so that nothing is folded into a constant.
    return f"SELECT {case} FROM UNNEST([1]) AS x"


def expected_cell(want: str | None) -> str | None:
    if want is None or not want.startswith("TS:"):
        return want
    return repr(dt.datetime.fromisoformat(want[3:] + "+00:00").timestamp())


@pytest.fixture(scope="module")
def service() -> BigQueryService:
    return BigQueryService(Store())


def cell(service: BigQueryService, sql: str) -> object:
    answer = service.query("p", {"query": sql, "useLegacySql": False})
    return answer["rows"][0]["f"][0]["v"]


@pytest.mark.parametrize(("case", "want"), EXPRESSIONS + QUERIES)
def test_bigquerys_answer(service: BigQueryService, case: str, want: str | None) -> None:
    assert cell(service, sql_of(case)) == expected_cell(want)


def test_every_supported_function_is_checked() -> None:
    store = Store()
    called: set[str] = set()
    for case, _ in EXPRESSIONS + QUERIES:
        prepared = prepare_statement(store, sql_of(case), project="p", default_dataset=None)
        called.update(use.name for use in prepared.analysis.functions)
    assert sorted(SUPPORTED_FUNCTIONS - called) == []


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT TO_JSON(1)", "The function TO_JSON"),
        ("SELECT SAFE.LOWER('a')", "SAFE.LOWER"),
        ("SELECT TO_JSON_STRING(CURRENT_TIMESTAMP())", "The function TO_JSON_STRING of TIMESTAMP"),
        ("SELECT JSON '{\"a\": 1}'['a']", "The [] operator on JSON"),
    ],
)
def test_the_rest_is_refused_loudly(service: BigQueryService, sql: str, message: str) -> None:
    with pytest.raises(BigQueryError) as caught:
        service.query("p", {"query": sql, "useLegacySql": False})
    assert caught.value.message == f"{message} (not supported by the local BigQuery emulator)"
