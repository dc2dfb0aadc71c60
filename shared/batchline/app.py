"""The composition root: each step wired to its clients, built on first use and reused
for the life of the process (a function instance serves many events)."""

from __future__ import annotations

from functools import cache

from batchline.announce import Announcer
from batchline.complete import Completer
from batchline.ledger import JobLedger
from batchline.poll import Poller
from batchline.submit import Submitter


@cache
def submitter() -> Submitter:
    from batchline import clients
    from batchline.gcs import Storage
    from batchline.settings import get_settings
    from batchline.vertex import VertexJobs

    settings = get_settings()
    ledger = JobLedger.from_settings()
    return Submitter(
        settings,
        ledger,
        Storage(clients.storage_client()),
        VertexJobs(clients.job_service_client(), settings.vertex_parent),
        _announcer(ledger),
    )


@cache
def poller() -> Poller:
    from batchline import clients
    from batchline.notifications import Publisher
    from batchline.settings import get_settings
    from batchline.vertex import VertexJobs

    settings = get_settings()
    return Poller(
        settings,
        JobLedger.from_settings(),
        VertexJobs(clients.job_service_client(), settings.vertex_parent),
        Publisher(clients.publisher_client(), settings.finished_topic_path),
    )


@cache
def completer() -> Completer:
    from batchline import clients
    from batchline.gcs import Storage
    from batchline.settings import get_settings
    from batchline.vertex import VertexJobs
    from batchline.warehouse import Warehouse

    settings = get_settings()
    ledger = JobLedger.from_settings()
    return Completer(
        settings,
        ledger,
        Storage(clients.storage_client()),
        VertexJobs(clients.job_service_client(), settings.vertex_parent),
        Warehouse(
            clients.bigquery_client(),
            settings.project,
            settings.dataset,
            settings.bigquery_location,
        ),
        _announcer(ledger),
    )


def _announcer(ledger: JobLedger) -> Announcer:
    from batchline import clients
    from batchline.notifications import Publisher
    from batchline.schemas import JOBS_TABLE, PREDICTIONS_TABLE
    from batchline.settings import get_settings

    settings = get_settings()
    dataset = f"{settings.project}.{settings.dataset}"
    return Announcer(
        settings,
        ledger,
        Publisher(clients.publisher_client(), settings.completed_topic_path),
        f"{dataset}.{PREDICTIONS_TABLE}",
        f"{dataset}.{JOBS_TABLE}",
    )


def reset() -> None:
    """Forget the wired steps (tests change settings and emulators between cases)."""
    for built in (submitter, poller, completer):
        built.cache_clear()
