"""GoogleSQL in, DuckDB SQL out: sqlglot translates, this module resolves names.

Table references `project.dataset.table`, `dataset.table` (the job's project) and a bare
`table` (the query's defaultDataset), with or without backticks, become the DuckDB table
that stores them. Query parameters (@name and ?) become typed literals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from localcloud.bigquery.analyzer import Analysis
from localcloud.bigquery.errors import invalid_query, unsupported
from localcloud.bigquery.schema import quote_identifier
from localcloud.bigquery.semantics import check_supported, fix_semantics


@dataclass(frozen=True)
class TableName:
    """A table's full BigQuery name."""

    project: str
    dataset: str
    table: str

    @property
    def api_id(self) -> str:
        """The `project:dataset.table` form BigQuery uses in ids and messages."""
        return f"{self.project}:{self.dataset}.{self.table}"

    @property
    def reference(self) -> dict[str, str]:
        return {"projectId": self.project, "datasetId": self.dataset, "tableId": self.table}

    @property
    def duckdb_schema(self) -> str:
        return duckdb_schema(self.project, self.dataset)

    @property
    def duckdb_name(self) -> str:
        """The quoted DuckDB name of the table that stores this one."""
        return f"{quote_identifier(self.duckdb_schema)}.{quote_identifier(self.table)}"


def duckdb_schema(project: str, dataset: str) -> str:
    """One DuckDB schema per dataset; the dot keeps it apart from internal schemas."""
    return f"{project}.{dataset}"


@dataclass(frozen=True)
class Statement:
    """A translated statement and what the job needs to know about it."""

    sql: str
    statement_type: str
    target: TableName | None
    referenced: tuple[TableName, ...]
    # A MERGE that updates or deletes: a query that finds a target row matched twice.
    match_check: str | None = None


_STATEMENT_TYPES: dict[type[exp.Expression], str] = {
    exp.Insert: "INSERT",
    exp.Update: "UPDATE",
    exp.Delete: "DELETE",
    exp.Merge: "MERGE",
}


def translate(
    query: str,
    *,
    project: str,
    default_dataset: tuple[str, str] | None,
    parameters: Sequence[Mapping[str, Any]] = (),
    check_table: Callable[[TableName], None] = lambda _: None,
    analysis: Analysis | None = None,
    json_columns: frozenset[str] = frozenset(),
    views: Mapping[TableName, str] | None = None,
) -> Statement:
    """Translate one GoogleSQL statement; raise invalidQuery/notFound as BigQuery does.

    With the statement's `analysis`, what DuckDB would answer differently is rewritten or
    refused (`semantics`); `json_columns` are the JSON column names of the tables it reads;
    `views` maps each view to the DuckDB SQL of its query, read as a subquery.
    """
    if analysis is not None:
        check_supported(analysis)
    try:
        trees = [tree for tree in sqlglot.parse(query, read="bigquery") if tree is not None]
    except SqlglotError as exc:
        raise invalid_query(f"Syntax error: {_first_line(exc)}") from exc
    if not trees:
        raise invalid_query("Syntax error: Unexpected end of script")
    if len(trees) > 1:
        raise unsupported("Multi-statement scripts")
    tree = trees[0]
    statement_type = _statement_type(tree)

    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    target_node = tree.this if statement_type != "SELECT" else None
    if isinstance(target_node, exp.Schema):
        target_node = target_node.this
    target: TableName | None = None
    referenced: list[TableName] = []
    view_nodes: list[tuple[exp.Table, str]] = []
    for table in list(tree.find_all(exp.Table)):
        name = _resolve(table, project, default_dataset, cte_names)
        if name is None:
            continue
        check_table(name)
        referenced.append(name)
        if table is target_node:
            target = name
        if views and name in views:
            view_nodes.append((table, views[name]))
        table.set("catalog", None)
        table.set("db", exp.to_identifier(name.duckdb_schema, quoted=True))
        table.set("this", exp.to_identifier(name.table, quoted=True))
    if analysis is not None:
        fix_semantics(tree, analysis, {name.lower() for name in json_columns})
    for column in tree.find_all(exp.Column):
        # `project.dataset.table.column` keeps only the table part: the implicit alias.
        if column.args.get("db") is not None:
            column.set("catalog", None)
            column.set("db", None)

    _bind_parameters(tree, parameters)
    _fix_translation_gaps(tree)
    if isinstance(tree, exp.Select):
        _name_anonymous_columns(tree)
    for table, view_sql in view_nodes:
        alias = table.alias or table.name
        body = sqlglot.parse_one(view_sql, read="duckdb")
        table.replace(exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(alias))))

    try:
        sql = tree.sql(dialect="duckdb")
        match_check = _merge_match_check(tree) if isinstance(tree, exp.Merge) else None
    except SqlglotError as exc:
        raise invalid_query(_first_line(exc)) from exc
    return Statement(sql, statement_type, target, tuple(dict.fromkeys(referenced)), match_check)


