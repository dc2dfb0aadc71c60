"""What every BigQuery REST resource of the emulator shares.

`ResourceContext` is the state the resources work on (the DuckDB store, the emulator's URL
for selfLinks, the clock, the insertId memory that deleting a table clears, the streaming
buffer); the functions
are BigQuery's conventions: int64 millisecond times, etags, integer query parameters, pages,
PATCH merges, If-Match, job dispositions.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from localcloud.bigquery.errors import BigQueryError, invalid
from localcloud.bigquery.schema import Field, same_shape
from localcloud.bigquery.store import Store
from localcloud.bigquery.streaming import StreamingBuffer

DEFAULT_LOCATION = "US"
# Rows per page when the caller sets no maxResults (BigQuery pages by ~10 MB).
DEFAULT_PAGE_ROWS = 100_000
CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")
WRITE_DISPOSITIONS = ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def millis(moment: dt.datetime) -> str:
    """BigQuery's times: milliseconds since the epoch, as an int64 string."""
    return str(int(moment.timestamp() * 1000))


def with_etag(resource: dict[str, Any]) -> dict[str, Any]:
    resource.pop("etag", None)
    digest = hashlib.md5(json.dumps(resource, sort_keys=True).encode(), usedforsecurity=False)
    resource["etag"] = base64.b64encode(digest.digest()).decode("ascii")
    return resource


def int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise invalid(f"Invalid value for {name}: {raw}") from exc
    if value < 0:
        raise invalid(f"Invalid value for {name}: {raw}")
    return value


class InsertIdCache:
    """insertIds seen per table within a time window: BigQuery's best-effort de-duplication."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._seen: dict[str, dict[str, float]] = {}

    def check_and_remember(self, table_key: str, insert_id: str) -> bool:
        """True if `insert_id` was seen for the table within the window; remembers it."""
        now = self._clock()
        seen = self._seen.setdefault(table_key, {})
        for stale in [key for key, at in seen.items() if now - at > self._window]:
            del seen[stale]
        if insert_id in seen:
            return True
        seen[insert_id] = now
        return False

    def forget_table(self, table_key: str) -> None:
        self._seen.pop(table_key, None)


@dataclass
class ResourceContext:
    """The store and the settings every resource of one emulator works with."""

    store: Store
    base_url: str
    clock: Callable[[], dt.datetime]
    insert_ids: InsertIdCache
    streaming: StreamingBuffer

    def link(self, path: str) -> str:
        return f"{self.base_url}/bigquery/v2/{path}"


def disposition(config: Mapping[str, Any], key: str, default: str, allowed: Sequence[str]) -> str:
    value = str(config.get(key) or default).upper()
    if value not in allowed:
        raise invalid(f"Invalid value for {key}: {config.get(key)}")
    return value


def same_schema(left: Sequence[Field], right: Sequence[Field]) -> bool:
    return len(left) == len(right) and all(
        same_shape(a, b) for a, b in zip(left, right, strict=True)
    )


def check_etag(resource: Mapping[str, Any], if_match: str | None) -> None:
    if if_match and if_match not in ("*", resource.get("etag")):
        raise BigQueryError(412, "conditionNotMet", "Precondition check failed.")


def merge_patch(resource: dict[str, Any], body: Mapping[str, Any], fixed: Iterable[str]) -> None:
    """PATCH semantics: given fields replace, null clears, `labels` merge key by key."""
    frozen = set(fixed)
    for key, value in body.items():
        if key in frozen:
            continue
        if key == "labels" and isinstance(value, Mapping):
            labels = dict(resource.get("labels") or {})
            for label, label_value in value.items():
                if label_value is None:
                    labels.pop(label, None)
                else:
                    labels[label] = label_value
            resource["labels"] = labels
        elif value is None:
            resource.pop(key, None)
        else:
            resource[key] = copy.deepcopy(value)


def paginate(
    items: Sequence[dict[str, Any]], params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    start = int_param(params, "pageToken", 0)
    limit = int_param(params, "maxResults", 1000) or 1000
    page = list(items[start : start + limit])
    token = str(start + limit) if start + limit < len(items) else None
    return page, token
