"""The tables resource: insert, get, patch, delete, list; schemas, partitioning, clustering.

Partitioning and clustering are checked as BigQuery checks them and kept in the resource;
storage does not use them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from localcloud.bigquery.datasets import Datasets
from localcloud.bigquery.errors import duplicate, invalid, not_found, unsupported
from localcloud.bigquery.rest import (
    DEFAULT_LOCATION,
    ResourceContext,
    check_etag,
    merge_patch,
    millis,
    paginate,
    same_schema,
    with_etag,
)
from localcloud.bigquery.schema import Field, parse_fields
from localcloud.bigquery.sizes import column_bytes
from localcloud.bigquery.sql import TableName

_TABLE_ID_FORBIDDEN = re.compile(r"[./$`\\\x00-\x1f]")
_TABLE_OUTPUT_ONLY = frozenset(
    {
        "kind",
        "id",
        "etag",
        "selfLink",
        "creationTime",
        "lastModifiedTime",
        "location",
        "type",
        "numRows",
        "numBytes",
        "numLongTermBytes",
        "numPhysicalBytes",
        "numPartitions",
        "streamingBuffer",
    }
)
_UNSUPPORTED_TABLE_KINDS = (
    "materializedView",
    "externalDataConfiguration",
    "snapshotDefinition",
    "cloneDefinition",
    "model",
)
_TABLE_LIST_FIELDS = (
    "friendlyName",
    "labels",
    "expirationTime",
    "timePartitioning",
    "rangePartitioning",
    "clustering",
    "requirePartitionFilter",
)
_PARTITION_TYPES = ("DAY", "HOUR", "MONTH", "YEAR")
# What a load or query job's configuration may give the destination table it creates.
_JOB_TABLE_SETTINGS = ("timePartitioning", "rangePartitioning", "clustering")
_PARTITION_COLUMN_TYPES = ("TIMESTAMP", "DATE", "DATETIME")
_UNCLUSTERABLE_TYPES = ("RECORD", "JSON", "FLOAT", "BYTES", "TIME")


def normalize_schema_fields(resources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Field resources as BigQuery echoes them: legacy type names, mode always set."""
    normalized = []
    for resource in resources:
        item = dict(resource)
        field = parse_fields(
            [
                {
                    "name": item["name"],
                    "type": item["type"],
                    "mode": item.get("mode"),
                    "fields": item.get("fields"),
                }
            ]
        )[0]
        item["type"] = field.type
        item["mode"] = field.mode
        if item.get("fields"):
            item["fields"] = normalize_schema_fields(item["fields"])
        normalized.append(item)
    return normalized


def table_fields(resource: Mapping[str, Any]) -> tuple[Field, ...]:
    return parse_fields((resource.get("schema") or {}).get("fields") or [])