def _merge_match_check(merge: exp.Merge) -> str | None:
    """BigQuery refuses a MERGE in which a target row that is updated or deleted matches
    more than one source row; DuckDB would apply one of them."""
    whens = merge.args.get("whens")
    clauses = whens.expressions if whens is not None else []
    if not any(when.args.get("matched") for when in clauses):
        return None
    target = merge.this.copy()
    check = (
        exp.select("1")
        .from_(target)
        .join(merge.args["using"].copy(), on=merge.args["on"].copy())
        .group_by(exp.column("rowid", table=target.alias_or_name))
        .having("count(*) > 1")
        .limit(1)
    )
    return check.sql(dialect="duckdb")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _statement_type(tree: exp.Expr) -> str:
    if isinstance(tree, exp.Query):
        return "SELECT"
    for kind, name in _STATEMENT_TYPES.items():
        if isinstance(tree, kind):
            return name
    raise unsupported(f"{tree.key.upper()} statements")


def table_name_of(
    path: Sequence[str], project: str, default_dataset: tuple[str, str] | None
) -> TableName:
    """The table a name written as `path` (the analyzer's segments) stands for."""
    parts = [part for segment in path for part in segment.split(".")]
    if len(parts) > 3:
        raise invalid_query(f"Invalid table name: {'.'.join(parts)}")
    table = exp.Table(this=exp.to_identifier(parts[-1]))
    if len(parts) > 1:
        table.set("db", exp.to_identifier(parts[-2]))
    if len(parts) > 2:
        table.set("catalog", exp.to_identifier(parts[0]))
    name = _resolve(table, project, default_dataset, set())
    assert name is not None
    return name


def _resolve(
    table: exp.Table,
    project: str,
    default_dataset: tuple[str, str] | None,
    cte_names: set[str],
) -> TableName | None:
    if not table.name:
        return None
    parts = [part.name for part in table.parts]
    if len(parts) == 1:
        if parts[0].lower() in cte_names:
            return None
        if default_dataset is None:
            raise invalid_query(
                f'Table "{parts[0]}" must be qualified with a dataset (e.g. dataset.table).'
            )
        return TableName(default_dataset[0], default_dataset[1], parts[0])
    if any("*" in part for part in parts):
        raise unsupported("Wildcard tables")
    if any(
        part.upper() == "INFORMATION_SCHEMA" or "INFORMATION_SCHEMA." in part.upper()
        for part in parts
    ):
        raise unsupported("INFORMATION_SCHEMA views")
    if len(parts) == 2:
        return TableName(project, parts[0], parts[1])
    if len(parts) == 3:
        return TableName(parts[0], parts[1], parts[2])
    raise invalid_query(f"Invalid table name: {'.'.join(parts)}")


