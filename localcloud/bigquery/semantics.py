"""GoogleSQL's meaning on DuckDB: where sqlglot's translation would answer differently.

The analyzer has accepted the statement (BigQuery's names, types and rules); sqlglot turns it
into DuckDB SQL. This module rewrites the parsed GoogleSQL tree where the two engines differ,
so that an answer is BigQuery's or a loud refusal, never a third thing:

- errors BigQuery raises at run time: `/`, DIV and MOD by zero ("division by zero: 1 / 0"),
  `arr[OFFSET(i)]`/`ORDINAL` out of range ("Array index 5 is out of bounds (overflow)"; the
  SAFE_ forms give NULL, and DuckDB's negative indexes never count from the end), an ARRAY
  with a NULL element in a result (checked where results are written);
- values: FLOAT64 literals (`1.5` is FLOAT64, DuckDB would make it DECIMAL), CAST(... AS
  STRING) of FLOAT64, NUMERIC and BYTES as BigQuery writes them, UNNEST ... WITH OFFSET from
  0, EXTRACT(DAYOFWEEK) 1-7 from Sunday, WEEK from Sunday, MILLISECOND/MICROSECOND within the
  second, EXTRACT(DATE|TIME|DATETIME FROM ...), JSON_TYPE's lower-case names, DATE_ADD,
  DATE_SUB and DATE_TRUNC typed as the analyzer types them, BYTE_LENGTH, IEEE_DIVIDE,
  LAX_INT64, SAFE.PARSE_JSON, ARRAY_AGG(... LIMIT n), JSON field access `col.a.b`;
- everything else: `SUPPORTED_FUNCTIONS` lists the ZetaSQL functions whose DuckDB translation
  is BigQuery's (tests/unit/bigquery/test_bq_functions.py checks each against the documented
  answer); a statement calling any other function, a SAFE. form not listed in
  `SAFE_FUNCTIONS`, or a function of argument types outside `_ARGUMENT_TYPES`
  (TO_JSON_STRING), is refused as not supported by the emulator.
The DuckDB macros the rewrites call are `MACROS`, created on the store's connection.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from localcloud.bigquery.analyzer import Analysis
from localcloud.bigquery.errors import unsupported

MACROS = (
    """bq_divide(a, b) AS CASE WHEN b = 0 THEN error('division by zero: '
        || CAST(a AS VARCHAR) || ' / ' || CAST(b AS VARCHAR)) ELSE a / b END""",
    """bq_int_divide(a, b) AS CASE WHEN b = 0 THEN error('division by zero: '
        || CAST(a AS VARCHAR) || ' / ' || CAST(b AS VARCHAR)) ELSE trunc(a / b) END""",
    """bq_mod(a, b) AS CASE WHEN b = 0 THEN error('division by zero: MOD('
        || CAST(a AS VARCHAR) || ', ' || CAST(b AS VARCHAR) || ')') ELSE a % b END""",
    """bq_array_at(arr, position, base) AS CASE
        WHEN arr IS NULL OR position IS NULL THEN NULL
        WHEN position - base < 0 THEN
            error('Array index ' || CAST(position AS VARCHAR) || ' is out of bounds (underflow)')
        WHEN position - base >= len(arr) THEN
            error('Array index ' || CAST(position AS VARCHAR) || ' is out of bounds (overflow)')
        ELSE arr[position - base + 1] END""",
    """bq_safe_array_at(arr, position, base) AS CASE
        WHEN position - base >= 0 AND position - base < len(arr)
        THEN arr[position - base + 1] END""",
    """bq_json_type(j) AS CASE WHEN j IS NULL THEN NULL ELSE CASE json_type(j)
        WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' WHEN 'VARCHAR' THEN 'string'
        WHEN 'BOOLEAN' THEN 'boolean' WHEN 'NULL' THEN 'null' ELSE 'number' END END""",
    # CAST(x AS STRING) as BigQuery writes x: typeof() is constant, so only one branch runs,
    # and every branch binds for any type.
    r"""bq_string(x) AS CASE
        WHEN typeof(x) IN ('DOUBLE', 'FLOAT') THEN regexp_replace(CAST(x AS VARCHAR), '\.0$', '')
        WHEN typeof(x) LIKE 'DECIMAL%' THEN
            regexp_replace(regexp_replace(CAST(x AS VARCHAR), '(\.[0-9]*?)0+$', '\1'), '\.$', '')
        WHEN typeof(x) = 'BLOB' THEN decode(CAST(x AS BLOB))
        ELSE CAST(x AS VARCHAR) END""",
    """bq_lax_int64(j) AS CASE json_type(j)
        WHEN 'BIGINT' THEN CAST(j AS BIGINT)
        WHEN 'UBIGINT' THEN TRY_CAST(j AS BIGINT)
        WHEN 'DOUBLE' THEN TRY_CAST(round(CAST(j AS DOUBLE)) AS BIGINT)
        WHEN 'BOOLEAN' THEN CAST(CAST(j AS BOOLEAN) AS BIGINT)
        WHEN 'VARCHAR' THEN TRY_CAST(round(TRY_CAST(j ->> '$' AS DOUBLE)) AS BIGINT)
        END""",
    "bq_safe_parse_json(s) AS CASE WHEN json_valid(s) THEN json(s) END",
    # INT64(json), FLOAT64(json), BOOL(json), STRING(json): the JSON value of that type,
    # NULL for a SQL NULL or JSON null, an error for any other JSON type.
    """bq_json_int64(j) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
        WHEN json_type(j) IN ('BIGINT', 'UBIGINT') THEN CAST(j AS BIGINT)
        WHEN json_type(j) = 'DOUBLE' AND CAST(j AS DOUBLE) = trunc(CAST(j AS DOUBLE))
        THEN CAST(CAST(j AS DOUBLE) AS BIGINT)
        ELSE error('The provided JSON input is not an integer') END""",
    """bq_json_float64(j) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
        WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(j AS DOUBLE)
        ELSE error('The provided JSON input is not a number') END""",
    """bq_json_bool(j) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
        WHEN json_type(j) = 'BOOLEAN' THEN CAST(j AS BOOLEAN)
        ELSE error('The provided JSON input is not a boolean') END""",
    """bq_json_string(j) AS CASE WHEN j IS NULL OR json_type(j) = 'NULL' THEN NULL
        WHEN json_type(j) = 'VARCHAR' THEN j ->> '$'
        ELSE error('The provided JSON input is not a string') END""",
)

# ZetaSQL's names of the functions whose translation gives BigQuery's answer.
SUPPORTED_FUNCTIONS = frozenset(
    [
        "$add",
        "$subtract",
        "$multiply",
        "$divide",
        "$unary_minus",
        "$equal",
        "$not_equal",
        "$less",
        "$less_or_equal",
        "$greater",
        "$greater_or_equal",
        "$and",
        "$or",
        "$not",
        "$is_null",
        "$is_true",
        "$is_false",
        "$like",
        "$in",
        "$in_array",
        "$between",
        "$case_no_value",
        "$case_with_value",
        "$make_array",
        "$array_at_offset",
        "$array_at_ordinal",
        "$safe_array_at_offset",
        "$safe_array_at_ordinal",
        "$extract",
        "$extract_date",
        "$extract_time",
        "$extract_datetime",
        "$is_distinct_from",
        "$is_not_distinct_from",
        "$count_star",
        "if",
        "ifnull",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "abs",
        "sign",
        "round",
        "floor",
        "ceil",
        "trunc",
        "sqrt",
        "pow",
        "exp",
        "ln",
        "log10",
        "div",
        "mod",
        "safe_divide",
        "ieee_divide",
        "concat",
        "lower",
        "upper",
        "length",
        "char_length",
        "byte_length",
        "trim",
        "ltrim",
        "rtrim",
        "substr",
        "starts_with",
        "ends_with",
        "strpos",
        "replace",
        "split",
        "regexp_contains",
        "regexp_extract",
        "regexp_replace",
        "lpad",
        "rpad",
        "reverse",
        "repeat",
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "array_agg",
        "string_agg",
        "countif",
        "logical_and",
        "logical_or",
        "any_value",
        "row_number",
        "rank",
        "dense_rank",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "array_length",
        "array_concat",
        "generate_array",
        "array_to_string",
        "current_timestamp",
        "current_date",
        "timestamp_trunc",
        "datetime_trunc",
        "date_trunc",
        "date_add",
        "date_sub",
        "date_diff",
        "timestamp_add",
        "timestamp_sub",
        "timestamp_diff",
        "timestamp_millis",
        "timestamp_micros",
        "timestamp_seconds",
        "unix_millis",
        "unix_micros",
        "unix_seconds",
        "date",
        "json_value",
        "json_query",
        "json_extract",
        "json_extract_scalar",
        "json_type",
        "parse_json",
        "to_json_string",
        "lax_int64",
        "int64",
        "string",
        "float64",
        "bool",
        "timestamp",
        "format_timestamp",
        "parse_timestamp",
        "format_date",
        "parse_date",
        "datetime",
        "format",
        "generate_uuid",
    ]
)
# SAFE. forms with a NULL-on-error translation.
SAFE_FUNCTIONS = frozenset({"parse_json"})
# Functions right for some argument types only (TO_JSON_STRING writes TIMESTAMPs, FLOAT64s
# and what STRUCTs and ARRAYs hold in DuckDB's forms).
_ARGUMENT_TYPES = {"to_json_string": frozenset({"JSON", "STRING", "INT64", "BOOL"})}

_OPERATOR_NAMES = {"$subscript": "The [] operator on JSON"}
_DUCKDB_TYPES = {"DATE": "DATE", "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMPTZ"}
_SAME_EXTRACT_PARTS = frozenset(
    ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "DAYOFYEAR", "QUARTER", "ISOYEAR"]
)
_STRING_TYPES = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR)


def check_supported(analysis: Analysis) -> None:
    """Refuse, loudly, what the translation does not answer as BigQuery does."""
    for use in analysis.functions:
        shown = use.name.lstrip("$").upper()
        if use.name not in SUPPORTED_FUNCTIONS:
            raise unsupported(_OPERATOR_NAMES.get(use.name, f"The function {shown}"))
        if use.safe and use.name not in SAFE_FUNCTIONS:
            raise unsupported(f"SAFE.{shown}")
        allowed = _ARGUMENT_TYPES.get(use.name)
        if allowed is not None and not set(use.arguments[:1]) <= allowed:
            raise unsupported(f"The function {shown} of {use.arguments[0]}")


def fix_semantics(tree: exp.Expr, analysis: Analysis, json_columns: set[str]) -> None:
    """Rewrite `tree` (GoogleSQL as sqlglot parsed it) to keep BigQuery's meaning on DuckDB."""
    _rewrite_json_paths(tree, analysis, json_columns)
    _replace(tree, exp.Div, lambda n: exp.func("bq_divide", n.this, n.expression))
    _replace(tree, exp.IntDiv, lambda n: exp.func("bq_int_divide", n.this, n.expression))
    _replace(tree, exp.Mod, lambda n: exp.func("bq_mod", n.this, n.expression))
    _replace(tree, exp.Bracket, _array_access)
    _json_conversions(tree, analysis)
    _replace(tree, exp.Literal, _float_literal)
    _replace(tree, exp.Cast, _string_cast)
    _replace(tree, exp.Extract, _extract)
    _replace(tree, exp.JSONType, lambda n: exp.func("bq_json_type", n.this))
    _replace(tree, exp.LaxInt64, lambda n: exp.func("bq_lax_int64", n.this))
    _replace(tree, exp.SafeFunc, _safe_call)
    _replace(tree, exp.ArrayAgg, _array_agg_limit)
    _replace(tree, exp.Unnest, _unnest_offset)
    for anonymous in list(tree.find_all(exp.Anonymous)):
        if anonymous.name.upper() == "IEEE_DIVIDE":
            left, right = anonymous.expressions
            double = exp.DataType.build("DOUBLE")
            anonymous.replace(
                exp.Div(this=exp.cast(left, double), expression=exp.cast(right, double))
            )
    _byte_length(tree, analysis)
    for name, node_type in (
        ("date_add", exp.DateAdd),
        ("date_sub", exp.DateSub),
        ("date_trunc", exp.DateTrunc),
    ):
        _typed_as_analyzed(tree, analysis, name, node_type)


