"""Every query through Google's GoogleSQL analyzer (ZetaSQL) before it runs, as BigQuery does.

- `LANGUAGE_FEATURES`: BigQuery's language as ZetaSQL knows it: PRODUCT_EXTERNAL (FLOAT64, no
  unsigned or 32-bit types), default name resolution, QUALIFY reserved, and the feature list
  of Google's ZetaSQL toolkit for BigQuery (GoogleCloudPlatform/zetasql-toolkit,
  `BigQueryLanguageOptions`); the statement kinds BigQuery analyses;
- `Catalog`: the tables and views a statement names, under exactly the paths it writes them
  (`ds.t`, `` `p.ds.t` ``, `p.ds.t`, a bare `t` with a default dataset), with their BigQuery
  types; each table gets a serialization id so that scans map back to it;
- `analyze` returns an `Analysis`: statement kind, output columns as BigQuery `Field`s, the
  columns each table scan reads (dry-run bytes), the functions called (by ZetaSQL name and
  whether SAFE.), the JSON field paths and the casts, which the DuckDB translation checks
  itself against; an analysis error becomes BigQuery's invalidQuery with `at [line:column]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2 as service_pb
from zetasql.wasi._pb2.zetasql.proto import options_pb2 as proto_options
from zetasql.wasi._pb2.zetasql.proto import simple_catalog_pb2 as catalog_pb
from zetasql.wasi._pb2.zetasql.public import options_pb2 as options_pb
from zetasql.wasi._pb2.zetasql.public import simple_table_pb2 as table_pb
from zetasql.wasi._pb2.zetasql.public import type_pb2 as type_pb
from zetasql.wasi._pb2.zetasql.resolved_ast import resolved_node_kind_pb2 as kind_pb

from localcloud.bigquery.errors import BigQueryError, invalid_query, unsupported
from localcloud.bigquery.schema import Field
from localcloud.bigquery.zetasql_runtime import AnalyzerError, ZetaSqlRuntime

# GoogleCloudPlatform/zetasql-toolkit, zetasql-toolkit-bigquery: BigQueryLanguageOptions
# (less FEATURE_V_1_4_SQL_MACROS and FEATURE_V_1_4_ENFORCE_STRICT_MACROS, which this ZetaSQL
# build no longer has: macros are not a language feature any more).
LANGUAGE_FEATURES = [
    "FEATURE_ALLOW_MISSING_PATH_EXPRESSION_IN_ALTER_DDL",
    "FEATURE_ALTER_COLUMN_SET_DATA_TYPE",
    "FEATURE_ALTER_TABLE_RENAME_COLUMN",
    "FEATURE_ANALYTIC_FUNCTIONS",
    "FEATURE_ANONYMIZATION",
    "FEATURE_BIGNUMERIC_TYPE",
    "FEATURE_CBRT_FUNCTIONS",
    "FEATURE_CREATE_EXTERNAL_TABLE_WITH_CONNECTION",
    "FEATURE_CREATE_EXTERNAL_TABLE_WITH_PARTITION_COLUMNS",
    "FEATURE_CREATE_EXTERNAL_TABLE_WITH_TABLE_ELEMENT_LIST",
    "FEATURE_CREATE_MATERIALIZED_VIEW_CLUSTER_BY",
    "FEATURE_CREATE_MATERIALIZED_VIEW_PARTITION_BY",
    "FEATURE_CREATE_SNAPSHOT_TABLE",
    "FEATURE_CREATE_TABLE_AS_SELECT_COLUMN_LIST",
    "FEATURE_CREATE_TABLE_CLONE",
    "FEATURE_CREATE_TABLE_CLUSTER_BY",
    "FEATURE_CREATE_TABLE_COPY",
    "FEATURE_CREATE_TABLE_FIELD_ANNOTATIONS",
    "FEATURE_CREATE_TABLE_FUNCTION",
    "FEATURE_CREATE_TABLE_LIKE",
    "FEATURE_CREATE_TABLE_NOT_NULL",
    "FEATURE_CREATE_TABLE_PARTITION_BY",
    "FEATURE_CREATE_VIEW_WITH_COLUMN_LIST",
    "FEATURE_DML_UPDATE_WITH_JOIN",
    "FEATURE_ENCRYPTION",
    "FEATURE_FOREIGN_KEYS",
    "FEATURE_GEOGRAPHY",
    "FEATURE_GROUP_BY_ROLLUP",
    "FEATURE_INTERVAL_TYPE",
    "FEATURE_INVERSE_TRIG_FUNCTIONS",
    "FEATURE_JSON_ARRAY_FUNCTIONS",
    "FEATURE_JSON_TYPE",
    "FEATURE_JSON_VALUE_EXTRACTION_FUNCTIONS",
    "FEATURE_NAMED_ARGUMENTS",
    "FEATURE_NUMERIC_TYPE",
    "FEATURE_PARAMETERIZED_TYPES",
    "FEATURE_PARAMETERS_IN_GRANTEE_LIST",
    "FEATURE_ROUND_WITH_ROUNDING_MODE",
    "FEATURE_TABLESAMPLE",
    "FEATURE_TABLE_VALUED_FUNCTIONS",
    "FEATURE_TEMPLATE_FUNCTIONS",
    "FEATURE_TIMESTAMP_NANOS",
    "FEATURE_TIME_BUCKET_FUNCTIONS",
    "FEATURE_UNENFORCED_PRIMARY_KEYS",
    "FEATURE_V_1_1_HAVING_IN_AGGREGATE",
    "FEATURE_V_1_1_LIMIT_IN_AGGREGATE",
    "FEATURE_V_1_1_NULL_HANDLING_MODIFIER_IN_AGGREGATE",
    "FEATURE_V_1_1_NULL_HANDLING_MODIFIER_IN_ANALYTIC",
    "FEATURE_V_1_1_ORDER_BY_IN_AGGREGATE",
    "FEATURE_V_1_1_SELECT_STAR_EXCEPT_REPLACE",
    "FEATURE_V_1_1_WITH_ON_SUBQUERY",
    "FEATURE_V_1_2_CIVIL_TIME",
    "FEATURE_V_1_2_SAFE_FUNCTION_CALL",
    "FEATURE_V_1_2_WEEK_WITH_WEEKDAY",
    "FEATURE_V_1_3_ADDITIONAL_STRING_FUNCTIONS",
    "FEATURE_V_1_3_ALLOW_DASHES_IN_TABLE_NAME",
    "FEATURE_V_1_3_ALLOW_REGEXP_EXTRACT_OPTIONALS",
    "FEATURE_V_1_3_ANNOTATION_FRAMEWORK",
    "FEATURE_V_1_3_CASE_STMT",
    "FEATURE_V_1_3_COLLATION_SUPPORT",
    "FEATURE_V_1_3_COLUMN_DEFAULT_VALUE",
    "FEATURE_V_1_3_CONCAT_MIXED_TYPES",
    "FEATURE_V_1_3_DATE_ARITHMETICS",
    "FEATURE_V_1_3_DATE_TIME_CONSTRUCTORS",
    "FEATURE_V_1_3_DECIMAL_ALIAS",
    "FEATURE_V_1_3_EXTENDED_DATE_TIME_SIGNATURES",
    "FEATURE_V_1_3_EXTENDED_GEOGRAPHY_PARSERS",
    "FEATURE_V_1_3_FORMAT_IN_CAST",
    "FEATURE_V_1_3_FOR_IN",
    "FEATURE_V_1_3_IS_DISTINCT",
    "FEATURE_V_1_3_LIKE_ANY_SOME_ALL",
    "FEATURE_V_1_3_NULLS_FIRST_LAST_IN_ORDER_BY",
    "FEATURE_V_1_3_OMIT_INSERT_COLUMN_LIST",
    "FEATURE_V_1_3_PIVOT",
    "FEATURE_V_1_3_QUALIFY",
    "FEATURE_V_1_3_REMOTE_FUNCTION",
    "FEATURE_V_1_3_REPEAT",
    "FEATURE_V_1_3_SCRIPT_LABEL",
    "FEATURE_V_1_3_UNNEST_AND_FLATTEN_ARRAYS",
    "FEATURE_V_1_3_UNPIVOT",
    "FEATURE_V_1_3_WITH_GROUP_ROWS",
    "FEATURE_V_1_3_WITH_RECURSIVE",
    "FEATURE_V_1_4_BARE_ARRAY_ACCESS",
    "FEATURE_V_1_4_ARRAY_AGGREGATION_FUNCTIONS",
    "FEATURE_V_1_4_ARRAY_FIND_FUNCTIONS",
    "FEATURE_V_1_4_SAFE_FUNCTION_CALL_WITH_LAMBDA_ARGS",
    "FEATURE_V_1_4_REMOTE_MODEL",
    "FEATURE_V_1_4_STRUCT_POSITIONAL_ACCESSOR",
    "FEATURE_V_1_4_SINGLE_TABLE_NAME_ARRAY_PATH",
    "FEATURE_V_1_4_COLLATION_IN_WITH_RECURSIVE",
    "FEATURE_V_1_4_COLLATION_IN_EXPLICIT_CAST",
    "FEATURE_V_1_4_LOAD_DATA_PARTITIONS",
    "FEATURE_V_1_4_CREATE_MODEL_WITH_ALIASED_QUERY_LIST",
    "FEATURE_V_1_4_LOAD_DATA_TEMP_TABLE",
    "FEATURE_V_1_4_CORRESPONDING",
    "FEATURE_V_1_4_SEQUENCE_ARG",
    "FEATURE_V_1_4_GROUPING_BUILTIN",
    "FEATURE_V_1_4_GROUPING_SETS",
    "FEATURE_V_1_4_PRESERVE_ANNOTATION_IN_IMPLICIT_CAST_IN_SCAN",
    "FEATURE_V_1_4_CORRESPONDING_FULL",
    "FEATURE_V_1_4_LIKE_ANY_SOME_ALL_ARRAY",
    "FEATURE_V_1_4_LIKE_ANY_SOME_ALL_SUBQUERY",
    "FEATURE_V_1_4_FIRST_AND_LAST_N",
    "FEATURE_V_1_4_NULLIFZERO_ZEROIFNULL",
    "FEATURE_V_1_4_PI_FUNCTIONS",
    "FEATURE_V_1_4_CREATE_FUNCTION_LANGUAGE_WITH_CONNECTION",
    "FEATURE_V_1_4_SINGLETON_UNNEST_INFERS_ALIAS",
    "FEATURE_V_1_4_ARRAY_ZIP",
    "FEATURE_V_1_4_MULTIWAY_UNNEST",
    "FEATURE_V_1_4_USE_OPERATION_COLLATION_FOR_NULLIF",
    "FEATURE_V_1_4_ENABLE_EDIT_DISTANCE_BYTES",
    "FEATURE_V_1_4_ENABLE_FLOAT_DISTANCE_FUNCTIONS",
    "FEATURE_V_1_4_ENABLE_MEASURES",
    "FEATURE_V_1_4_GROUP_BY_ALL",
    "FEATURE_V_1_4_LIMIT_OFFSET_EXPRESSIONS",
    "FEATURE_V_1_4_MAP_TYPE",
    "FEATURE_V_1_4_DISABLE_FLOAT32",
    "FEATURE_V_1_4_LITERAL_CONCATENATION",
    "FEATURE_V_1_4_DOT_PRODUCT",
    "FEATURE_V_1_4_MANHATTAN_DISTANCE",
    "FEATURE_V_1_4_L1_NORM",
    "FEATURE_V_1_4_L2_NORM",
    "FEATURE_V_1_4_STRUCT_BRACED_CONSTRUCTORS",
    "FEATURE_V_1_4_WITH_RECURSIVE_DEPTH_MODIFIER",
    "FEATURE_V_1_4_JSON_ARRAY_VALUE_EXTRACTION_FUNCTIONS",
    "FEATURE_V_1_4_ENFORCE_CONDITIONAL_EVALUATION",
    "FEATURE_V_1_4_JSON_MORE_VALUE_EXTRACTION_FUNCTIONS",
    "FEATURE_JSON_LAX_VALUE_EXTRACTION_FUNCTIONS",
]

_STATEMENT_KINDS = [
    "QUERY",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "TRUNCATE",
    "CREATE_TABLE",
    "CREATE_TABLE_AS_SELECT",
    "CREATE_VIEW",
    "CREATE_MATERIALIZED_VIEW",
    "CREATE_FUNCTION",
    "CREATE_TABLE_FUNCTION",
    "CREATE_PROCEDURE",
    "CREATE_SCHEMA",
    "CREATE_EXTERNAL_TABLE",
    "CREATE_SNAPSHOT_TABLE",
    "CREATE_ROW_ACCESS_POLICY",
    "CREATE_MODEL",
    "DROP",
    "DROP_FUNCTION",
    "DROP_TABLE_FUNCTION",
    "DROP_MATERIALIZED_VIEW",
    "DROP_SNAPSHOT_TABLE",
    "DROP_ROW_ACCESS_POLICY",
    "ALTER_TABLE",
    "ALTER_VIEW",
    "ALTER_SCHEMA",
    "ALTER_MATERIALIZED_VIEW",
    "ALTER_MODEL",
    "ASSERT",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "CALL",
    "EXECUTE_IMMEDIATE",
    "EXPORT_DATA",
    "EXPORT_MODEL",
    "GRANT",
    "REVOKE",
]
_STATEMENT_TYPES = {
    "resolved_query_stmt_node": "SELECT",
    "resolved_insert_stmt_node": "INSERT",
    "resolved_update_stmt_node": "UPDATE",
    "resolved_delete_stmt_node": "DELETE",
    "resolved_merge_stmt_node": "MERGE",
}
_LOCATION = re.compile(r"\s*\[at (\d+):(\d+)\]\s*$")

# BigQuery's column types as ZetaSQL's, both ways.
_TO_KIND = {
    "STRING": type_pb.TYPE_STRING,
    "BYTES": type_pb.TYPE_BYTES,
    "INTEGER": type_pb.TYPE_INT64,
    "FLOAT": type_pb.TYPE_DOUBLE,
    "NUMERIC": type_pb.TYPE_NUMERIC,
    "BOOLEAN": type_pb.TYPE_BOOL,
    "TIMESTAMP": type_pb.TYPE_TIMESTAMP,
    "DATE": type_pb.TYPE_DATE,
    "DATETIME": type_pb.TYPE_DATETIME,
    "TIME": type_pb.TYPE_TIME,
    "JSON": type_pb.TYPE_JSON,
}
_FROM_KIND = {kind: name for name, kind in _TO_KIND.items()}


def language_options() -> Any:
    options = proto_options.LanguageOptionsProto(
        product_mode=options_pb.PRODUCT_EXTERNAL,
        name_resolution_mode=options_pb.NAME_RESOLUTION_DEFAULT,
        enabled_language_features=[options_pb.LanguageFeature.Value(f) for f in LANGUAGE_FEATURES],
        supported_statement_kinds=[
            kind_pb.ResolvedNodeKind.Value(f"RESOLVED_{kind}_STMT") for kind in _STATEMENT_KINDS
        ],
        reserved_keywords=["QUALIFY"],
    )
    return options


_LANGUAGE = language_options()


def type_proto(field: Field, *, element: bool = False) -> Any:
    """A BigQuery field's type for the analyzer (REPEATED is an ARRAY of it)."""
    if field.repeated and not element:
        return type_pb.TypeProto(
            type_kind=type_pb.TYPE_ARRAY,
            array_type=type_pb.ArrayTypeProto(element_type=type_proto(field, element=True)),
        )
    if field.type == "RECORD":
        members = [
            type_pb.StructFieldProto(field_name=child.name, field_type=type_proto(child))
            for child in field.fields
        ]
        return type_pb.TypeProto(
            type_kind=type_pb.TYPE_STRUCT, struct_type=type_pb.StructTypeProto(field=members)
        )
    return type_pb.TypeProto(type_kind=_TO_KIND[field.type])


