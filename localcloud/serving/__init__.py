"""The server kit every HTTP service of the local cloud is built on.

What it holds
- `server`: `LocalServer`, the werkzeug-based base (routing with werkzeug.routing, the
  `GET /healthz` route, `/admin/faults`, a JSON log line per request, start/stop on a
  threaded server, port 0 for a free port, the `url`, context manager, background work),
  with `Route` and `Reply`;
- `faults`: `FaultQueue` and `InjectedError`, the injected HTTP errors one API request
  each takes, settable in-process (`server.faults`) and through `/admin/faults`;
- `errors`: `ServiceError`, what the server needs of a service's errors (status, body), and
  `GoogleError`, Google's generic `{"error": {"code", "message", "status"}}`;
- `logs`: the JSON log lines (the library's own formatter) and the request line;
- `command`: `python -m` for a service: `--host`/`--port`, logs set up, clean stop on
  SIGTERM and SIGINT.

What it may import: the standard library, werkzeug, and `batchline.runtime.logs` (the
library's logging). Never a service of the local cloud (`localcloud.vertex`,
`localcloud.bigquery`, `localcloud.bridge`, `localcloud.stack`): they build on it.
"""

from localcloud.serving.errors import GoogleError, ServiceError
from localcloud.serving.faults import FaultQueue, InjectedError
from localcloud.serving.server import LocalServer, Reply, Route

__all__ = [
    "FaultQueue",
    "GoogleError",
    "InjectedError",
    "LocalServer",
    "Reply",
    "Route",
    "ServiceError",
]
