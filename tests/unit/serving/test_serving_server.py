"""The server kit against a tiny service, through werkzeug's test client (no socket):
routing, health, injected faults and their admin API, the service's error shape, logs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request

from batchline.runtime.logs import JsonFormatter
from localcloud.serving import GoogleError, InjectedError, LocalServer, Reply, Route, ServiceError

pytestmark = pytest.mark.unit


class Notes(LocalServer):
    """A tiny service: notes by id, and a route that crashes."""

    name = "notes"

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, str] = {}

    def routes(self) -> list[Route]:
        return [
            Route(("GET",), "/v1/notes/<note_id>", "notes.get", self._get),
            Route(("PUT",), "/v1/notes/<note_id>", "notes.put", self._put),
            Route(("GET",), "/v1/crash", "notes.crash", self._crash),
        ]

    def _get(self, request: Request, note_id: str) -> Reply:
        if note_id not in self.notes:
            raise GoogleError.of_status(404, f"No note {note_id}.")
        return Reply(200, {"id": note_id, "text": self.notes[note_id]})

    def _put(self, request: Request, note_id: str) -> Reply:
        self.notes[note_id] = str(self.json_object(request).get("text", ""))
        return Reply(200, {"id": note_id, "text": self.notes[note_id]})

    def _crash(self, request: Request) -> Reply:
        raise RuntimeError("boom")


class ShapedError(ServiceError):
    """A service whose errors look different: `{"fault": {"http": ..., "why": ...}}`."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why

    @property
    def http_status(self) -> int:
        return self.status

    def response_body(self) -> dict[str, Any]:
        return {"fault": {"http": self.status, "why": self.why}}


class ShapedNotes(Notes):
    name = "shaped"

    def error(self, status: int, message: str) -> ShapedError:
        return ShapedError(status, message)


class Quiet(LocalServer):
    """No API routes: health only."""

    name = "quiet"