def field_from_type(name: str, kind: Any, mode: str = "NULLABLE") -> Field:
    """An analyzer output column as the BigQuery field its result has."""
    if kind.type_kind == type_pb.TYPE_ARRAY:
        return field_from_type(name, kind.array_type.element_type, "REPEATED")
    if kind.type_kind == type_pb.TYPE_STRUCT:
        children = tuple(
            field_from_type(member.field_name, member.field_type)
            for member in kind.struct_type.field
        )
        return Field(name, "RECORD", mode, children)
    if kind.type_kind not in _FROM_KIND:
        label = type_pb.TypeKind.Name(kind.type_kind).removeprefix("TYPE_")
        raise unsupported(f"Query results of type {label}")
    return Field(name, _FROM_KIND[kind.type_kind], mode)


@dataclass
class Catalog:
    """Tables and views by the path a statement writes them, with their fields."""

    _root: Any = field(default_factory=lambda: catalog_pb.SimpleCatalogProto(name="root"))
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._root.builtin_function_options.CopyFrom(
            proto_options.ZetaSQLBuiltinFunctionOptionsProto(language_options=_LANGUAGE)
        )

    def add(self, path: Sequence[str], key: str, fields: Sequence[Field]) -> None:
        """Register `path` (as written) for the table `key`, once per path."""
        node = self._root
        for segment in path[:-1]:
            found = next((c for c in node.catalog if c.name.lower() == segment.lower()), None)
            node = found if found is not None else node.catalog.add(name=segment)
        if any(table.name.lower() == path[-1].lower() for table in node.table):
            return
        if key not in self.keys:
            self.keys.append(key)
        node.table.add().CopyFrom(
            table_pb.SimpleTableProto(
                name=path[-1],
                serialization_id=self.keys.index(key) + 1,
                column=[
                    table_pb.SimpleColumnProto(
                        name=f.name, type=type_proto(f), is_writable_column=True
                    )
                    for f in fields
                ],
            )
        )

    @property
    def proto(self) -> Any:
        return self._root