def _replace(
    tree: exp.Expr, kind: type[exp.Expr], build: Callable[[exp.Expr], exp.Expr | None]
) -> None:
    # Innermost first, so that a rewritten node's arguments are rewritten already.
    for node in reversed(list(tree.find_all(kind))):
        replacement = build(node)
        if replacement is not None and replacement is not node:
            if node is tree:
                raise unsupported("This statement")
            node.replace(replacement)


def _array_access(node: exp.Expr) -> exp.Expr | None:
    # JSON subscripts ($subscript) are refused by check_supported: a [] left is an array's.
    if len(node.expressions) != 1:
        return None
    base = exp.Literal.number(int(node.args.get("offset") or 0))
    name = "bq_safe_array_at" if node.args.get("safe") else "bq_array_at"
    return exp.func(name, node.this, node.expressions[0], base)


def _float_literal(node: exp.Expr) -> exp.Expr | None:
    if node.is_string or not any(mark in node.name.lower() for mark in ".e"):
        return None
    if isinstance(node.parent, exp.Cast | exp.Interval):
        return None
    return exp.cast(node.copy(), exp.DataType.build("DOUBLE"))


def _string_cast(node: exp.Expr) -> exp.Expr | None:
    target = node.args.get("to")
    if not isinstance(target, exp.DataType) or target.this not in _STRING_TYPES:
        return None
    if node.args.get("format") is not None:
        raise unsupported("CAST ... FORMAT")
    converted = exp.func("bq_string", node.this)
    if isinstance(node, exp.TryCast):
        return exp.TryCast(this=converted, to=target.copy())
    return converted


