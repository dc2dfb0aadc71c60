"""The dashboard's metrics and the alerts read the functions' log lines: only the events and
fields of the log contract (batchline.domain.log_events.LOG_EVENTS)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from terraform_hcl import _blocks, _locals, _parsed, _resource, _single, _strings, _variables

from batchline.domain.log_events import FILE_NOTIFIED, JOB_STALLED, LOG_EVENTS

pytestmark = pytest.mark.unit

FIELD = re.compile(r"jsonPayload\.([A-Za-z_]\w*)")
EVENT = re.compile(r'jsonPayload\.event="([^"$]+)"')


def _filters_and_extractors() -> list[tuple[str, str]]:
    """(where, text) of every log filter and extractor the module writes literally."""
    found = []
    for filename in ("metrics.tf", "alerts.tf"):
        for text in _strings(_parsed(filename)):
            if "jsonPayload" in text:
                found.append((filename, text))
    return found


def _metric_table() -> dict[str, Any]:
    """local.log_metrics: the event metrics, and the row metrics its for expression makes."""
    local_values = _locals()
    assert local_values["log_metrics"] == "${merge(local.event_metrics, local.row_metrics)}"
    statuses = re.search(r"for status in \[([^\]]*)\]", local_values["row_metrics"])
    assert statuses, local_values["row_metrics"]
    row_metrics = {
        f"rows_{status}": {
            "event": "rows.loaded",
            "value_field": f"rows_{status}",
            "labels": {"model": "model"},
            "buckets": {"count": 20},
        }
        for status in re.findall(r'"(\w+)"', statuses.group(1))
    }
    return {**local_values["event_metrics"], **row_metrics}


def test_rows_are_charted_by_every_status_the_contract_counts() -> None:
    counted = {f for f in LOG_EVENTS["rows.loaded"] if f.startswith("rows_")}
    assert {name for name in _metric_table() if name.startswith("rows_")} == counted


@pytest.mark.parametrize("name", sorted(_metric_table()))
def test_each_metric_reads_a_contract_event_and_its_fields(name: str) -> None:
    metric = _metric_table()[name]
    assert metric["event"] in LOG_EVENTS, f"{name}: {metric['event']} is not a log event"
    fields = LOG_EVENTS[metric["event"]]
    if metric["value_field"] is not None:
        assert metric["value_field"] in fields, f"{name}: {metric['value_field']}"
        assert metric["buckets"]["count"] >= 1
    for label, field in metric["labels"].items():
        assert field in fields, f"{name}: label {label} reads {field}"


def test_every_literal_filter_names_contract_events_and_their_fields() -> None:
    checked = 0
    for where, text in _filters_and_extractors():
        events = EVENT.findall(text)
        for event in events:
            assert event in LOG_EVENTS, f"{where}: {event} is not a log event"
        allowed = {"event"} | {field for event in events for field in LOG_EVENTS[event]}
        if not events:  # an extractor template: the fields of any event
            allowed = {"event"} | {field for fields in LOG_EVENTS.values() for field in fields}
        for field in FIELD.findall(text):
            assert field in allowed, f"{where}: jsonPayload.{field} in {text!r}"
            checked += 1
    assert checked >= 5, "found too few filters to judge"


def test_metric_filters_and_extractors_are_built_from_the_table() -> None:
    metric = _resource("google_logging_metric", "event")
    assert metric["filter"] == (
        '${local.function_logs_filter} AND jsonPayload.event="${each.value.event}"'
    )
    assert "EXTRACT(jsonPayload.${each.value.value_field})" in metric["value_extractor"]
    assert "EXTRACT(jsonPayload.${field})" in metric["label_extractors"]


def test_failed_files_alert_counts_each_failed_file_once() -> None:
    alert = _locals()["log_alerts"]["failed_files"]
    assert EVENT.findall(alert["filter"]) == [FILE_NOTIFIED]
    assert alert["filter"] == (
        'jsonPayload.event="file.notified" AND jsonPayload.notification="job.failed"'
    )
    assert alert["labels"] == {"source_uri": "source_uri"}


def test_stalled_jobs_alert_matches_job_stalled() -> None:
    alert = _locals()["log_alerts"]["stalled_jobs"]
    assert EVENT.findall(alert["filter"]) == [JOB_STALLED]
    assert set(alert["labels"].values()) <= set(LOG_EVENTS[JOB_STALLED])


def test_no_alert_waits_on_a_log_based_metric() -> None:
    """An alert on a log-based metric created in the same apply fails with 404 until the metric
    propagates (hashicorp/terraform-provider-google#11102): the log alerts match log entries."""
    for type_name, name, body in _blocks("resource"):
        if type_name == "google_monitoring_alert_policy":
            assert not [t for t in _strings(body) if "logging.googleapis.com/user/" in t], name
    policy = _resource("google_monitoring_alert_policy", "log")
    condition = _single(_single(policy, "conditions"), "condition_matched_log")
    assert "${local.function_logs_filter}" in condition["filter"]
    strategy = _single(policy, "alert_strategy")
    assert _single(strategy, "notification_rate_limit")["period"] == "300s"


def test_alerts_are_off_and_the_dashboard_on_by_default() -> None:
    assert _variables()["enable_alerts"]["default"] is False
    assert _variables()["enable_dashboard"]["default"] is True
    for type_name, name, body in _blocks("resource"):
        if type_name == "google_monitoring_alert_policy":
            assert "var.enable_alerts" in str(body.get("for_each", body.get("count"))), name
        if type_name in {"google_logging_metric", "google_monitoring_dashboard"}:
            assert "var.enable_dashboard" in str(body.get("for_each", body.get("count"))), name
