"""The server every local service runs on: werkzeug routing, health, faults, logs, life cycle.

A service subclasses `LocalServer`, names itself, and lists its `routes()`; each route's
handler takes the werkzeug Request and the path's variables and returns a `Reply`, or raises
the service's `ServiceError`. The base adds:
- `GET /healthz`: `{"status": "ok"}` (503 once a background worker has died);
- for services with API routes, `GET`/`POST`/`DELETE /admin/faults` over `self.faults`, the
  queue of injected errors one API request each takes before its handler runs;
- one JSON log line per request (Cloud Logging's httpRequest), and for the errors the
  router raises itself (404, 405) or a handler's crash (500), the service's error shape;
- a threaded server on `host:port` (port 0 takes a free one; `url` says which), `start()`,
  `stop()`, use as a context manager, and optional background work (`start_worker`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from localcloud.serving.errors import GoogleError, ServiceError, reason_phrase
from localcloud.serving.faults import FaultQueue, InjectedError
from localcloud.serving.logs import log_request, write

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Reply:
    """An answer: status, a JSON value for the body (None: no body), extra headers."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One werkzeug rule and its handler, named by `endpoint` (the API method it serves).

    `api` routes are the emulated API: they take injected faults, the others never do.
    `methods` None accepts every method (for a route that answers "not allowed" itself).
    """

    methods: tuple[str, ...] | None
    path: str
    endpoint: str
    handler: Callable[..., Reply]
    api: bool = True


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its access log: the server logs one JSON line itself."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the second can wait for the
    # client's delayed ACK (40 ms) on every call.
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class LocalServer:
    """The base of the local cloud's HTTP services; see the module docstring."""

    name: ClassVar[str] = "server"
    converters: ClassVar[Mapping[str, type[BaseConverter]]] = {}

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, faults: Iterable[InjectedError] = ()
    ) -> None:
        self.host = host
        self.faults = FaultQueue(faults)
        self.log = logging.getLogger(f"localcloud.{self.name}")
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._worker_error: BaseException | None = None
        self.failed = threading.Event()
        routes = list(self.routes())
        if any(route.api for route in routes):
            routes += self._fault_routes()
        routes.append(Route(("GET",), "/healthz", "healthz", self._health, api=False))
        self._routes = {route.endpoint: route for route in routes}
        self._url_map = Map(
            [Rule(r.path, methods=r.methods, endpoint=r.endpoint) for r in routes],
            converters=dict(self.converters),
            merge_slashes=False,
        )

    # ----- what a service defines -----

    def routes(self) -> Iterable[Route]:
        """The service's routes (health and admin routes are added by the base)."""
        return ()

    def error(self, status: int, message: str) -> ServiceError:
        """The service's error for an HTTP status (unknown routes, bad admin requests)."""
        return GoogleError.of_status(status, message)

    def crashed(self, request: Request, exc: Exception) -> ServiceError:
        """The answer when a handler raises something other than a ServiceError."""
        return self.error(500, "Internal error.")

    def dispatch(self, route: Route, request: Request, arguments: Mapping[str, Any]) -> Reply:
        """Runs the handler; a service wraps it to hold a lock, for instance."""
        return route.handler(request, **arguments)

    def answered(self, route: Route, request: Request, reply: Reply) -> None:
        """Called after each routed request is answered (recording, for instance)."""

    def on_start(self) -> None:
        """Called once the port is bound (`url` is known), before requests are served."""

    def on_stop(self) -> None:
        """Called once the server no longer accepts connections."""

    def _health(self, request: Request) -> Reply:
        if self.failed.is_set():
            return Reply(503, {"status": "failed", "error": repr(self._worker_error)})
        return Reply(200, {"status": "ok"})

    def listening_fields(self) -> dict[str, Any]:
        """Fields of the "listening" log line beyond the url."""
        return {}

    # ----- faults -----

    def faults_view(self) -> Any:
        """What GET (and POST, DELETE) /admin/faults answer."""
        return {"pending": self.faults.pending()}

    def add_faults(self, body: Mapping[str, Any]) -> None:
        """POST /admin/faults: `{"status": 503, "count": 2, "message"?, "endpoints"?: [...]}`.

        Services whose faults say more (a reason, a setting) replace this.
        """
        try:
            status = int(body["status"])
            count = int(body.get("count", 1))
            endpoints = frozenset(str(name) for name in body.get("endpoints") or ())
            message = str(body.get("message") or reason_phrase(status))
            entry = InjectedError(self.error(status, message), count, endpoints)
        except (KeyError, TypeError, ValueError) as exc:
            raise self.error(
                400, f'POST /admin/faults takes {{"status": S, "count": N}}: {exc!r}'
            ) from None
        unknown = sorted(endpoints - {r.endpoint for r in self._routes.values() if r.api})
        if unknown:
            raise self.error(400, f"No API endpoint named {', '.join(unknown)}.")
        self.faults.add(entry)

    def _fault_routes(self) -> list[Route]:
        return [
            Route(("GET",), "/admin/faults", "admin.faults.list", self._get_faults, api=False),
            Route(("POST",), "/admin/faults", "admin.faults.add", self._post_faults, api=False),
            Route(
                ("DELETE",), "/admin/faults", "admin.faults.clear", self._delete_faults, api=False
            ),
        ]

    def _get_faults(self, request: Request) -> Reply:
        return Reply(200, self.faults_view())

    def _post_faults(self, request: Request) -> Reply:
        self.add_faults(self.json_object(request))
        return Reply(200, self.faults_view())

    def _delete_faults(self, request: Request) -> Reply:
        self.faults.clear()
        return Reply(200, self.faults_view())

    def json_object(self, request: Request) -> dict[str, Any]:
        """The body as a JSON object (empty body: {}), or the service's 400 in Google's words."""
        raw = request.get_data()
        try:
            value = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self.error(400, f"Invalid JSON payload received. {exc}") from None
        if not isinstance(value, dict):
            raise self.error(400, "Invalid JSON payload received. Expected an object.")
        return value

    # ----- WSGI -----

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        route: Route | None = None
        try:
            endpoint, arguments = self._url_map.bind_to_environ(environ).match()
            route = self._routes[endpoint]
            injected = self.faults.take(route.endpoint) if route.api else None
            if injected is not None:
                raise injected
            reply = self.dispatch(route, request, arguments)
        except ServiceError as error:
            reply = Reply(error.http_status, error.response_body())
        except HTTPException as error:  # the router's own: 404, 405
            refusal = self.error(error.code or 400, _routing_message(request, error.code))
            reply = Reply(refusal.http_status, refusal.response_body())
        except Exception as exc:  # the client must get an answer, and the log the traceback
            write(self.log, "ERROR", "request crashed", error=exc, path=request.full_path)
            crash = self.crashed(request, exc)
            reply = Reply(crash.http_status, crash.response_body())
        response = Response(status=reply.status, headers=dict(reply.headers))
        if reply.body is not None:
            response.set_data(json.dumps(reply.body))
            response.content_type = JSON_CONTENT_TYPE
        url = request.full_path.rstrip("?")
        # Logged before the answer goes out, so log lines follow the order clients see.
        log_request(
            self.log,
            request.method,
            url,
            reply.status,
            time.perf_counter() - started,
            route.endpoint if route else None,
        )
        if route is not None:
            self.answered(route, request, reply)
        return response(environ, start_response)

    # ----- life cycle -----

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"the {self.name} server is already started")
        server = make_server(
            self.host, self._requested_port, self, threaded=True, request_handler=_QuietHandler
        )
        self._server = server
        self._stopping.clear()
        self.failed.clear()
        try:
            self.on_start()
        except BaseException:
            self._server = None
            server.server_close()
            raise
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick.
            target=lambda: server.serve_forever(poll_interval=0.05),
            name=f"{self.name}-server",
            daemon=True,
        )
        self._thread.start()
        write(self.log, "INFO", "listening", url=self.url, **self.listening_fields())
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(5)
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.on_stop()
        write(self.log, "INFO", "stopped", url=self.url)
        self._server = None
        self._thread = None
        self._worker = None

    def start_worker(self, work: Callable[[threading.Event], None]) -> None:
        """Run `work(stopping)` in a thread of its own until `stop()` sets `stopping`.

        Called from `on_start`. If it raises, the error is logged, `failed` is set and the
        health route answers 503: a service whose work has died does not look healthy.
        """

        def run() -> None:
            try:
                work(self._stopping)
            except Exception as exc:
                self._worker_error = exc
                write(self.log, "ERROR", "worker stopped by an error", error=exc)
                self.failed.set()

        self._worker = threading.Thread(target=run, name=f"{self.name}-worker", daemon=True)
        self._worker.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.name} server is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _routing_message(request: Request, code: int | None) -> str:
    if code == 405:
        return f"Method {request.method} is not allowed here."
    return f"The requested URL {request.path} was not found on this server."