def _extract(node: exp.Expr) -> exp.Expr | None:
    part = node.this.name.upper()
    value = node.expression
    if part in _SAME_EXTRACT_PARTS:
        return None
    if part == "DAYOFWEEK":
        return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
    if part == "WEEK":
        week = exp.func("strftime", value, exp.Literal.string("%U"))
        return exp.cast(week, exp.DataType.build("BIGINT"))
    if part == "ISOWEEK":
        return exp.Extract(this=exp.var("WEEK"), expression=value)
    if part in ("MILLISECOND", "MICROSECOND"):
        within = 1000 if part == "MILLISECOND" else 1_000_000
        return exp.Paren(this=exp.Mod(this=node.copy(), expression=exp.Literal.number(within)))
    if part == "TIME":  # DuckDB casts a TIMESTAMPTZ to TIME only through TIMESTAMP
        naive = exp.cast(value, exp.DataType.build("TIMESTAMP"))
        return exp.cast(naive, exp.DataType.build("TIME"))
    casts = {"DATE": "DATE", "DATETIME": "TIMESTAMP"}
    if part in casts:
        return exp.cast(value, exp.DataType.build(casts[part]))
    raise unsupported(f"EXTRACT({part} FROM ...)")


def _safe_call(node: exp.Expr) -> exp.Expr:
    inner = node.this
    if isinstance(inner, exp.ParseJSON):
        return exp.func("bq_safe_parse_json", inner.this)
    raise unsupported(f"SAFE.{inner.sql(dialect='bigquery').split('(')[0]}")


