"""The Terraform root module, checked offline: formatting, checkov, and its wiring read as HCL.

What `terraform validate` and `plan` check runs offline in tests/integration/terraform/; these
tests check what they cannot: the functions match the code, the environment matches the
settings, the tables the library's schemas, least privilege.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from terraform_hcl import (
    FUNCTIONS,
    REPO_ROOT,
    TF_DIR,
    _blocks,
    _locals,
    _named_blocks,
    _parsed,
    _resource,
    _single,
    _strings,
    _tf_files,
    _validation_pattern,
    _variables,
)

from batchline import schemas
from batchline.domain import staging
from batchline.runtime.settings import ENV_VARS

pytestmark = pytest.mark.unit

FUNCTIONS_DIR = REPO_ROOT / "functions"
CHECKOV = REPO_ROOT / ".venv" / "tools" / "checkov" / "bin" / "checkov"
# --skip-download: no network; checkov otherwise tries to fetch guideline links.
CHECKOV_OPTIONS = (
    "--framework",
    "terraform",
    "--quiet",
    "--compact",
    "--skip-download",
    "-o",
    "json",
)

PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers")

# ---------------------------------------------------------------------------------------------
# Tools


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("the terraform binary is not on PATH: install Terraform >= 1.5 to run this")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_checkov_reports_no_failed_check() -> None:
    if not CHECKOV.is_file():
        pytest.fail(
            f"checkov is not installed at {CHECKOV}: python3 -m venv .venv/tools/checkov && "
            ".venv/tools/checkov/bin/pip install checkov"
        )
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(TF_DIR), *CHECKOV_OPTIONS],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no JSON report (exit {result.returncode}):\n{result.stderr}")
    reports = reports if isinstance(reports, list) else [reports]
    summary = reports[0]["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0, "checkov checked nothing"


def test_every_checkov_skip_states_its_reason() -> None:
    for path in TF_DIR.glob("*.tf"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+:\s*\S.{10,}", line), (
                    f"{path.name}:{number}: a checkov skip needs `: reason`"
                )


# ---------------------------------------------------------------------------------------------
# Layout and conventions


def test_module_has_one_file_per_concern() -> None:
    expected = {
        "alerts.tf",
        "apis.tf",
        "bigquery.tf",
        "bundles.tf",
        "dashboard.tf",
        "firestore.tf",
        "functions.tf",
        "iam.tf",
        "metrics.tf",
        "outputs.tf",
        "providers.tf",
        "pubsub.tf",
        "scheduler.tf",
        "storage.tf",
        "variables.tf",
        "versions.tf",
    }
    assert expected <= set(_tf_files())
    assert (TF_DIR / "terraform.tfvars.example").is_file()
    # Locals sit in the file of their concern, each defined once: no locals.tf to grow.
    assert "locals.tf" not in _tf_files()
    defined: dict[str, str] = {}
    for filename in _tf_files():
        for block in _parsed(filename).get("locals", []):
            for name in block:
                assert name not in defined, f"local.{name} in {defined.get(name)} and {filename}"
                defined[name] = filename


@pytest.mark.parametrize(
    ("table", "filename"),
    [
        ("functions", "functions.tf"),
        ("function_environment", "functions.tf"),
        ("project_grants", "iam.tf"),
        ("bucket_grants", "storage.tf"),
        ("topic_grants", "pubsub.tf"),
        ("log_metrics", "metrics.tf"),
        ("log_alerts", "alerts.tf"),
        ("services", "apis.tf"),
    ],
)
def test_tables_sit_beside_the_resources_they_configure(table: str, filename: str) -> None:
    assert any(table in block for block in _parsed(filename).get("locals", [])), filename


def test_versions_pin_terraform_and_bound_each_provider() -> None:
    terraform = _parsed("versions.tf")["terraform"][0]
    assert terraform["required_version"].startswith(">=")
    providers = terraform["required_providers"][0]
    for name, spec in providers.items():
        assert spec["source"].startswith("hashicorp/"), name
        assert ">=" in spec["version"] and "<" in spec["version"].replace("<=", ""), name
    bounds = re.fullmatch(r">= ?(\d+)\.\d+, ?< ?(\d+)\.\d+", providers["google"]["version"])
    assert bounds, providers["google"]["version"]
    # Majors 7 and 8 are the current google provider lines.
    assert int(bounds.group(1)) <= 7 and int(bounds.group(2)) > 8
    assert providers["google-beta"]["version"] == providers["google"]["version"]


@pytest.mark.parametrize(
    ("filename", "kind"), [("variables.tf", "variable"), ("outputs.tf", "output")]
)
def test_entries_are_alphabetical_and_described(filename: str, kind: str) -> None:
    entries = _named_blocks(filename, kind)
    names = [name for name, _ in entries]
    assert names, f"no {kind} in {filename}"
    assert names == sorted(names), f"{filename} is not in alphabetical order"
    for name, body in entries:
        assert len(body.get("description", "")) > 10, f"{kind} {name} has no description"
        if kind == "variable":
            assert body.get("type"), f"variable {name} has no type"
    for other in _tf_files():
        if other != filename:
            assert kind not in _parsed(other), f"{other} declares a {kind}"


@pytest.mark.parametrize(
    ("variable", "good", "bad"),
    [
        (
            "project_id",
            ["my-project-123", "batchline-prod"],
            ["My-Project", "123abc", "proj", "a_b-cdef", "project-"],
        ),
        ("region", ["us-central1", "europe-west4"], ["US", "us-central", "global", "us central1"]),
        (
            "prefix",
            ["batchline", "bl-dev"],
            ["Batchline", "-bl", "bl-", "b", "a-very-long-prefix-here"],
        ),
        ("model", ["gemini-3.5-flash"], ["publishers/google/models/gemini-3.5-flash", "Gemini"]),
        ("reports_prefix", ["batchline-reports/"], ["/reports/", "reports", ""]),
        (
            "input_uploaders",
            ["user:a@example.com", "group:g@example.com"],
            [*PUBLIC_PRINCIPALS, "a@example.com"],
        ),
        (
            "completed_topic_subscribers",
            ["serviceAccount:x@p.iam.gserviceaccount.com"],
            list(PUBLIC_PRINCIPALS),
        ),
    ],
)
def test_validation_accepts_good_values_and_refuses_bad_ones(
    variable: str, good: list[str], bad: list[str]
) -> None:
    pattern = _validation_pattern(variable)
    for value in good:
        assert pattern.search(value), f"{variable} refuses valid {value!r}"
    for value in bad:
        assert not pattern.search(value), f"{variable} accepts invalid {value!r}"


def test_string_defaults_pass_their_own_validation() -> None:
    for name, body in _variables().items():
        default = body.get("default")
        if isinstance(default, str) and "regex(" in str(body.get("validation", "")):
            assert _validation_pattern(name).search(default), f"{name} default {default!r}"


def test_tfvars_example_names_only_declared_variables() -> None:
    text = (TF_DIR / "terraform.tfvars.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^#?\s*([a-z_]+)\s*=", text, flags=re.MULTILINE)
    assert "project_id" in re.findall(r"^([a-z_]+)\s*=", text, flags=re.MULTILINE)
    assert set(assigned) <= set(_variables())


def test_every_reference_points_at_something_declared() -> None:
    declared_resources = {(t, n) for t, n, _ in _blocks("resource")}
    declared_data = {(t, n) for t, n, _ in _blocks("data")}
    declared_locals = set(_locals())
    declared_variables = set(_variables())
    missing: list[str] = []
    for filename in _tf_files():
        for text in _strings(_parsed(filename)):
            for name in re.findall(r"\bvar\.([A-Za-z_][\w-]*)", text):
                if name not in declared_variables:
                    missing.append(f"{filename}: var.{name}")
            for name in re.findall(r"\blocal\.([A-Za-z_][\w-]*)", text):
                if name not in declared_locals:
                    missing.append(f"{filename}: local.{name}")
            for type_name, name in re.findall(r"\bdata\.([a-z][\w]*)\.([A-Za-z_][\w-]*)", text):
                if (type_name, name) not in declared_data:
                    missing.append(f"{filename}: data.{type_name}.{name}")
            pattern = r"(?<![\w./-])((?:google|terraform)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
            for type_name, name in re.findall(pattern, text):
                if (type_name, name) not in declared_resources:
                    missing.append(f"{filename}: {type_name}.{name}")
    assert not missing, "references to undeclared things:\n" + "\n".join(sorted(set(missing)))


# ---------------------------------------------------------------------------------------------
# The functions


def test_every_function_folder_is_deployed_and_nothing_else() -> None:
    folders = {
        path.name
        for path in FUNCTIONS_DIR.iterdir()
        if path.is_dir() and not path.name.startswith(("_", "."))
    }
    assert folders == set(FUNCTIONS), "functions/ folders and local.functions differ"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_entry_point_is_a_top_level_function_of_main(name: str) -> None:
    main = FUNCTIONS_DIR / name / "main.py"
    assert main.is_file(), f"{main} does not exist"
    tree = ast.parse(main.read_text(encoding="utf-8"), filename=str(main))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert FUNCTIONS[name]["entry_point"] in defined


def test_function_resource_is_built_from_the_functions_map() -> None:
    function = _resource("google_cloudfunctions2_function", "function")
    assert function["for_each"] == "${local.functions}"
    build = _single(function, "build_config")
    assert build["entry_point"] == "${each.value.entry_point}"
    assert build["runtime"] == "${var.runtime}"
    assert _variables()["runtime"]["default"] in {"python311", "python312"}
    source = _single(_single(build, "source"), "storage_source")
    assert source["object"] == "${google_storage_bucket_object.bundle[each.key].name}"
    service = _single(function, "service_config")
    assert service["environment_variables"] == "${local.function_environment}"
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    trigger = _single(function, "event_trigger")
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["event_type"] == "${each.value.event_type}"
    assert trigger["pubsub_topic"] == "${each.value.pubsub_topic}"
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"
    filters = trigger["dynamic"][0]["event_filters"]
    assert filters["for_each"] == "${each.value.event_filters}"


def test_each_function_has_its_trigger_and_limits() -> None:
    expected = {
        "submit": ("on_object_finalized", "google.cloud.storage.object.v1.finalized"),
        "poll": ("on_poll_tick", "google.cloud.pubsub.topic.v1.messagePublished"),
        "complete": ("on_job_finished", "google.cloud.pubsub.topic.v1.messagePublished"),
    }
    assert {name: (f["entry_point"], f["event_type"]) for name, f in FUNCTIONS.items()} == expected
    for name, spec in FUNCTIONS.items():
        assert 60 <= spec["timeout_seconds"] <= 540, name  # event functions stop at 540 s
        assert re.fullmatch(r"\d+(Mi|Gi)", spec["memory"]), name
    # The poll budget's upper bound leaves time under the poll function's timeout.
    assert "270" in _variables()["poll_budget_seconds"]["validation"][0]["condition"]
    assert FUNCTIONS["poll"]["timeout_seconds"] > 270


def test_triggers_point_at_declared_resources() -> None:
    submit_filters = FUNCTIONS["submit"]["event_filters"]
    assert submit_filters == [
        {"attribute": "bucket", "value": "${google_storage_bucket.input.name}"}
    ]
    _resource("google_storage_bucket", "input")
    topics = {}
    for name in ("poll", "complete"):
        match = re.fullmatch(
            r"\$\{google_pubsub_topic\.(\w+)\.id\}", FUNCTIONS[name]["pubsub_topic"]
        )
        assert match, f"{name} is not triggered by a topic of this module"
        _resource("google_pubsub_topic", match.group(1))
        topics[name] = match.group(1)
    assert topics == {"poll": "tick", "complete": "job_finished"}
    scheduler = _resource("google_cloud_scheduler_job", "poll_tick")
    assert _single(scheduler, "pubsub_target")["topic_name"] == "${google_pubsub_topic.tick.id}"
    assert scheduler["schedule"] == "${var.poll_schedule}"
    assert _variables()["poll_schedule"]["default"] == "*/5 * * * *"
    dead_letter = _resource("google_pubsub_subscription", "dead_letter")
    assert dead_letter["topic"] == "${google_pubsub_topic.dead_letter.id}"


def test_environment_is_exactly_what_the_settings_read() -> None:
    environment = _locals()["function_environment"]
    assert sorted(environment) == sorted(ENV_VARS)
    assert environment["BATCHLINE_INPUT_BUCKET"] == "${google_storage_bucket.input.name}"
    assert environment["BATCHLINE_WORK_BUCKET"] == "${google_storage_bucket.work.name}"
    assert environment["BATCHLINE_COMPLETED_TOPIC"] == "${google_pubsub_topic.completed.name}"
    assert environment["BATCHLINE_FINISHED_TOPIC"] == "${google_pubsub_topic.job_finished.name}"
    assert environment["BATCHLINE_FIRESTORE_DATABASE"] == "${google_firestore_database.ledger.name}"
    assert environment["BATCHLINE_DATASET"] == "${google_bigquery_dataset.batchline.dataset_id}"
    assert environment["BATCHLINE_PRICES"] == "${jsonencode(var.prices)}"


def test_public_topic_is_named_batch_completed() -> None:
    assert _resource("google_pubsub_topic", "completed")["name"] == "${var.prefix}-batch-completed"


def test_bundles_come_from_the_build_script_and_are_named_by_hash() -> None:
    (external,) = [body for t, n, body in _blocks("data") if (t, n) == ("external", "bundles")]
    program = external["program"]
    assert "../scripts/build_bundles.py" in program and "--flat" in program
    assert (REPO_ROOT / "scripts" / "build_bundles.py").is_file()
    bundle = _resource("google_storage_bucket_object", "bundle")
    assert "_sha256" in bundle["name"] and bundle["for_each"] == "${local.functions}"


# ---------------------------------------------------------------------------------------------
# Data stores


ROW_CONTRACT = {
    "job_id": "STRING",
    "source_uri": "STRING",
    "input_line": "INT64",
    "key": "STRING",
    "status": "STRING",
    "error": "STRING",
    "response_text": "STRING",
    "finish_reason": "STRING",
    "prompt_tokens": "INT64",
    "output_tokens": "INT64",
    "thoughts_tokens": "INT64",
    "total_tokens": "INT64",
    "model_version": "STRING",
    "processed_time": "TIMESTAMP",
    "request": "JSON",
    "response": "JSON",
    "response_json": "JSON",
    "response_json_error": "STRING",
    "cached_tokens": "INT64",
    "tool_use_prompt_tokens": "INT64",
}


@pytest.mark.parametrize("table", ["predictions", "jobs"])
def test_tables_read_the_library_schema_files(table: str) -> None:
    body = _resource("google_bigquery_table", table)
    match = re.fullmatch(r'\$\{file\("\$\{path\.module\}/([^"]+)"\)\}', body["schema"])
    assert match, f"{table} schema is not read with file()"
    schema_file = TF_DIR / match.group(1)
    library_file = Path(schemas.__file__).parent / f"{table}.json"
    assert schema_file.is_file() and schema_file.samefile(library_file)
    columns = json.loads(schema_file.read_text(encoding="utf-8"))
    assert all({"name", "type", "mode"} <= set(column) for column in columns)
    spec = schemas.table_spec(table)  # type: ignore[arg-type]
    partitioning = _single(body, "time_partitioning")
    assert (partitioning["type"], partitioning["field"]) == (
        spec["partition_type"],
        spec["partition_field"],
    )
    assert body["clustering"] == spec["clustering_fields"]
    assert body["deletion_protection"] == "${var.deletion_protection}"


def test_predictions_schema_has_the_row_contract_columns() -> None:
    columns = json.loads((Path(schemas.__file__).parent / "predictions.json").read_text())
    types = {column["name"]: column["type"] for column in columns}
    assert {name: types.get(name) for name in ROW_CONTRACT} == ROW_CONTRACT
    body = _resource("google_bigquery_table", "predictions")
    assert _single(body, "time_partitioning") == {"type": "DAY", "field": "processed_time"}
    assert body["clustering"] == ["job_id"]


def test_firestore_ledger_is_native_and_delete_protected() -> None:
    database = _resource("google_firestore_database", "ledger")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert "DELETE_PROTECTION_ENABLED" in database["delete_protection_state"]
    assert _variables()["deletion_protection"]["default"] is True


def test_work_bucket_prefixes_are_the_ones_the_library_writes() -> None:
    local_values = _locals()
    assert local_values["staging_prefix"] == staging.STAGING_PREFIX
    assert local_values["outputs_prefix"] == staging.OUTPUTS_PREFIX
    assert local_values["loads_prefix"] == staging.LOADS_PREFIX
    assert local_values["resume_prefix"] == staging.RESUME_PREFIX


def test_buckets_are_private_uniform_and_expire_transient_files() -> None:
    buckets = {name: body for t, name, body in _blocks("resource") if t == "google_storage_bucket"}
    assert {"input", "work"} <= set(buckets)
    for name, body in buckets.items():
        assert body["uniform_bucket_level_access"] is True, name
        assert body["public_access_prevention"] == "enforced", name
    assert _single(buckets["input"], "versioning")["enabled"] is True
    prefixes = [
        prefix
        for rule in buckets["work"]["lifecycle_rule"]
        for prefix in _single(rule, "condition").get("matches_prefix", [])
    ]
    assert sorted(prefixes) == [
        f"${{local.{n}_prefix}}" for n in ("loads", "outputs", "resume", "staging")
    ]
    assert buckets["input"]["name"] != buckets["work"]["name"]


def test_functions_may_overwrite_only_their_own_prefixes() -> None:
    grants = _locals()["bucket_grants"]
    writers = {
        (g["principal"], g["bucket"], g["prefix"])
        for g in grants
        if g["role"] in {"roles/storage.objectUser", "roles/storage.objectCreator"}
    }
    assert writers == {
        ("submit", "input", "${var.reports_prefix}"),
        ("submit", "work", "${local.staging_prefix}"),
        ("complete", "work", "${local.loads_prefix}"),
        ("complete", "work", "${local.resume_prefix}"),  # the next attempt's input
        ("vertex_agent", "work", "${local.outputs_prefix}"),
    }
    condition = _resource("google_storage_bucket_iam_member", "grant")["dynamic"][0]["condition"]
    assert condition["for_each"] == "${each.value.prefix == null ? [] : [each.value.prefix]}"
    assert "/objects/${condition.value}" in condition["content"][0]["expression"]


def test_apis_the_pipeline_needs_are_enabled_and_kept_on_destroy() -> None:
    services = _locals()["services"]
    needed = {
        f"{api}.googleapis.com"
        for api in [
            "cloudfunctions",
            "run",
            "cloudbuild",
            "artifactregistry",
            "eventarc",
            "pubsub",
            "storage",
            "aiplatform",
            "cloudscheduler",
            "bigquery",
            "firestore",
            "logging",
            "iam",
        ]
    }
    assert needed <= set(re.findall(r'"([a-z]+\.googleapis\.com)"', services))
    assert _resource("google_project_service", "this")["disable_on_destroy"] is False
