"""The datasets resource: insert, get, patch, delete, list."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from localcloud.bigquery.errors import BigQueryError, duplicate, invalid, not_found
from localcloud.bigquery.rest import (
    DEFAULT_LOCATION,
    ResourceContext,
    check_etag,
    merge_patch,
    millis,
    paginate,
    with_etag,
)

_DATASET_ID = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_DATASET_OUTPUT_ONLY = frozenset(
    {"kind", "id", "etag", "selfLink", "creationTime", "lastModifiedTime", "type"}
)


class Datasets:
    """datasets.* over the store."""

    def __init__(self, context: ResourceContext) -> None:
        self.store = context.store
        self._clock = context.clock
        self._link = context.link
        self._insert_ids = context.insert_ids

    def insert_dataset(self, project: str, body: Mapping[str, Any]) -> dict[str, Any]:
        reference = body.get("datasetReference") or {}
        dataset_id = reference.get("datasetId")
        if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
            raise invalid(
                f'Invalid dataset ID "{dataset_id}". Dataset IDs must be alphanumeric'
                " (plus underscores) and must be at most 1024 characters long."
            )
        if reference.get("projectId") not in (None, project):
            raise invalid("The project in the dataset reference does not match the request")
        if self.store.get_dataset(project, dataset_id) is not None:
            raise duplicate(f"Dataset {project}:{dataset_id}")
        now = millis(self._clock())
        resource = {k: v for k, v in body.items() if k not in _DATASET_OUTPUT_ONLY}
        resource.update(
            kind="bigquery#dataset",
            id=f"{project}:{dataset_id}",
            selfLink=self._link(f"projects/{project}/datasets/{dataset_id}"),
            datasetReference={"datasetId": dataset_id, "projectId": project},
            location=body.get("location") or DEFAULT_LOCATION,
            type="DEFAULT",
            creationTime=now,
            lastModifiedTime=now,
        )
        with_etag(resource)
        self.store.put_dataset(project, dataset_id, resource)
        return resource

    def get_dataset(self, project: str, dataset_id: str) -> dict[str, Any]:
        resource = self.store.get_dataset(project, dataset_id)
        if resource is None:
            raise not_found(f"Dataset {project}:{dataset_id}")
        return resource

    def patch_dataset(
        self, project: str, dataset_id: str, body: Mapping[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        resource = self.get_dataset(project, dataset_id)
        check_etag(resource, if_match)
        merge_patch(resource, body, _DATASET_OUTPUT_ONLY | {"datasetReference", "location"})
        resource["lastModifiedTime"] = millis(self._clock())
        with_etag(resource)
        self.store.put_dataset(project, dataset_id, resource)
        return resource

    def delete_dataset(self, project: str, dataset_id: str, delete_contents: bool) -> None:
        self.get_dataset(project, dataset_id)
        tables = self.store.list_tables(project, dataset_id)
        if tables and not delete_contents:
            raise BigQueryError(
                400, "resourceInUse", f"Dataset {project}:{dataset_id} is still in use"
            )
        for table in tables:
            self._insert_ids.forget_table(
                f"{project}:{dataset_id}.{table['tableReference']['tableId']}"
            )
        self.store.delete_dataset(project, dataset_id)

    def list_datasets(self, project: str, params: Mapping[str, str]) -> dict[str, Any]:
        show_hidden = str(params.get("all", "")).lower() == "true"
        datasets = [
            {
                "kind": "bigquery#dataset",
                "id": resource["id"],
                "datasetReference": resource["datasetReference"],
                "location": resource["location"],
                **{k: resource[k] for k in ("labels", "friendlyName") if k in resource},
            }
            for resource in self.store.list_datasets(project)
            if show_hidden or not resource["datasetReference"]["datasetId"].startswith("_")
        ]
        page, token = paginate(datasets, params)
        body: dict[str, Any] = {"kind": "bigquery#datasetList"}
        if page:
            body["datasets"] = page
        if token:
            body["nextPageToken"] = token
        return with_etag(body)