def call(server: LocalServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    response = Client(server).open(path, method=method, data=data)
    text = response.get_data(as_text=True)
    return response.status_code, json.loads(text) if text else None


@pytest.fixture
def notes() -> Notes:
    return Notes()


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The JSON lines the servers under localcloud log."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("localcloud")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# ----- routing -----


def test_routes_take_their_path_variables(notes: Notes) -> None:
    assert call(notes, "PUT", "/v1/notes/n1", {"text": "hello"}) == (
        200,
        {"id": "n1", "text": "hello"},
    )
    assert call(notes, "GET", "/v1/notes/n1") == (200, {"id": "n1", "text": "hello"})


def test_a_handler_error_is_answered_in_its_shape(notes: Notes) -> None:
    assert call(notes, "GET", "/v1/notes/missing") == (
        404,
        {"error": {"code": 404, "message": "No note missing.", "status": "NOT_FOUND"}},
    )


def test_unknown_paths_and_methods_get_the_services_error(notes: Notes) -> None:
    status, body = call(notes, "GET", "/v2/elsewhere")
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")
    assert "/v2/elsewhere" in body["error"]["message"]
    status, body = call(notes, "DELETE", "/v1/notes/n1")
    assert (status, body["error"]["status"]) == (405, "UNIMPLEMENTED")
    assert "DELETE" in body["error"]["message"]


def test_a_service_with_its_own_error_shape_keeps_it_for_router_errors() -> None:
    shaped = ShapedNotes()
    assert call(shaped, "GET", "/nowhere") == (
        404,
        {"fault": {"http": 404, "why": "The requested URL /nowhere was not found on this server."}},
    )
    assert call(shaped, "PUT", "/v1/notes/n1", [1, 2])[1]["fault"]["http"] == 400


def test_a_crash_is_a_500_in_the_services_shape_and_an_error_line(
    notes: Notes, log_lines: io.StringIO
) -> None:
    assert call(notes, "GET", "/v1/crash") == (
        500,
        {"error": {"code": 500, "message": "Internal error.", "status": "INTERNAL"}},
    )
    crash = next(r for r in records(log_lines) if r["message"] == "request crashed")
    assert crash["severity"] == "ERROR"
    assert "RuntimeError: boom" in crash["stack_trace"]


def test_bad_json_bodies_are_400s(notes: Notes) -> None:
    for body in ("{not json", "[1, 2]"):
        response = Client(notes).put("/v1/notes/n1", data=body)
        error = json.loads(response.get_data())["error"]
        assert (response.status_code, error["status"]) == (400, "INVALID_ARGUMENT")
        assert error["message"].startswith("Invalid JSON payload received.")


# ----- health -----


def test_health_answers_ok(notes: Notes) -> None:
    assert call(notes, "GET", "/healthz") == (200, {"status": "ok"})
    assert call(Quiet(), "GET", "/healthz") == (200, {"status": "ok"})


def test_health_and_admin_never_take_an_injected_error(notes: Notes) -> None:
    notes.faults.add(InjectedError(GoogleError.of_status(503, "down"), count=1))
    assert call(notes, "GET", "/healthz") == (200, {"status": "ok"})
    assert call(notes, "GET", "/admin/faults")[0] == 200
    assert call(notes, "GET", "/v1/notes/x")[0] == 503


# ----- faults -----


def test_injected_errors_answer_api_requests_in_order_then_run_out(notes: Notes) -> None:
    notes.notes["n1"] = "kept"
    added = call(notes, "POST", "/admin/faults", {"status": 503, "count": 2})
    assert added == (200, {"pending": [{"status": 503, "count": 2}]})
    call(notes, "POST", "/admin/faults", {"status": 429, "message": "slow down"})

    answers = [call(notes, "GET", "/v1/notes/n1") for _ in range(4)]

    assert [status for status, _ in answers] == [503, 503, 429, 200]
    assert answers[0][1] == {
        "error": {"code": 503, "message": "Service Unavailable", "status": "UNAVAILABLE"}
    }
    assert answers[2][1]["error"] == {
        "code": 429,
        "message": "slow down",
        "status": "RESOURCE_EXHAUSTED",
    }
    assert answers[3][1] == {"id": "n1", "text": "kept"}
    assert call(notes, "GET", "/admin/faults") == (200, {"pending": []})


def test_an_injected_error_for_one_endpoint_spares_the_others(notes: Notes) -> None:
    call(notes, "POST", "/admin/faults", {"status": 429, "endpoints": ["notes.put"]})
    assert call(notes, "GET", "/admin/faults")[1] == {
        "pending": [{"status": 429, "count": 1, "endpoints": ["notes.put"]}]
    }
    assert call(notes, "GET", "/v1/notes/n1")[0] == 404  # not a put: the real answer
    assert call(notes, "PUT", "/v1/notes/n1", {"text": "a"})[0] == 429
    assert call(notes, "PUT", "/v1/notes/n1", {"text": "a"})[0] == 200
    assert notes.notes == {"n1": "a"}  # the injected 429 never reached the handler


def test_delete_clears_the_injected_errors(notes: Notes) -> None:
    notes.faults.add(InjectedError(GoogleError.of_status(503, "down"), count=5))
    assert call(notes, "DELETE", "/admin/faults") == (200, {"pending": []})
    assert call(notes, "GET", "/v1/notes/n1")[0] == 404


def test_injected_errors_keep_the_services_shape() -> None:
    shaped = ShapedNotes()
    call(shaped, "POST", "/admin/faults", {"status": 503})
    assert call(shaped, "GET", "/v1/notes/n1") == (
        503,
        {"fault": {"http": 503, "why": "Service Unavailable"}},
    )


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "many"}, {"status": 503, "count": 0}, {"status": 503, "endpoints": ["nope"]}],
)
def test_impossible_faults_are_refused(notes: Notes, body: dict[str, Any]) -> None:
    status, answer = call(notes, "POST", "/admin/faults", body)
    assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert call(notes, "GET", "/admin/faults")[1] == {"pending": []}


def test_a_server_without_api_routes_has_no_fault_admin() -> None:
    assert call(Quiet(), "GET", "/admin/faults")[0] == 404


# ----- logs -----


def test_each_request_is_one_json_line_in_cloud_loggings_shape(
    notes: Notes, log_lines: io.StringIO
) -> None:
    notes.notes["n1"] = "x"
    call(notes, "GET", "/v1/notes/n1?view=full")
    call(notes, "GET", "/v1/notes/missing")
    call(notes, "GET", "/v1/crash")

    lines = [r for r in records(log_lines) if "httpRequest" in r]
    assert [(r["severity"], r["message"]) for r in lines] == [
        ("INFO", "GET /v1/notes/n1?view=full 200"),
        ("WARNING", "GET /v1/notes/missing 404"),
        ("ERROR", "GET /v1/crash 500"),
    ]
    first = lines[0]
    assert first["logger"] == "localcloud.notes"
    assert first["endpoint"] == "notes.get"
    assert {k: v for k, v in first["httpRequest"].items() if k != "latency"} == {
        "requestMethod": "GET",
        "requestUrl": "/v1/notes/n1?view=full",
        "status": 200,
    }
    assert re.fullmatch(r"\d+\.\d{6}s", first["httpRequest"]["latency"])
    # Warnings say where they come from: the server, not the logging helper.
    assert lines[1]["logging.googleapis.com/sourceLocation"]["file"].endswith("server.py")