def _fix_translation_gaps(tree: exp.Expr) -> None:
    """Where sqlglot's DuckDB output differs from BigQuery's meaning, say what BigQuery means."""
    # TIMESTAMP_MILLIS/MICROS and PARSE_TIMESTAMP give a TIMESTAMP (an instant) in BigQuery;
    # their DuckDB equivalents give a naive TIMESTAMP, which would come back as DATETIME.
    timestamptz = exp.DataType.build("TIMESTAMPTZ", dialect="duckdb")
    for node in list(tree.find_all(exp.UnixToTime, exp.StrToTime)):
        node.replace(exp.cast(node.copy(), timestamptz))
    # BigQuery's FORMAT takes printf-style patterns; DuckDB's FORMAT takes {} patterns.
    for node in list(tree.find_all(exp.Format)):
        node.replace(exp.func("printf", node.this.copy(), *[e.copy() for e in node.expressions]))


def _name_anonymous_columns(select: exp.Select) -> None:
    """BigQuery names unnamed result columns f0_, f1_, ...; DuckDB would use the SQL text."""
    anonymous = 0
    renamed: list[exp.Expr] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Alias | exp.Column | exp.Star) or (
            isinstance(projection, exp.Dot) and projection.is_star
        ):
            renamed.append(projection)
            continue
        renamed.append(exp.alias_(projection, f"f{anonymous}_"))
        anonymous += 1
    select.set("expressions", renamed)


# ---------------------------------------------------------------------------
# Query parameters

_PARAMETER_TYPES: dict[str, str] = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "INTEGER": "BIGINT",
    "FLOAT64": "DOUBLE",
    "FLOAT": "DOUBLE",
    "NUMERIC": "DECIMAL(38, 9)",
    "BIGNUMERIC": "DECIMAL(38, 9)",
    "BOOL": "BOOLEAN",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMPTZ",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIME": "TIME",
    "JSON": "JSON",
    "BYTES": "BLOB",
}


def _bind_parameters(tree: exp.Expr, parameters: Sequence[Mapping[str, Any]]) -> None:
    named = {str(p.get("name", "")).lower(): p for p in parameters if p.get("name")}
    positional = [p for p in parameters if not p.get("name")]

    for parameter in list(tree.find_all(exp.Parameter)):
        name = parameter.name.lower()
        if name not in named:
            raise invalid_query(f"Query parameter '{parameter.name}' not found")
        parameter.replace(_parameter_literal(named[name]))

    placeholders = list(tree.find_all(exp.Placeholder))
    if len(placeholders) > len(positional):
        raise invalid_query(
            f"Query has {len(placeholders)} positional parameters but {len(positional)} were given"
        )
    for placeholder, given in zip(placeholders, positional, strict=False):
        placeholder.replace(_parameter_literal(given))


def _parameter_literal(parameter: Mapping[str, Any]) -> exp.Expr:
    kind = parameter.get("parameterType") or {}
    value = parameter.get("parameterValue") or {}
    return _typed_literal(kind, value)


def _typed_literal(kind: Mapping[str, Any], value: Mapping[str, Any]) -> exp.Expr:
    type_name = str(kind.get("type", "")).upper()
    if type_name == "ARRAY":
        element_kind = kind.get("arrayType") or {}
        items = [_typed_literal(element_kind, item) for item in value.get("arrayValues") or []]
        element_type = _duckdb_parameter_type(element_kind)
        return exp.cast(
            exp.Array(expressions=items), exp.DataType.build(f"{element_type}[]", dialect="duckdb")
        )
    duck_type = exp.DataType.build(_duckdb_parameter_type(kind), dialect="duckdb")
    raw = value.get("value")
    if raw is None:
        return exp.cast(exp.null(), duck_type)
    if type_name == "BYTES":
        return exp.func("from_base64", exp.Literal.string(str(raw)))
    return exp.cast(exp.Literal.string(str(raw)), duck_type)


def _duckdb_parameter_type(kind: Mapping[str, Any]) -> str:
    type_name = str(kind.get("type", "")).upper()
    if type_name in _PARAMETER_TYPES:
        return _PARAMETER_TYPES[type_name]
    raise unsupported(f"Query parameters of type {type_name or 'unknown'}")