@dataclass(frozen=True)
class FunctionUse:
    """One function call: ZetaSQL's name (`$add`, `json_value`), SAFE., argument and
    return types as BigQuery type names (ARRAY<..> and STRUCT as ARRAY and STRUCT)."""

    name: str
    safe: bool
    arguments: tuple[str, ...]
    returns: str


@dataclass
class Analysis:
    statement_type: str
    fields: tuple[Field, ...] = ()
    # table key -> the names of the columns the statement reads from it
    scanned: dict[str, set[str]] = field(default_factory=dict)
    functions: list[FunctionUse] = field(default_factory=list)
    json_paths: list[tuple[str, ...]] = field(default_factory=list)
    casts: list[tuple[str, str]] = field(default_factory=list)

    def calls(self, name: str) -> list[FunctionUse]:
        return [use for use in self.functions if use.name == name]


def type_label(kind: Any) -> str:
    if kind.type_kind == type_pb.TYPE_ARRAY:
        return "ARRAY"
    return str(type_pb.TypeKind.Name(kind.type_kind).removeprefix("TYPE_"))


def table_paths(sql: str) -> list[tuple[str, ...]]:
    """The table names of a statement as written (segments; WITH names excluded)."""
    request = service_pb.ExtractTableNamesFromStatementRequest(sql_statement=sql, options=_LANGUAGE)
    response = _call(
        "ExtractTableNamesFromStatement", request, service_pb.ExtractTableNamesFromStatementResponse
    )
    return [tuple(name.table_name_segment) for name in response.table_name]


