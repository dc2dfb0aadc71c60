"""`terraform validate` and `plan` of the root module, offline, with the real `terraform`.

Stand-in providers serve the real schemas of the lowest and highest provider versions
versions.tf allows (tests/fixtures/terraform_providers/); the external data source really
runs scripts/build_bundles.py. Each version set is planned with the defaults and with every
option on, each with both values of deletion_protection.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from harness import Plan, Workspace

from batchline.domain.log_events import LOG_EVENTS
from batchline.domain.pricing import parse_prices
from batchline.runtime.settings import ENV_VARS

pytestmark = pytest.mark.integration

PROJECT = "batchline-offline"
OPTION_SETS: dict[str, dict[str, Any]] = {
    "defaults": {"project_id": PROJECT},
    "no_dashboard": {"project_id": PROJECT, "enable_dashboard": False},
    "every_option": {
        "project_id": PROJECT,
        "enable_alerts": True,
        "enable_dashboard": True,
        "attach_dead_letter_policies": True,
        "alert_notification_channels": [f"projects/{PROJECT}/notificationChannels/1"],
        "input_uploaders": ["group:data-team@example.com"],
        "completed_topic_subscribers": ["serviceAccount:reader@example.iam.gserviceaccount.com"],
        "prices": {
            "gemini-3.5-flash": {
                "input_per_million": 0.5,
                "output_per_million": 3.0,
                "cached_input_per_million": 0.05,
                "long_context_threshold": 200000,
                "long_context_input_per_million": 1.0,
                "long_context_output_per_million": 4.5,
                "long_context_cached_input_per_million": 0.1,
            },
            "gemini-3.5-flash-lite": {"input_per_million": 0.1, "output_per_million": 0.4},
        },
    },
}
# What each option set creates; the README's deploy section gives the same counts.
EXPECTED_RESOURCES = {"defaults": 89, "no_dashboard": 77, "every_option": 97}

_plans: dict[tuple[int, str, bool], Plan] = {}


def planned(workspace: Workspace, options: str, deletion_protection: bool) -> Plan:
    """One plan per workspace, option set and deletion_protection, shared by the tests."""
    key = (id(workspace), options, deletion_protection)
    if key not in _plans:
        variables = {**OPTION_SETS[options], "deletion_protection": deletion_protection}
        _plans[key] = workspace.plan(variables)
    return _plans[key]


def test_validate_accepts_the_module(workspace: Workspace) -> None:
    result = workspace.validate()
    assert result.returncode == 0, result.explain()
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.parametrize("deletion_protection", [True, False], ids=["protected", "unprotected"])
@pytest.mark.parametrize("options", sorted(OPTION_SETS))
def test_plan_creates_everything(
    workspace: Workspace, options: str, deletion_protection: bool
) -> None:
    plan = planned(workspace, options, deletion_protection)
    assert plan.succeeded, plan.result.explain()
    assert len(plan.creates()) == EXPECTED_RESOURCES[options]
    managed = [c for c in plan.document["resource_changes"] if c["mode"] == "managed"]
    assert len(plan.creates()) == len(managed), "a fresh project only creates"
    # The Google data sources wait for their APIs: read at apply, never by the stand-in.
    deferred = {c["address"] for c in plan.document["resource_changes"] if c["mode"] == "data"}
    assert deferred == {
        "data.google_project.this",
        "data.google_storage_project_service_account.this",
    }


def test_each_option_adds_only_its_resources(workspace: Workspace) -> None:
    defaults = planned(workspace, "defaults", True).addresses()
    without_dashboard = planned(workspace, "no_dashboard", True).addresses()
    assert {a.split("[")[0] for a in defaults - without_dashboard} == {
        "google_logging_metric.event",
        "google_monitoring_dashboard.batchline",
    }
    assert without_dashboard < defaults
    every = planned(workspace, "every_option", True).addresses()
    assert defaults < every
    added = {address.split("[")[0] for address in every - defaults}
    assert added == {
        "google_monitoring_alert_policy.log",
        "google_monitoring_alert_policy.dead_letters",
        "terraform_data.dead_letter_policy",
        "google_storage_bucket_iam_member.grant",
        "google_pubsub_topic_iam_member.grant",
    }


def test_plan_builds_the_bundles_it_uploads(workspace: Workspace) -> None:
    """The external data source ran build_bundles.py: each object is named by the SHA-256 of
    the zip it uploads, and that zip exists in the module copy."""
    plan = planned(workspace, "defaults", True)
    for name in ("submit", "poll", "complete"):
        bundle = plan.after(f'google_storage_bucket_object.bundle["{name}"]')
        source = Path(bundle["source"])
        if not source.is_absolute():
            source = workspace.module / source
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        assert bundle["name"] == f"functions/{name}/{digest}.zip"


def test_functions_get_exactly_the_settings_environment(workspace: Workspace) -> None:
    plan = planned(workspace, "every_option", True)
    for name in ("submit", "poll", "complete"):
        after = plan.after(f'google_cloudfunctions2_function.function["{name}"]')
        environment = after["service_config"][0]["environment_variables"]
        assert sorted(environment) == sorted(ENV_VARS)
        assert environment["GOOGLE_CLOUD_PROJECT"] == PROJECT
        assert environment["BATCHLINE_FIRESTORE_DATABASE"] == "batchline-ledger"
        # Every field the functions read arrives; those left out arrive as null, which the
        # settings read as not given (parse_prices).
        given = OPTION_SETS["every_option"]["prices"]
        sent = json.loads(environment["BATCHLINE_PRICES"])
        assert sent["gemini-3.5-flash"] == given["gemini-3.5-flash"]
        lite = {key: value for key, value in sent["gemini-3.5-flash-lite"].items() if value}
        assert lite == given["gemini-3.5-flash-lite"]
        assert (
            parse_prices(environment["BATCHLINE_PRICES"])["gemini-3.5-flash"]
            == (parse_prices(json.dumps(given))["gemini-3.5-flash"])
        )


def test_computed_attributes_are_known_only_after_apply(workspace: Workspace) -> None:
    plan = planned(workspace, "defaults", True)
    account = plan.after_unknown('google_service_account.function["submit"]')
    assert account["email"] is True and account["unique_id"] is True
    function = plan.after_unknown('google_cloudfunctions2_function.function["poll"]')
    assert function["event_trigger"][0]["trigger"] is True
    # A member built from a new account's email is unknown too; the role is not.
    grant = plan.after_unknown('google_project_iam_member.ledger_user["poll"]')
    assert grant.get("member") is True and "role" not in grant


@pytest.mark.parametrize("deletion_protection", [True, False])
def test_deletion_protection_reaches_every_stateful_resource(
    workspace: Workspace, deletion_protection: bool
) -> None:
    plan = planned(workspace, "defaults", deletion_protection)
    ledger = plan.after("google_firestore_database.ledger")
    assert ledger["delete_protection_state"] == (
        "DELETE_PROTECTION_ENABLED" if deletion_protection else "DELETE_PROTECTION_DISABLED"
    )
    for table in ("predictions", "jobs"):
        assert plan.after(f"google_bigquery_table.{table}")["deletion_protection"] is (
            deletion_protection
        )
    assert plan.after("google_bigquery_dataset.batchline")["delete_contents_on_destroy"] is (
        not deletion_protection
    )
    for bucket in ("input", "work"):
        assert plan.after(f"google_storage_bucket.{bucket}")["force_destroy"] is (
            not deletion_protection
        )


def test_dashboard_charts_only_metrics_the_module_creates(workspace: Workspace) -> None:
    plan = planned(workspace, "defaults", True)
    dashboard = json.loads(plan.after("google_monitoring_dashboard.batchline[0]")["dashboard_json"])
    metrics = {
        plan.after(change["address"])["name"]
        for change in plan.creates()
        if change["type"] == "google_logging_metric"
    }
    queries = [
        data_set["timeSeriesQuery"]["prometheusQuery"]
        for tile in dashboard["mosaicLayout"]["tiles"]
        for data_set in tile["widget"]["xyChart"]["dataSets"]
    ]
    assert len(dashboard["mosaicLayout"]["tiles"]) == 7
    charted = {
        name
        for query in queries
        for name in metrics
        if f"logging_googleapis_com:user_{name}{{" in query
        or f"logging_googleapis_com:user_{name}_sum{{" in query
    }
    assert charted == metrics, "every log-based metric is charted, and only those"


def test_planned_metrics_and_alerts_read_only_the_log_contract(workspace: Workspace) -> None:
    """Every planned log filter names one event of batchline.domain.log_events, and every
    extractor and filter reads only that event's fields."""
    plan = planned(workspace, "every_option", True)
    checked = []
    for change in plan.creates():
        after = change["change"]["after"]
        if change["type"] == "google_logging_metric":
            texts = [after["filter"], after["value_extractor"] or ""]
            texts += list((after["label_extractors"] or {}).values())
        elif change["type"] == "google_monitoring_alert_policy":
            matched = after["conditions"][0]["condition_matched_log"]
            if not matched:
                continue
            texts = [matched[0]["filter"], *matched[0]["label_extractors"].values()]
        else:
            continue
        (event,) = re.findall(r'jsonPayload\.event="([^"]+)"', texts[0])
        assert event in LOG_EVENTS, f"{change['address']}: {event}"
        fields = {f for text in texts for f in re.findall(r"jsonPayload\.(\w+)", text)}
        assert fields - {"event"} <= set(LOG_EVENTS[event]), change["address"]
        checked.append(change["address"])
    assert len(checked) == 13, checked  # 11 metrics, 2 log alerts