class Tables:
    """tables.* over the store, and what other resources need of a table."""

    def __init__(self, context: ResourceContext, datasets: Datasets) -> None:
        self.store = context.store
        self._clock = context.clock
        self._link = context.link
        self._insert_ids = context.insert_ids
        self._streaming = context.streaming
        self._datasets = datasets

    def insert_table(
        self, project: str, dataset_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        dataset = self._datasets.get_dataset(project, dataset_id)
        reference = body.get("tableReference") or {}
        table_id = reference.get("tableId")
        _check_table_id(table_id)
        if reference.get("projectId") not in (None, project) or reference.get("datasetId") not in (
            None,
            dataset_id,
        ):
            raise invalid("The table reference does not match the request path")
        for kind in _UNSUPPORTED_TABLE_KINDS:
            if body.get(kind):
                raise unsupported(f"Tables with {kind}")
        name = TableName(project, dataset_id, str(table_id))
        if self.store.get_table(name) is not None:
            raise duplicate(f"Table {name.api_id}")
        if body.get("view"):
            return self._insert_view(name, body, dataset)
        fields = table_fields(body)
        resource = self.new_table_resource(name, body, dataset)
        check_partitioning(resource, fields)
        with self.store.transaction():
            self.store.create_data_table(name, fields)
            self.store.put_table(name, resource)
        return self.present_table(name, resource)

    def _insert_view(
        self, name: TableName, body: Mapping[str, Any], dataset: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A view: its query analysed now (a missing table or column refuses it, as in
        BigQuery), its schema the query's result columns; no storage of its own."""
        resource = self.new_table_resource(name, body, dataset)
        resource["type"] = "VIEW"
        self._define_view(name, resource)
        self.store.put_table(name, with_etag(resource))
        return self.present_table(name, resource)

    def _define_view(self, name: TableName, resource: dict[str, Any]) -> None:
        from localcloud.bigquery.prepare import prepare_view  # prepare reads tables

        view = dict(resource.get("view") or {})
        if view.get("useLegacySql") is True:
            raise unsupported("Legacy SQL views (set useLegacySql to false)")
        if not isinstance(view.get("query"), str) or not view["query"].strip():
            raise invalid("A view needs a query")
        view["useLegacySql"] = False
        resource["view"] = view
        prepared = prepare_view(self.store, name, resource, str(resource.get("location")))
        if prepared.analysis.statement_type != "SELECT":
            raise invalid("A view's query must be a query (SELECT)")
        resource["schema"] = {"fields": [f.api_repr() for f in prepared.analysis.fields]}

    def require_data_table(self, name: TableName) -> dict[str, Any]:
        """A table that stores rows: a view has none to list or stream into."""
        resource = self.require_table(name)
        if resource.get("type") == "VIEW":
            raise invalid(f"Cannot read or write the rows of {name.api_id}: it is a view.")
        return resource

    def get_table(self, name: TableName) -> dict[str, Any]:
        return self.present_table(name, self.require_table(name))

    def patch_table(
        self, name: TableName, body: Mapping[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        resource = self.require_table(name)
        check_etag(resource, if_match)
        reference = body.get("tableReference")
        if reference and reference.get("tableId") not in (None, name.table):
            raise invalid("The table reference cannot be changed")
        if resource.get("type") == "VIEW":
            merge_patch(resource, body, _TABLE_OUTPUT_ONLY | {"tableReference", "schema"})
            self._define_view(name, resource)
            resource["lastModifiedTime"] = millis(self._clock())
            self.store.put_table(name, with_etag(resource))
            return self.present_table(name, resource)
        with self.store.transaction():
            if "schema" in body:
                new_fields = table_fields(body)
                self._evolve_schema(name, table_fields(resource), new_fields)
            merge_patch(resource, body, _TABLE_OUTPUT_ONLY | {"tableReference"})
            if "schema" in body:
                resource["schema"] = {
                    **(body.get("schema") or {}),
                    "fields": normalize_schema_fields(
                        (body.get("schema") or {}).get("fields") or []
                    ),
                }
            check_partitioning(resource, table_fields(resource))
            resource["lastModifiedTime"] = millis(self._clock())
            with_etag(resource)
            self.store.put_table(name, resource)
        return self.present_table(name, resource)

    def delete_table(self, name: TableName) -> None:
        self.require_table(name)
        self._insert_ids.forget_table(name.api_id)
        self.store.delete_table(name)

    def list_tables(
        self, project: str, dataset_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        self._datasets.get_dataset(project, dataset_id)
        items = [
            {
                "kind": "bigquery#table",
                "id": resource["id"],
                "tableReference": resource["tableReference"],
                "type": resource["type"],
                "creationTime": resource["creationTime"],
                **{k: resource[k] for k in _TABLE_LIST_FIELDS if k in resource},
            }
            for resource in self.store.list_tables(project, dataset_id)
        ]
        page, token = paginate(items, params)
        body: dict[str, Any] = {"kind": "bigquery#tableList", "totalItems": len(items)}
        if page:
            body["tables"] = page
        if token:
            body["nextPageToken"] = token
        return with_etag(body)

    def require_table(self, name: TableName) -> dict[str, Any]:
        resource = self.store.get_table(name)
        if resource is None:
            if self.store.get_dataset(name.project, name.dataset) is None:
                raise not_found(f"Dataset {name.project}:{name.dataset}")
            raise not_found(f"Table {name.api_id}")
        return resource

    def present_table(self, name: TableName, resource: Mapping[str, Any]) -> dict[str, Any]:
        presented = copy.deepcopy(dict(resource))
        if presented.get("type") == "VIEW":
            return presented
        buffered = self._streaming.buffered(name)
        stored_rows = self.store.count_rows(name) - (buffered.rows if buffered else 0)
        presented["numRows"] = str(stored_rows)
        presented["numBytes"] = str(
            sum(column_bytes(self.store, name, table_fields(resource)).values())
        )
        if buffered is not None:
            presented["streamingBuffer"] = {
                "estimatedRows": str(buffered.rows),
                "estimatedBytes": str(buffered.bytes),
                "oldestEntryTime": millis(buffered.oldest),
            }
        return presented

    def new_table_resource(
        self,
        name: TableName,
        body: Mapping[str, Any],
        dataset: Mapping[str, Any],
    ) -> dict[str, Any]:
        now = millis(self._clock())
        resource = {k: copy.deepcopy(v) for k, v in body.items() if k not in _TABLE_OUTPUT_ONLY}
        resource.update(
            kind="bigquery#table",
            id=name.api_id,
            selfLink=self._link(
                f"projects/{name.project}/datasets/{name.dataset}/tables/{name.table}"
            ),
            tableReference=name.reference,
            type="TABLE",
            location=dataset.get("location", DEFAULT_LOCATION),
            creationTime=now,
            lastModifiedTime=now,
        )
        if (body.get("schema") or {}).get("fields"):
            resource["schema"] = {
                **body["schema"],
                "fields": normalize_schema_fields(body["schema"]["fields"]),
            }
        else:
            resource.pop("schema", None)
        if "timePartitioning" in resource:
            resource["timePartitioning"] = {"type": "DAY", **resource["timePartitioning"]}
        return with_etag(resource)

    def create_job_destination(
        self,
        name: TableName,
        fields: Sequence[Field],
        config: Mapping[str, Any],
        dataset: Mapping[str, Any],
        properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A job's destination table, as the job creates it (inside its transaction): the
        schema, the partitioning and clustering its configuration gives, `properties`
        (a load's destinationTableProperties). Returns the new resource."""
        body = {
            "tableReference": name.reference,
            "schema": {"fields": [field.api_repr() for field in fields]},
            **{key: config[key] for key in _JOB_TABLE_SETTINGS if key in config},
            **(properties or {}),
        }
        body.pop("expirationTime", None)
        resource = self.new_table_resource(name, body, dataset)
        check_partitioning(resource, fields)
        self.store.create_data_table(name, fields)
        return resource

    def touch_table(self, name: TableName, resource: dict[str, Any]) -> None:
        resource["lastModifiedTime"] = millis(self._clock())
        with_etag(resource)
        self.store.put_table(name, resource)

    def _evolve_schema(self, name: TableName, old: Sequence[Field], new: Sequence[Field]) -> None:
        """Apply a schema patch: BigQuery only adds NULLABLE/REPEATED columns or relaxes."""
        if not self.store.has_data_table(name):
            self.store.create_data_table(name, new)
            return
        old_by_name = {field.name.lower(): field for field in old}
        new_names = {field.name.lower() for field in new}
        mismatch = f"Provided Schema does not match Table {name.api_id}."
        for field in old:
            if field.name.lower() not in new_names:
                raise invalid(f"{mismatch} Field {field.name} is missing in new schema")
        for field in new:
            before = old_by_name.get(field.name.lower())
            if before is None:
                if field.required:
                    raise invalid(f"{mismatch} Cannot add required field {field.name}")
                self.store.add_column(name, field)
                continue
            if before.type != field.type:
                raise invalid(
                    f"{mismatch} Field {field.name} has changed type from {before.type}"
                    f" to {field.type}"
                )
            if before.fields and not same_schema(before.fields, field.fields):
                raise unsupported("Changing the fields inside a RECORD")
            if before.mode != field.mode:
                if before.mode == "REQUIRED" and field.mode == "NULLABLE":
                    self.store.drop_not_null(name, before.name)
                else:
                    raise invalid(
                        f"{mismatch} Field {field.name} has changed mode from {before.mode}"
                        f" to {field.mode}"
                    )


def _check_table_id(table_id: Any) -> None:
    if (
        not isinstance(table_id, str)
        or not table_id
        or len(table_id.encode()) > 1024
        or _TABLE_ID_FORBIDDEN.search(table_id)
    ):
        raise invalid(f'Invalid table ID "{table_id}".')


def check_partitioning(resource: Mapping[str, Any], fields: Sequence[Field]) -> None:
    """Partitioning and clustering are only kept, but refused where BigQuery refuses them."""
    by_name = {field.name.lower(): field for field in fields}
    partitioning = resource.get("timePartitioning")
    if partitioning:
        kind = str(partitioning.get("type") or "DAY")
        if kind not in _PARTITION_TYPES:
            raise invalid(f"Invalid value for timePartitioning.type: {kind}")
        column = partitioning.get("field")
        if column:
            field = by_name.get(str(column).lower())
            if field is None or field.repeated:
                raise invalid(
                    f"The field specified for partitioning cannot be found in the schema: {column}"
                )
            if field.type not in _PARTITION_COLUMN_TYPES:
                raise invalid(
                    "The field specified for time partitioning can only be of type TIMESTAMP,"
                    f" DATE or DATETIME. The type found is: {field.type}."
                )
    clustering = (resource.get("clustering") or {}).get("fields") or []
    if len(clustering) > 4:
        raise invalid("Too many clustering fields: at most 4 are allowed")
    for column in clustering:
        field = by_name.get(str(column).lower())
        if field is None or field.repeated:
            raise invalid(
                f"The field specified for clustering cannot be found in the schema. Invalid field: {column}."
            )
        if field.type in _UNCLUSTERABLE_TYPES:
            raise invalid(
                f"Field {column} is of type {field.type} which is not supported for clustering"
            )