@dataclass(frozen=True)
class Parameter:
    """A query parameter's name (None: positional) and type."""

    name: str | None
    field: Field


def analyze(sql: str, catalog: Catalog, parameters: Sequence[Parameter] = ()) -> Analysis:
    """The statement analysed as BigQuery does, or BigQuery's invalidQuery error."""
    options = proto_options.AnalyzerOptionsProto(
        language_options=_LANGUAGE,
        error_message_mode=options_pb.ERROR_MESSAGE_ONE_LINE,
        prune_unused_columns=True,
        default_timezone="UTC",
    )
    named = [p for p in parameters if p.name is not None]
    if named:
        options.parameter_mode = options_pb.PARAMETER_NAMED
        for parameter in named:
            options.query_parameters.add(name=parameter.name, type=type_proto(parameter.field))
    elif parameters:
        options.parameter_mode = options_pb.PARAMETER_POSITIONAL
        options.positional_query_parameters.extend(type_proto(p.field) for p in parameters)
    request = service_pb.AnalyzeRequest(
        options=options, simple_catalog=catalog.proto, sql_statement=sql
    )
    response = _call("Analyze", request, service_pb.AnalyzeResponse)
    statement = response.resolved_statement
    kind = statement.WhichOneof("node")
    if kind not in _STATEMENT_TYPES:
        raise unsupported(f"{_statement_label(statement)} statements")
    node = getattr(statement, kind)
    analysis = Analysis(_STATEMENT_TYPES[kind])
    if kind == "resolved_query_stmt_node":
        # The analyzer names unnamed columns $col1...; BigQuery f0_, f1_... (unnamed ones only).
        anonymous = 0
        fields = []
        for column in node.output_column_list:
            name = column.name
            if name.startswith("$"):
                name, anonymous = f"f{anonymous}_", anonymous + 1
            fields.append(field_from_type(name, column.column.type))
        analysis.fields = tuple(fields)
    _collect(node, analysis, catalog)
    return analysis


