"""The discovery-document checker finds what is wrong, and only that."""

from __future__ import annotations

import pytest

from localcloud.bigquery.conformance import ERROR_RESPONSE, DiscoveryDocument

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def document() -> DiscoveryDocument:
    return DiscoveryDocument.bundled()


def test_methods_map_to_their_schemas(document: DiscoveryDocument) -> None:
    assert document.response_schema("bigquery.jobs.insert") == "Job"
    assert document.response_schema("bigquery.jobs.getQueryResults") == "GetQueryResultsResponse"
    assert document.response_schema("bigquery.tables.delete") is None
    assert document.request_schema("bigquery.tabledata.insertAll") == "TableDataInsertAllRequest"
    with pytest.raises(KeyError):
        document.response_schema("bigquery.nothing.here")


def test_a_conforming_table_has_no_problems(document: DiscoveryDocument) -> None:
    table = {
        "kind": "bigquery#table",
        "tableReference": {"projectId": "p", "datasetId": "d", "tableId": "t"},
        "schema": {
            "fields": [
                {"name": "r", "type": "RECORD", "mode": "NULLABLE",
                 "fields": [{"name": "x", "type": "STRING"}]},
            ]
        },
        "numRows": "3",
        "creationTime": "1700000000000",
        "labels": {"a": "b"},
        "timePartitioning": {"type": "DAY", "field": "at", "requirePartitionFilter": False},
        "clustering": {"fields": ["x"]},
    }  # fmt: skip
    assert document.check(table, "Table") == []


def test_problems_are_found_recursively(document: DiscoveryDocument) -> None:
    table = {
        "numRows": 3,
        "schema": {"fields": [{"name": "r", "fields": [{"name": "x", "colour": "red"}]}]},
        "labels": {"a": 1},
        "tableReference": "p:d.t",
        "requirePartitionFilter": "true",
    }
    problems = document.check(table, "Table")
    assert problems == [
        "Table.numRows: expected a string (uint64), got number 3",
        "Table.schema.fields[0].fields[0].colour: no field 'colour' in TableFieldSchema",
        "Table.labels.a: expected a string, got number 1",
        "Table.tableReference: expected an object, got string",
        "Table.requirePartitionFilter: expected a boolean, got string 'true'",
    ]


def test_int64_strings_must_be_integers_and_int32_must_be_numbers(
    document: DiscoveryDocument,
) -> None:
    assert document.check({"totalItems": "2"}, "TableList") == [
        "TableList.totalItems: expected an integer (int32), got string '2'"
    ]
    assert document.check({"creationTime": "12.5"}, "Table") == [
        "Table.creationTime: expected an int64 decimal string, got '12.5'"
    ]


def test_enums_and_nulls(document: DiscoveryDocument) -> None:
    assert document.check({"jobCreationReason": {"code": "BECAUSE"}}, "Job") == [
        "Job.jobCreationReason.code: 'BECAUSE' is not one of CODE_UNSPECIFIED, REQUESTED,"
        " LONG_RUNNING, LARGE_RESULTS, OTHER"
    ]
    assert document.check({"kind": None}, "Job") == ["Job.kind: null where the schema has a string"]


def test_table_cells_take_any_value(document: DiscoveryDocument) -> None:
    rows = {"rows": [{"f": [{"v": None}, {"v": [{"v": "1"}]}, {"v": {"f": [{"v": "x"}]}}]}]}
    assert document.check(rows, "TableDataList") == []


def test_names_only_ignores_types_but_not_names(document: DiscoveryDocument) -> None:
    body = {"tableReference": {"tableId": "t"}, "expirationTime": 5, "colour": "red"}
    assert document.check(body, "Table", names_only=True) == [
        "Table.colour: no field 'colour' in Table"
    ]


def test_error_envelope(document: DiscoveryDocument) -> None:
    good = {
        "error": {
            "code": 404,
            "message": "Not found: Table p:d.t",
            "status": "NOT_FOUND",
            "errors": [{"reason": "notFound", "message": "Not found: Table p:d.t"}],
        }
    }
    assert document.check_response("bigquery.tables.get", good, error=True) == []
    bad = {"error": {"code": "404", "errors": [{"reason": "notFound", "domain": "global"}]}}
    assert document.check(bad, ERROR_RESPONSE) == [
        "ErrorResponse.error.code: expected an integer (int32), got string '404'",
        "ErrorResponse.error.errors[0].domain: no field 'domain' in ErrorProto",
    ]
