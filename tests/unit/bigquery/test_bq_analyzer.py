"""The GoogleSQL analyzer: BigQuery's language, its error shape, the catalog, the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localcloud.bigquery.analyzer import (
    LANGUAGE_FEATURES,
    Catalog,
    analysis_error,
    analyze,
    language_options,
    table_paths,
)
from localcloud.bigquery.errors import BigQueryError
from localcloud.bigquery.schema import Field
from localcloud.bigquery.zetasql_runtime import ZetaSqlRuntime, compiled_module_path

pytestmark = pytest.mark.unit

FIELDS = (
    Field("name", "STRING"),
    Field("n", "INTEGER"),
    Field("response", "JSON"),
    Field("tags", "STRING", "REPEATED"),
    Field("usage", "RECORD", fields=(Field("prompt_tokens", "INTEGER"),)),
)


def test_the_language_is_bigquerys() -> None:
    options = language_options()
    assert len(options.enabled_language_features) == len(LANGUAGE_FEATURES)
    assert options.product_mode == 1  # PRODUCT_EXTERNAL: FLOAT64, no INT32/UINT64
    assert list(options.reserved_keywords) == ["QUALIFY"]


def test_zetasql_errors_read_as_bigquerys() -> None:
    raw = (
        "Code: 3, Message: No matching signature for operator = for argument types: INT64,"
        " STRING\n  Signature: T1 = T1\n    Unable to find common supertype [at 1:23]"
    )
    error = analysis_error(raw)
    assert (error.code, error.reason) == (400, "invalidQuery")
    assert error.message == (
        "No matching signature for operator = for argument types: INT64, STRING at [1:23]"
    )


def test_a_table_is_found_under_every_path_it_is_written_with() -> None:
    sql = "SELECT t.n FROM ds.t JOIN `p.ds.t` AS u USING (n) JOIN p.ds.t AS v USING (n)"
    paths = table_paths(sql)
    assert sorted(paths) == [("ds", "t"), ("p", "ds", "t"), ("p.ds.t",)]
    catalog = Catalog()
    for path in paths:
        catalog.add(path, "p:ds.t", FIELDS)
    analysis = analyze(sql, catalog)
    assert [f.name for f in analysis.fields] == ["n"]
    assert analysis.scanned == {"p:ds.t": {"n"}}


def test_the_analysis_says_what_the_translation_must_know() -> None:
    catalog = Catalog()
    catalog.add(("ds", "t"), "p:ds.t", FIELDS)
    analysis = analyze(
        "SELECT response.a.b, SAFE.PARSE_JSON(name), CAST(1.5 AS STRING), tags, usage FROM ds.t",
        catalog,
    )
    assert analysis.statement_type == "SELECT"
    assert [(f.name, f.type, f.mode) for f in analysis.fields] == [
        ("b", "JSON", "NULLABLE"),
        ("f0_", "JSON", "NULLABLE"),
        ("f1_", "STRING", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
        ("usage", "RECORD", "NULLABLE"),
    ]
    assert analysis.json_paths == [("response", "a", "b")]
    assert [(use.name, use.safe) for use in analysis.functions] == [("parse_json", True)]
    assert analysis.scanned == {"p:ds.t": {"response", "name", "tags", "usage"}}


def test_statements_the_emulator_does_not_run_are_refused_after_analysis() -> None:
    with pytest.raises(BigQueryError, match="CREATE TABLE statements"):
        analyze("CREATE TABLE ds.x (a INT64)", Catalog())


def test_a_cached_module_is_loaded_not_compiled(tmp_path: Path) -> None:
    shared = ZetaSqlRuntime.shared()
    shared.call("ExtractTableNamesFromStatement", *_extract_request())  # compiled or cached
    cached = tmp_path / compiled_module_path(tmp_path).name
    shutil.copyfile(shared.module_path, cached)
    before = cached.stat().st_mtime_ns
    runtime = ZetaSqlRuntime(tmp_path)
    response = runtime.call("ExtractTableNamesFromStatement", *_extract_request())
    assert [list(name.table_name_segment) for name in response.table_name] == [["ds", "t"]]
    assert cached.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [cached.name]


def _extract_request() -> tuple[object, type]:
    from zetasql.wasi._pb2.zetasql.local_service import local_service_pb2 as service_pb

    request = service_pb.ExtractTableNamesFromStatementRequest(
        sql_statement="SELECT 1 FROM ds.t", options=language_options()
    )
    return request, service_pb.ExtractTableNamesFromStatementResponse