def _statement_label(statement: Any) -> str:
    """CREATE TABLE, DROP, ... from the innermost kind of a resolved statement."""
    words = _concrete(statement).DESCRIPTOR.name.removeprefix("Resolved").removesuffix("Proto")
    words = re.sub(r"(?<!^)([A-Z])", r"_\1", words).lower()
    words = words.removeprefix("resolved_").removesuffix("_node").removesuffix("_stmt")
    return words.removesuffix("_base").upper().replace("_", " ")


def _call(method: str, request: Message, response_type: type[Any]) -> Any:
    try:
        return ZetaSqlRuntime.shared().call(method, request, response_type)
    except AnalyzerError as exc:
        raise analysis_error(exc.raw) from exc


def analysis_error(raw: str) -> BigQueryError:
    """ZetaSQL's "Code: 3, Message: ... [at 1:8]" as BigQuery's "... at [1:8]" (one line)."""
    message = raw.split("Message: ", 1)[-1]
    located = _LOCATION.search(message)
    text = _LOCATION.sub("", message).splitlines()[0].strip()
    if located:
        text = f"{text} at [{located.group(1)}:{located.group(2)}]"
    return invalid_query(text)


def _children(message: Any) -> Iterator[tuple[str, Any]]:
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if hasattr(value, "DESCRIPTOR"):
            yield descriptor.name, value
        else:  # a repeated field
            for item in value:
                yield descriptor.name, item


