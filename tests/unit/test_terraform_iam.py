"""The root module's IAM, read from its HCL: least privilege, as the documentation asks."""

from __future__ import annotations

import re

import pytest
from terraform_hcl import (
    FUNCTIONS,
    _locals,
    _parsed,
    _resource,
    _single,
    _strings,
    _tf_files,
    _values_of,
)

pytestmark = pytest.mark.unit

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers")


def _project_roles() -> dict[str, set[str]]:
    by_principal: dict[str, set[str]] = {}
    for grant in _locals()["project_grants"]:
        by_principal.setdefault(grant["principal"], set()).add(grant["role"])
    return by_principal


def _custom_role(grant_role: str) -> list[str]:
    match = re.fullmatch(r"\$\{local\.custom_role_names\[\"(\w+)\"\]\}", grant_role)
    assert match, f"{grant_role} is not one of the module's custom roles"
    permissions: list[str] = _locals()["batch_job_roles"][match.group(1)]["permissions"]
    return permissions


def test_no_primitive_roles_and_no_public_principals() -> None:
    roles: list[str] = []
    members: list[str] = []
    for filename in _tf_files():
        parsed = _parsed(filename)
        roles += [r for v in _values_of(parsed, {"role"}) for r in _strings(v)]
        members += [
            m for v in _values_of(parsed, {"member", "members", "principal"}) for m in _strings(v)
        ]
    members += list(_strings(_locals()["service_agents"]))
    assert len(roles) > 10 and len(members) > 10, "found too few grants to judge"
    assert not [role for role in roles if role in PRIMITIVE_ROLES]
    assert not [m for m in members if any(public in m for public in PUBLIC_PRINCIPALS)]


def test_every_grant_names_a_known_identity_and_resource() -> None:
    local_values = _locals()
    labels = set(FUNCTIONS) | {"trigger", "build"} | set(local_values["service_agents"])
    for key, target in (
        ("project_grants", None),
        ("bucket_grants", "bucket"),
        ("topic_grants", "topic"),
    ):
        grants = local_values[key]
        assert grants, f"no {key}"
        for grant in grants:
            assert grant["principal"] in labels, f"{key}: unknown principal {grant['principal']}"
            if target:
                assert grant[target] in local_values[f"{target}s"], f"{key}: unknown {target}"
    # Principals from variables are only ever added through the validated member lists.
    assert "var.input_uploaders" in local_values["all_bucket_grants"]
    assert "var.completed_topic_subscribers" in local_values["all_topic_grants"]


def test_each_topic_is_published_to_only_by_the_functions_that_publish_there() -> None:
    publishers: dict[str, set[str]] = {}
    for grant in _locals()["topic_grants"]:
        if grant["role"] == "roles/pubsub.publisher":
            publishers.setdefault(grant["topic"], set()).add(grant["principal"])
    assert publishers == {
        "completed": {"submit", "complete", "poll"},  # poll: overdue notifications
        "job_finished": {"poll"},
        "dead_letter": {"pubsub_agent"},
    }


def test_each_function_runs_as_its_own_service_account() -> None:
    account = _resource("google_service_account", "function")
    assert account["for_each"] == "${local.functions}"
    assert account["account_id"] == "${var.prefix}-${each.key}"
    roles = _project_roles()
    assert "roles/bigquery.jobUser" in roles["complete"]
    assert not [role for grants in roles.values() for role in grants if role.endswith("admin")]


def test_no_function_holds_a_predefined_vertex_ai_role() -> None:
    """Each function's batch job permissions come from a custom role with only the calls it
    makes (https://cloud.google.com/vertex-ai/docs/general/iam-permissions)."""
    roles = _project_roles()
    for name in FUNCTIONS:
        assert not [r for r in roles[name] if r.startswith("roles/aiplatform.")], name
    (submit,) = [r for r in roles["submit"] if "custom_role_names" in r]
    (poll,) = [r for r in roles["poll"] if "custom_role_names" in r]
    (complete,) = [r for r in roles["complete"] if "custom_role_names" in r]
    job = "aiplatform.batchPredictionJobs."
    assert sorted(_custom_role(submit)) == [
        f"{job}{p}" for p in ("cancel", "create", "get", "list")
    ]
    # The poll starts queued parts and resumes: it creates jobs too.
    assert sorted(_custom_role(poll)) == [f"{job}{p}" for p in ("cancel", "create", "get", "list")]
    assert sorted(_custom_role(complete)) == [f"{job}{p}" for p in ("get", "list")]


def test_firestore_access_is_conditioned_on_the_ledger_database() -> None:
    """The condition Firestore documents for one database:
    https://cloud.google.com/firestore/docs/manage-databases#configure_access_with_iam_conditions
    """
    grant = _resource("google_project_iam_member", "ledger_user")
    assert grant["for_each"] == "${local.functions}"
    assert grant["role"] == "roles/datastore.user"
    condition = _single(grant, "condition")
    assert condition["expression"] == (
        'resource.name == "projects/${var.project_id}/databases/'
        '${google_firestore_database.ledger.name}"'
    )
    assert not [r for roles in _project_roles().values() for r in roles if "datastore" in r]


def test_the_build_account_has_the_documented_role() -> None:
    """Cloud Run Builder, as https://cloud.google.com/run/docs/configuring/services/build-service-account
    asks for a user-specified build service account."""
    assert _project_roles()["build"] == {"roles/run.builder"}
    function = _resource("google_cloudfunctions2_function", "function")
    assert _single(function, "build_config")["service_account"] == (
        "${google_service_account.build.id}"
    )
    assert "${google_project_iam_member.grant}" in str(function["depends_on"])
