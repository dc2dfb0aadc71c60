"""Google Cloud clients, built lazily once per process and reused across invocations.

Each client honours the emulator variables, so the code that runs locally is the code that runs
in the cloud:
- STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST: the libraries' own
  variables; storage additionally gets AnonymousCredentials and the project here.
- VERTEX_AI_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST: ours (no library reads them), values like
  "http://127.0.0.1:9010"; the client then talks plain HTTP there with AnonymousCredentials.

The client libraries are imported inside the factories: a function's cold start only pays for
the clients it uses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from batchline.runtime.settings import get_settings

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.bigquery import Client as BigQueryClient
    from google.cloud.firestore import Client as FirestoreClient
    from google.cloud.pubsub_v1 import PublisherClient
    from google.cloud.storage import Client as StorageClient

__all__ = [
    "BIGQUERY_EMULATOR_VAR",
    "VERTEX_AI_EMULATOR_VAR",
    "Deferred",
    "bigquery_client",
    "emulator_endpoint",
    "firestore_client",
    "job_service_client",
    "publisher_client",
    "reset_clients",
    "storage_client",
    "vertex_api_endpoint",
]

VERTEX_AI_EMULATOR_VAR = "VERTEX_AI_EMULATOR_HOST"
BIGQUERY_EMULATOR_VAR = "BIGQUERY_EMULATOR_HOST"

_T = TypeVar("_T")


class _Lazy(Generic[_T]):
    """One value built on first use under a lock, so concurrent requests build it once."""

    def __init__(self, build: Callable[[], _T], close: Callable[[_T], None] | None = None):
        self._build = build
        self._close = close
        self._lock = threading.Lock()
        self._value: _T | None = None

    def get(self) -> _T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    def reset(self) -> None:
        with self._lock:
            value, self._value = self._value, None
        if value is not None and self._close is not None:
            self._close(value)


class Deferred:
    """Stands in for a client until an attribute of it is first read, which builds it (once
    per process, as the factory does): an event that never calls the service never pays for
    importing its library (the Vertex AI job service alone takes some 0.15 s)."""

    __slots__ = ("_get",)

    def __init__(self, get: Callable[[], Any]) -> None:
        self._get = get

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def emulator_endpoint(variable: str) -> str | None:
    """The URL an emulator variable points at ("http://" added when the scheme is missing)."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


def vertex_api_endpoint(region: str) -> str:
    """The Vertex AI regional endpoint; the global location has no region prefix."""
    if region == "global":
        return "aiplatform.googleapis.com"
    return f"{region}-aiplatform.googleapis.com"


def _anonymous_credentials() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def _build_storage() -> StorageClient:
    from google.cloud.storage import Client as StorageClient

    project = get_settings().project
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # The library picks the endpoint from the variable itself; without explicit anonymous
        # credentials and project it would still look for application default credentials.
        return StorageClient(project=project, credentials=_anonymous_credentials())
    return StorageClient(project=project)


def _build_publisher() -> PublisherClient:
    # PUBSUB_EMULATOR_HOST (host:port, no scheme) is honoured by the library: insecure channel
    # and anonymous credentials.
    from google.cloud.pubsub_v1 import PublisherClient

    return PublisherClient()


def _build_firestore() -> FirestoreClient:
    # FIRESTORE_EMULATOR_HOST is honoured by the library (insecure channel, emulator creds).
    from google.cloud.firestore import Client as FirestoreClient

    settings = get_settings()
    return FirestoreClient(project=settings.project, database=settings.firestore_database)


def _build_job_service() -> JobServiceClient:
    from batchline.adapters.vertex import job_service_client_class

    JobServiceClient = job_service_client_class()
    emulator = emulator_endpoint(VERTEX_AI_EMULATOR_VAR)
    if emulator is not None:
        # Plain HTTP only works over the REST transport; gRPC would want TLS.
        return JobServiceClient(
            credentials=_anonymous_credentials(),
            transport="rest",
            client_options={"api_endpoint": emulator},
        )
    return JobServiceClient(
        client_options={"api_endpoint": vertex_api_endpoint(get_settings().region)}
    )


def _build_bigquery() -> BigQueryClient:
    from google.cloud.bigquery import Client as BigQueryClient

    settings = get_settings()
    emulator = emulator_endpoint(BIGQUERY_EMULATOR_VAR)
    if emulator is not None:
        return BigQueryClient(
            project=settings.project,
            location=settings.bigquery_location,
            credentials=_anonymous_credentials(),
            client_options={"api_endpoint": emulator},
        )
    return BigQueryClient(project=settings.project, location=settings.bigquery_location)


def _close_bigquery(client: BigQueryClient) -> None:
    client.close()  # type: ignore[no-untyped-call]


def _close_job_service(client: JobServiceClient) -> None:
    client.transport.close()  # type: ignore[no-untyped-call]


def _close_publisher(client: PublisherClient) -> None:
    client.stop()  # flushes pending batches, then refuses new messages
    client.transport.close()


_storage: _Lazy[StorageClient] = _Lazy(_build_storage, lambda client: client.close())
_publisher: _Lazy[PublisherClient] = _Lazy(_build_publisher, _close_publisher)
# firestore.Client has no public close(); dropping it lets its gRPC channel be collected.
_firestore: _Lazy[FirestoreClient] = _Lazy(_build_firestore)
_job_service: _Lazy[JobServiceClient] = _Lazy(_build_job_service, _close_job_service)
_bigquery: _Lazy[BigQueryClient] = _Lazy(_build_bigquery, _close_bigquery)


def storage_client() -> StorageClient:
    """The process's Cloud Storage client."""
    return _storage.get()


def publisher_client() -> PublisherClient:
    """The process's Pub/Sub publisher."""
    return _publisher.get()


def firestore_client() -> FirestoreClient:
    """The process's Firestore client, on BATCHLINE_FIRESTORE_DATABASE."""
    return _firestore.get()


def job_service_client() -> JobServiceClient:
    """The process's Vertex AI JobServiceClient, on the regional endpoint of BATCHLINE_REGION."""
    return _job_service.get()


def bigquery_client() -> BigQueryClient:
    """The process's BigQuery client, located in BATCHLINE_BIGQUERY_LOCATION."""
    return _bigquery.get()


def reset_clients() -> None:
    """Close and forget every client built so far (tests point them at other emulators)."""

    for lazy in (_storage, _publisher, _firestore, _job_service, _bigquery):
        lazy.reset()
