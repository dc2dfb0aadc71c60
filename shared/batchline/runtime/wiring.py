"""The composition root: each step wired to its adapters and clients, built on first use and
reused for the life of the process (a function instance serves many events).

Everything is imported inside the factories: a function's cold start pays only for the
adapters and client libraries of the step it runs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchline.adapters.ledger import JobLedger
    from batchline.adapters.pubsub import Publisher
    from batchline.adapters.storage import Storage
    from batchline.adapters.vertex import VertexJobs
    from batchline.steps.announce import Announcer
    from batchline.steps.complete import Completer
    from batchline.steps.poll import Poller
    from batchline.steps.release import Releaser
    from batchline.steps.start import Starter
    from batchline.steps.submit import Submitter


def ledger() -> JobLedger:
    """The ledger on the process's Firestore client and BATCHLINE_LEDGER_COLLECTION."""
    from batchline.adapters.ledger import JobLedger
    from batchline.runtime.clients import firestore_client
    from batchline.runtime.settings import get_settings

    settings = get_settings()
    return JobLedger(
        firestore_client(),
        settings.ledger_collection,
        submit_lease=settings.submit_lease,
        start_lease=settings.start_lease,
        load_lease=settings.load_lease,
        notify_lease=settings.notify_lease,
    )


def storage() -> Storage:
    from batchline.adapters.storage import Storage
    from batchline.runtime.clients import Deferred, storage_client

    return Storage(Deferred(storage_client))


def vertex_jobs() -> VertexJobs:
    from batchline.adapters.vertex import VertexJobs
    from batchline.runtime.clients import Deferred, job_service_client
    from batchline.runtime.settings import get_settings

    # Built on the first call to Vertex AI: a poll tick with nothing in flight, a rejected
    # or repeated upload never import aiplatform_v1.
    return VertexJobs(Deferred(job_service_client), get_settings().vertex_parent)


def publisher(topic_path: str) -> Publisher:
    from batchline.adapters.pubsub import PUBLISH_TIMEOUT_SECONDS, Publisher
    from batchline.runtime.clients import publisher_client
    from batchline.runtime.settings import get_settings

    # A publish ends within half the claim it is made under (adapters.pubsub.Publisher), so it
    # is over, sent or failed, before the claim can lapse and a second sender publish again.
    lease = get_settings().notify_lease.total_seconds()
    return Publisher(publisher_client(), topic_path, min(PUBLISH_TIMEOUT_SECONDS, lease / 2))


@cache
def submitter() -> Submitter:
    from batchline.runtime.settings import get_settings
    from batchline.steps.submit import Submitter

    shared_ledger, vertex = ledger(), vertex_jobs()
    announcer = _announcer(shared_ledger)
    starter = _starter(shared_ledger, vertex, announcer)
    return Submitter(get_settings(), shared_ledger, storage(), vertex, announcer, starter)


@cache
def poller() -> Poller:
    from batchline.runtime.settings import get_settings
    from batchline.steps.poll import Poller

    settings = get_settings()
    shared_ledger, vertex = ledger(), vertex_jobs()
    announcer = _announcer(shared_ledger)
    return Poller(
        settings,
        shared_ledger,
        vertex,
        publisher(settings.finished_topic_path),
        announcer,
        _starter(shared_ledger, vertex, announcer),
    )


@cache
def completer() -> Completer:
    from batchline.adapters.bigquery import Warehouse
    from batchline.runtime.clients import bigquery_client
    from batchline.runtime.settings import get_settings
    from batchline.steps.complete import Completer
    from batchline.steps.resume import ResumeWriter

    settings = get_settings()
    shared_ledger = ledger()
    warehouse = Warehouse(
        bigquery_client(), settings.project, settings.dataset, settings.bigquery_location
    )
    shared_storage = storage()
    return Completer(
        settings,
        shared_ledger,
        shared_storage,
        vertex_jobs(),
        warehouse,
        _announcer(shared_ledger),
        ResumeWriter(shared_storage, settings.work_bucket),
    )


def releaser() -> Releaser:
    """`batchline release`: the ledger, and a starter to create the released file's jobs."""
    from batchline.runtime.settings import get_settings
    from batchline.steps.release import Releaser

    shared_ledger, vertex = ledger(), vertex_jobs()
    starter = _starter(shared_ledger, vertex, _announcer(shared_ledger))
    return Releaser(get_settings(), shared_ledger, starter, storage())


def _starter(shared_ledger: JobLedger, vertex: VertexJobs, announcer: Announcer) -> Starter:
    from batchline.runtime.settings import get_settings
    from batchline.steps.start import Starter

    return Starter(get_settings(), shared_ledger, vertex, announcer)


def _announcer(shared_ledger: JobLedger) -> Announcer:
    from batchline.runtime.settings import get_settings
    from batchline.schemas import JOBS_TABLE, PREDICTIONS_TABLE
    from batchline.steps.announce import Announcer

    settings = get_settings()
    dataset = f"{settings.project}.{settings.dataset}"
    return Announcer(
        settings,
        shared_ledger,
        publisher(settings.completed_topic_path),
        f"{dataset}.{PREDICTIONS_TABLE}",
        f"{dataset}.{JOBS_TABLE}",
    )


def reset() -> None:
    """Forget the wired steps (tests change settings and emulators between cases)."""
    for built in (submitter, poller, completer):
        built.cache_clear()
