"""A query made ready to run: analysed as BigQuery analyses it, then translated for DuckDB.

`prepare_statement` looks up the tables and views the statement names (404 as BigQuery words
it), builds the analyzer's catalog from their schemas, analyses the statement (BigQuery's
errors with `at [line:column]`), and translates it with the analysis (views become subqueries
of their own prepared query). `bytes_processed` is what a query reads: BigQuery's data size
of every column it references (see `column_bytes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcloud.bigquery.analyzer import Analysis, Catalog, analyze, parameter_fields, table_paths
from localcloud.bigquery.errors import not_found
from localcloud.bigquery.sizes import column_bytes
from localcloud.bigquery.sql import Statement, TableName, table_name_of, translate
from localcloud.bigquery.store import Store
from localcloud.bigquery.tables import table_fields


@dataclass
class Prepared:
    statement: Statement
    analysis: Analysis
    # table key (project:dataset.table) -> (name, resource) of every table or view it names
    objects: dict[str, tuple[TableName, dict[str, Any]]] = field(default_factory=dict)


def prepare_statement(
    store: Store,
    query: str,
    *,
    project: str,
    default_dataset: tuple[str, str] | None,
    parameters: Sequence[Mapping[str, Any]] = (),
    location: str = "US",
) -> Prepared:
    catalog = Catalog()
    json_columns: set[str] = set()
    objects: dict[str, tuple[TableName, dict[str, Any]]] = {}
    for path in table_paths(query):
        name = table_name_of(path, project, default_dataset)
        resource = _require(store, name, location)
        fields = table_fields(resource)
        catalog.add(path, name.api_id, fields)
        json_columns.update(f.name for f in fields if f.type == "JSON")
        objects[name.api_id] = (name, resource)
    analysis = analyze(query, catalog, parameter_fields(parameters))
    views = {
        name: view_sql(store, name, resource, location)
        for name, resource in objects.values()
        if resource.get("type") == "VIEW"
    }
    statement = translate(
        query,
        project=project,
        default_dataset=default_dataset,
        parameters=parameters,
        check_table=lambda name: None,
        analysis=analysis,
        json_columns=frozenset(json_columns),
        views=views,
    )
    return Prepared(statement, analysis, objects)


def view_sql(store: Store, name: TableName, resource: Mapping[str, Any], location: str) -> str:
    """The DuckDB SQL of a view's query (names in it resolve in the view's project)."""
    return prepare_view(store, name, resource, location).statement.sql


def prepare_view(
    store: Store, name: TableName, resource: Mapping[str, Any], location: str
) -> Prepared:
    query = str(resource["view"]["query"])
    return prepare_statement(
        store, query, project=name.project, default_dataset=None, location=location
    )


def _require(store: Store, name: TableName, location: str) -> dict[str, Any]:
    resource = store.get_table(name)
    if resource is None:
        if store.get_dataset(name.project, name.dataset) is None:
            raise not_found(
                f"Dataset {name.project}:{name.dataset} was not found in location {location}"
            )
        raise not_found(f"Table {name.api_id} was not found in location {location}")
    return resource


def bytes_processed(store: Store, prepared: Prepared, location: str = "US") -> int:
    """The bytes a query reads: the data size of each column it references, per table; a
    view counts the columns its own query reads."""
    total = 0
    for key, columns in prepared.analysis.scanned.items():
        name, resource = prepared.objects[key]
        if resource.get("type") == "VIEW":
            total += bytes_processed(store, prepare_view(store, name, resource, location))
            continue
        by_name = {f.name.lower(): f for f in table_fields(resource)}
        chosen = [by_name[c.lower()] for c in sorted(columns) if c.lower() in by_name]
        total += sum(column_bytes(store, name, chosen).values())
    return total
