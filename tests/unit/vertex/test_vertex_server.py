"""The Vertex AI emulator's fault settings on the server's fault queue, through werkzeug's
test client (no socket, no job ever runs): counters used up one per call, 429s first,
shown and changed through /admin/faults as documented in localcloud/vertex/__init__.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import Client

from localcloud.vertex import Faults, VertexEmulator
from localcloud.vertex.config import SettingError

pytestmark = pytest.mark.unit

JOBS = "/v1/projects/p/locations/us-central1/batchPredictionJobs"


def call(emulator: VertexEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = Client(emulator).open(path, method=method, data=data)
    return response.status_code, json.loads(response.get_data())


def statuses(emulator: VertexEmulator, method: str, path: str, times: int) -> list[str]:
    return [call(emulator, method, path)[1]["error"]["status"] for _ in range(times)]


@pytest.fixture
def emulator() -> VertexEmulator:
    return VertexEmulator(faults=Faults(row_failure_rate=0.25))


def test_a_create_uses_up_429s_then_503s_then_provisioning_refusals(
    emulator: VertexEmulator,
) -> None:
    emulator.set_faults(create_provisioning=1, create_503=1, create_429=1)
    refused = [call(emulator, "POST", JOBS, {}) for _ in range(3)]
    assert [(code, body["error"]["status"]) for code, body in refused] == [
        (429, "RESOURCE_EXHAUSTED"),
        (503, "UNAVAILABLE"),
        (400, "FAILED_PRECONDITION"),
    ]
    assert "Service agents are being provisioned" in refused[2][1]["error"]["message"]
    faults = emulator.current_faults()
    assert (faults.create_429, faults.create_503, faults.create_provisioning) == (0, 0, 0)
    # Then the real answer: the empty body is refused by the API itself.
    assert call(emulator, "POST", JOBS, {})[1]["error"]["status"] == "INVALID_ARGUMENT"


def test_get_and_create_counters_are_separate(emulator: VertexEmulator) -> None:
    emulator.set_faults(get_503=2, create_429=1)
    assert statuses(emulator, "GET", f"{JOBS}/42", 3) == ["UNAVAILABLE", "UNAVAILABLE", "NOT_FOUND"]
    assert call(emulator, "GET", JOBS)[0] == 200  # list is never refused
    assert emulator.current_faults().create_429 == 1


def test_a_later_429_still_comes_before_a_pending_503(emulator: VertexEmulator) -> None:
    emulator.set_faults(get_503=1)
    emulator.set_faults(get_429=1)
    assert statuses(emulator, "GET", f"{JOBS}/42", 2) == ["RESOURCE_EXHAUSTED", "UNAVAILABLE"]


def test_admin_faults_show_and_change_every_setting(emulator: VertexEmulator) -> None:
    code, shown = call(emulator, "GET", "/admin/faults")
    assert code == 200 and shown == Faults(row_failure_rate=0.25).as_dict()
    changed = call(emulator, "POST", "/admin/faults", {"get_429": 2, "pending_seconds": 5})
    assert changed == (200, {**shown, "get_429": 2, "pending_seconds": 5.0})
    call(emulator, "GET", f"{JOBS}/42")
    assert call(emulator, "GET", "/admin/faults")[1]["get_429"] == 1


def test_a_refused_change_changes_nothing(emulator: VertexEmulator) -> None:
    emulator.set_faults(create_503=1)
    before = emulator.current_faults()
    code, body = call(emulator, "POST", "/admin/faults", {"create_429": 1, "row_failure_rate": 2})
    assert (code, body["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert "row_failure_rate" in body["error"]["message"]
    with pytest.raises(SettingError):
        emulator.set_faults(create_429=-1)
    assert emulator.current_faults() == before


def test_delete_clears_injected_errors_and_reset_restores_the_start(
    emulator: VertexEmulator,
) -> None:
    emulator.set_faults(get_503=3, fail_jobs=True)
    code, cleared = call(emulator, "DELETE", "/admin/faults")
    assert code == 200 and (cleared["get_503"], cleared["fail_jobs"]) == (0, True)
    assert statuses(emulator, "GET", f"{JOBS}/42", 1) == ["NOT_FOUND"]

    emulator.set_faults(get_429=1, row_failure_rate=0.5)
    assert call(emulator, "POST", "/admin/reset", {}) == (
        200,
        Faults(row_failure_rate=0.25).as_dict(),
    )
    assert statuses(emulator, "GET", f"{JOBS}/42", 1) == ["NOT_FOUND"]
