"""The offline check fails on the mistakes it is there to catch, with terraform's own error.

Each case breaks a copy of the module in one place and expects `terraform validate` or, for
what only planning can see, `terraform plan` to refuse it with the error terraform itself
gives, naming the file. A reference through `each.value` (or a `for` expression) is the kind
`validate` cannot check: the value's type is known only once the map is built at plan time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from harness import Workspace

pytestmark = pytest.mark.integration

VARIABLES = {"project_id": "batchline-offline"}


@dataclass(frozen=True)
class Mutation:
    filename: str
    old: str
    new: str
    error: str  # the summary of terraform's diagnostic


MUTATIONS = {
    "unknown_argument": Mutation(
        "pubsub.tf",
        'name = "${var.prefix}-poll-tick"',
        'name = "${var.prefix}-poll-tick"\n  message_retention = "600s"',
        "Unsupported argument",
    ),
    "missing_required_argument": Mutation(
        "pubsub.tf",
        'name  = "${var.prefix}-dead-letter-inspection"\n  topic = google_pubsub_topic.dead_letter.id',
        'name  = "${var.prefix}-dead-letter-inspection"',
        "Missing required argument",
    ),
    "bad_reference_through_each_value": Mutation(
        "functions.tf",
        "entry_point       = each.value.entry_point",
        "entry_point       = each.value.entry_pont",
        "Unsupported attribute",
    ),
    "wrong_type": Mutation(
        "pubsub.tf",
        "ack_deadline_seconds       = 60",
        "ack_deadline_seconds       = { seconds = 60 }",
        "Incorrect attribute value type",
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mistake_fails_with_terraforms_error(scratch_workspace: Workspace, name: str) -> None:
    mutation = MUTATIONS[name]
    scratch_workspace.edit(mutation.filename, mutation.old, mutation.new)
    validate = scratch_workspace.validate()
    result = validate if validate.returncode != 0 else scratch_workspace.plan(VARIABLES).result
    assert result.returncode != 0, f"{name} was accepted"
    found = {(summary, file) for summary, _, file in result.errors()}
    assert (mutation.error, mutation.filename) in found, result.explain()


def test_the_unmutated_copy_plans(scratch_workspace: Workspace) -> None:
    """The cases above fail because of their one change: the same copy plans unchanged."""
    plan = scratch_workspace.plan(VARIABLES)
    assert plan.succeeded, plan.result.explain()