def _collect(message: Any, analysis: Analysis, catalog: Catalog) -> None:
    """Walk the resolved tree: scans, function calls, JSON field paths, casts."""
    name = message.DESCRIPTOR.name
    if name == "ResolvedTableScanProto":
        serial = message.table.serialization_id
        if 0 < serial <= len(catalog.keys):
            columns = analysis.scanned.setdefault(catalog.keys[serial - 1], set())
            columns.update(column.name for column in message.parent.column_list)
    elif name == "ResolvedFunctionCallBaseProto":
        signature = message.signature
        analysis.functions.append(
            FunctionUse(
                name=message.function.name.removeprefix("ZetaSQL:"),
                safe=message.error_mode == 1,
                arguments=tuple(type_label(a.type) for a in signature.argument),
                returns=type_label(signature.return_type.type),
            )
        )
    elif name == "ResolvedGetJsonFieldProto":
        path = _json_path(message)
        if path is not None:
            analysis.json_paths.append(path)
            return  # the inner GetJsonFields are part of this path
    elif name == "ResolvedCastProto":
        analysis.casts.append(
            (type_label(_expr_type(message.expr)), type_label(message.parent.type))
        )
    for _, child in _children(message):
        _collect(child, analysis, catalog)


def _concrete(node: Any) -> Any:
    """The concrete node inside an Any...Proto wrapper (nested oneofs named `node`)."""
    while (inner := node.DESCRIPTOR.oneofs_by_name.get("node")) is not None:
        kind = node.WhichOneof(inner.name)
        if kind is None:
            break
        node = getattr(node, kind)
    return node


def _expr_type(any_expr: Any) -> Any:
    node = _concrete(any_expr)
    while node.DESCRIPTOR.name != "ResolvedExprProto":
        node = node.parent
    return node.type


def _json_path(message: Any) -> tuple[str, ...] | None:
    """`col.a.b` as ("col", "a", "b") when the chain starts at a column."""
    fields: list[str] = []
    node = message
    while node.DESCRIPTOR.name == "ResolvedGetJsonFieldProto":
        fields.append(node.field_name)
        node = _concrete(node.expr)
    if node.DESCRIPTOR.name != "ResolvedColumnRefProto":
        return None
    return (node.column.name, *reversed(fields))


def parameter_fields(parameters: Sequence[Mapping[str, Any]]) -> list[Parameter]:
    """The job's queryParameters as the analyzer's parameter types."""
    return [
        Parameter(
            str(p["name"]) if p.get("name") else None,
            _parameter_field(p.get("parameterType") or {}),
        )
        for p in parameters
    ]


def _parameter_field(kind: Mapping[str, Any]) -> Field:
    type_name = str(kind.get("type", "")).upper()
    if type_name == "ARRAY":
        element = _parameter_field(kind.get("arrayType") or {})
        return Field("p", element.type, "REPEATED", element.fields)
    if type_name == "STRUCT":
        members = tuple(
            Field(str(m.get("name") or f"_field_{i + 1}"), t.type, t.mode, t.fields)
            for i, m in enumerate(kind.get("structTypes") or [])
            for t in [_parameter_field(m.get("type") or {})]
        )
        return Field("p", "RECORD", "NULLABLE", members)
    aliases = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
    canonical = aliases.get(type_name, type_name)
    if canonical not in _TO_KIND:
        raise unsupported(f"Query parameters of type {type_name or 'unknown'}")
    return Field("p", canonical)
