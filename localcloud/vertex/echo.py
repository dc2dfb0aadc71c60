"""The request as an output line echoes it, and the labels the echo may leave out.

Two forms (Faults.request_echo), both with their keys sorted, as every sample of a real output
line has them:
- "normalized": the service's normalisation as the documentation's sample shows it
  (tests/fixtures/docs/prediction_output_line.json): lowerCamelCase names, `parts` as lists,
  only the fields that are set, except that every part carries every part key seen in the job,
  null where unset (the output is written through a columnar schema).
- "as_sent": the line's own `request` JSON with its spelling kept (snake_case stays snake_case, a
  single `parts` object stays one), as an output line quoted in python-genai#509 shows.

Labels (Faults.drop_request_labels): "Add labels to API calls" warns that a label key with more
than 1,000 unique values may be dropped without notice. "past_unique_limit" leaves out of every
echo the labels whose key has more than the limit's distinct values among the job's requests;
"all" leaves out request.labels altogether. A `labels` object left empty is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from localcloud.vertex.rows import ParsedRow

ALL_LABELS = "all"
PAST_UNIQUE_LIMIT = "past_unique_limit"


class RequestEcho:
    """The echoed request of each row of one job."""

    def __init__(
        self,
        rows: Iterable[ParsedRow],
        *,
        mode: str = "normalized",
        drop_labels: str = "none",
        unique_value_limit: int = 1000,
    ) -> None:
        self._mode = mode
        self._drop_all = drop_labels == ALL_LABELS
        self._part_keys: set[str] = set()
        values: dict[str, set[str]] = {}
        for row in rows:
            if row.request is None:
                continue
            canonical = row.canonical_request()
            if canonical is not None:
                self._part_keys |= part_keys_of(canonical)
            for key, value in row.request.labels.items():
                values.setdefault(key, set()).add(value)
        self.dropped_label_keys = (
            frozenset(key for key, seen in values.items() if len(seen) > unique_value_limit)
            if drop_labels == PAST_UNIQUE_LIMIT
            else frozenset()
        )

    def of(self, row: ParsedRow) -> Any:
        """What the output line of `row` holds under "request"."""
        canonical = row.canonical_request()
        if canonical is None:  # not a request: the service echoes what the line held
            echoed: Any = row.raw_request if row.raw_request is not None else row.raw_line
        elif self._mode == "as_sent":
            echoed = json.loads(json.dumps(row.raw_request))
        else:
            echoed = echo_with_nulls(canonical, frozenset(self._part_keys))
        if isinstance(echoed, dict):
            self._drop_labels(echoed)
            return sorted_keys(echoed)
        return echoed

    def _drop_labels(self, echoed: dict[str, Any]) -> None:
        labels = echoed.get("labels")
        if not isinstance(labels, dict):
            return
        if self._drop_all:
            del echoed["labels"]
            return
        for key in self.dropped_label_keys & labels.keys():
            del labels[key]
        if not labels:
            del echoed["labels"]


def echo_with_nulls(canonical: dict[str, Any], part_keys: frozenset[str]) -> dict[str, Any]:
    """The request with every part carrying every part key seen in the job, null where unset."""
    echoed: dict[str, Any] = json.loads(json.dumps(canonical))
    for content in _part_holders(echoed):
        for part in content.get("parts", []):
            for key in part_keys:
                part.setdefault(key, None)
    return echoed


def part_keys_of(canonical: dict[str, Any]) -> set[str]:
    return {
        key
        for content in _part_holders(canonical)
        for part in content.get("parts", [])
        for key in part
    }


def sorted_keys(value: Any) -> Any:
    """The JSON value with the keys of every object in sorted order."""
    if isinstance(value, dict):
        return {key: sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(item) for item in value]
    return value


def _part_holders(request: dict[str, Any]) -> list[dict[str, Any]]:
    holders = [content for content in request.get("contents", []) if isinstance(content, dict)]
    if isinstance(request.get("systemInstruction"), dict):
        holders.append(request["systemInstruction"])
    return holders