def _array_agg_limit(node: exp.Expr) -> exp.Expr | None:
    limit = node.this
    if not isinstance(limit, exp.Limit):
        return None
    aggregate = exp.ArrayAgg(this=limit.this)
    return exp.func("list_slice", aggregate, exp.Literal.number(1), limit.expression)


def _unnest_offset(node: exp.Expr) -> exp.Expr | None:
    """UNNEST(a) AS x WITH OFFSET AS o counts o from 0 (DuckDB's ORDINALITY counts from 1)."""
    offset = node.args.get("offset")
    if not isinstance(offset, exp.Identifier):
        return None
    alias = node.args.get("alias")
    columns = alias.columns if isinstance(alias, exp.TableAlias) else []
    if len(columns) != 1:
        raise unsupported("UNNEST ... WITH OFFSET without an alias for the values")
    value, ordinal = columns[0].name, f"{offset.name}__ordinal"
    inner = exp.Unnest(
        expressions=[e.copy() for e in node.expressions],
        alias=exp.TableAlias(columns=[exp.to_identifier(value)]),
        offset=exp.to_identifier(ordinal),
    )
    select = exp.select(
        exp.column(value),
        exp.alias_(
            exp.Sub(this=exp.column(ordinal), expression=exp.Literal.number(1)), offset.name
        ),
    ).from_(inner)
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(f"_{value}")))


