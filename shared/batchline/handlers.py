"""What the three functions do with a CloudEvent: check its type, parse it into types,
run one step, and turn the outcome into "done" (return) or "retry" (raise).

A PermanentError is logged and the event acknowledged; anything else propagates so that
the platform delivers the event again (retries are bounded by the steps' age guards).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from batchline import app
from batchline.errors import PermanentError
from batchline.events import (
    PUBSUB_PUBLISHED,
    STORAGE_FINALIZED,
    Event,
    event_of,
    pubsub_message,
    storage_object,
)
from batchline.logs import configure_logging, log_context

log = logging.getLogger("batchline.handlers")
_T = TypeVar("_T")


def _run(cloud_event: Any, expected_type: str, step: Callable[[Event], _T]) -> _T | None:
    configure_logging()
    event = event_of(cloud_event)
    with log_context(event_id=event.id, event_type=event.type):
        if event.type != expected_type:
            log.warning("ignored an event of type %s (expected %s)", event.type, expected_type)
            return None
        try:
            return step(event)
        except PermanentError as exc:
            log.error("gave up on the event: %s", exc)
            return None


def on_object_finalized(cloud_event: Any) -> Any:
    """Storage `finalized` on the input bucket -> submit."""

    def submit(event: Event) -> Any:
        obj = storage_object(cloud_event.data)  # parsed before any client is built
        return app.submitter().handle(obj, event)

    return _run(cloud_event, STORAGE_FINALIZED, submit)


def on_poll_tick(cloud_event: Any) -> Any:
    """A Cloud Scheduler tick through Pub/Sub -> poll the jobs in flight."""
    return _run(cloud_event, PUBSUB_PUBLISHED, lambda event: app.poller().tick())


def on_job_finished(cloud_event: Any) -> Any:
    """A job-finished message -> load its rows, notify."""

    def complete(event: Event) -> Any:
        message = pubsub_message(cloud_event.data)  # parsed before any client is built
        return app.completer().handle(message)

    return _run(cloud_event, PUBSUB_PUBLISHED, complete)