_JSON_CONVERSIONS: tuple[tuple[str, type[exp.Expr], str], ...] = (
    ("int64", exp.Int64, "bq_json_int64"),
    ("float64", exp.Float64, "bq_json_float64"),
    ("bool", exp.JSONBool, "bq_json_bool"),
    ("string", exp.String, "bq_json_string"),
)


def _json_conversions(tree: exp.Expr, analysis: Analysis) -> None:
    """INT64(json), FLOAT64(json), BOOL(json) and STRING(json) as BigQuery converts."""
    for name, node_type, macro in _JSON_CONVERSIONS:
        nodes = list(tree.find_all(node_type))
        if not nodes:
            continue
        if {use.arguments[:1] for use in analysis.calls(name)} != {("JSON",)}:
            raise unsupported(f"{name.upper()} of anything but JSON")
        for node in reversed(nodes):
            node.replace(exp.func(macro, node.this))


def _byte_length(tree: exp.Expr, analysis: Analysis) -> None:
    nodes = list(tree.find_all(exp.ByteLength))
    if not nodes:
        return
    kinds = {use.arguments[0] for use in analysis.calls("byte_length")}
    if kinds == {"STRING"}:
        function = "strlen"
    elif kinds == {"BYTES"}:
        function = "octet_length"
    else:
        raise unsupported("BYTE_LENGTH of both STRING and BYTES in one statement")
    for node in nodes:
        node.replace(exp.func(function, node.this))


def _typed_as_analyzed(
    tree: exp.Expr, analysis: Analysis, name: str, node_type: type[exp.Expr]
) -> None:
    """DuckDB's date arithmetic gives TIMESTAMPs; BigQuery's keeps the analyzed type."""
    nodes = list(tree.find_all(node_type))
    if not nodes:
        return
    returns = {use.returns for use in analysis.calls(name)}
    if len(returns) != 1 or next(iter(returns)) not in _DUCKDB_TYPES:
        raise unsupported(f"{name.upper()} returning {' and '.join(sorted(returns))}")
    target = exp.DataType.build(_DUCKDB_TYPES[next(iter(returns))], dialect="duckdb")
    for node in reversed(nodes):
        node.replace(exp.cast(node.copy(), target))


def _rewrite_json_paths(tree: exp.Expr, analysis: Analysis, json_columns: set[str]) -> None:
    """`response.usageMetadata.totalTokenCount` (sqlglot reads it as db.table.column) becomes
    json_extract(response, '$."usageMetadata"."totalTokenCount"')."""
    if not analysis.json_paths:
        return
    wanted = {tuple(part.lower() for part in path) for path in analysis.json_paths}
    rewritten = 0
    for column in list(tree.find_all(exp.Column)):
        if column.root() is not tree:
            continue  # inside a path rewritten already
        top: exp.Expr = column
        while isinstance(top.parent, exp.Dot) and top.parent.this is top:
            top = top.parent
        parts = [part.name for part in column.parts]
        node: exp.Expr = column
        while node is not top and isinstance(node.parent, exp.Dot):
            node = node.parent
            parts.append(node.expression.name)
        for start in range(min(len(parts), 3)):
            head = parts[start].lower()
            path = tuple(part.lower() for part in parts[start:])
            if head in json_columns and len(path) > 1 and path in wanted:
                base = exp.column(parts[start], table=parts[start - 1] if start else None)
                json_path = "$" + "".join(f'."{field}"' for field in parts[start + 1 :])
                top.replace(exp.func("json_extract", base, exp.Literal.string(json_path)))
                rewritten += 1
                break
    if rewritten < len(analysis.json_paths):
        raise unsupported("This JSON field access")
