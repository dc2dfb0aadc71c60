"""What the three functions do with a CloudEvent: check its type and age, parse it into
types, run one step, and turn the outcome into "done" (return) or "retry" (raise).

A PermanentError is logged and the event acknowledged; anything else propagates so that the
platform delivers the event again. Retries are bounded: an event older than
BATCHLINE_MAX_EVENT_AGE_HOURS is dropped with an error log line, whatever the function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from batchline.domain.errors import PermanentError
from batchline.domain.events import (
    PUBSUB_PUBLISHED,
    STORAGE_FINALIZED,
    Event,
    age,
    event_of,
    pubsub_message,
    storage_object,
)
from batchline.domain.log_context import log_context
from batchline.runtime import wiring
from batchline.runtime.logs import configure_logging

log = logging.getLogger("batchline.runtime.handlers")
_P = TypeVar("_P")


def _run(
    cloud_event: Any,
    expected_type: str,
    parse: Callable[[Any], _P],
    step: Callable[[_P, Event], Any],
) -> Any:
    configure_logging()
    try:
        event = event_of(cloud_event)
    except PermanentError as exc:
        log.error("gave up on a malformed event: %s", exc)
        return None
    with log_context(event_id=event.id, event_type=event.type):
        if event.type != expected_type:
            log.warning("ignored an event of type %s (expected %s)", event.type, expected_type)
            return None
        try:
            payload = parse(cloud_event.data)  # before any setting or client is needed
            if _too_old(event):
                return None
            return step(payload, event)
        except PermanentError as exc:
            log.error("gave up on the event: %s", exc)
            return None


def _too_old(event: Event) -> bool:
    from batchline.runtime.settings import get_settings

    limit = get_settings().max_event_age
    seconds = age(event.time)
    if seconds > limit.total_seconds():
        log.error("dropped an event %.0f s old: retried past %s", seconds, limit)
        return True
    return False


def on_object_finalized(cloud_event: Any) -> Any:
    """Storage `finalized` on the input bucket -> submit."""
    return _run(
        cloud_event,
        STORAGE_FINALIZED,
        storage_object,
        lambda obj, event: wiring.submitter().handle(obj, event),
    )


def on_poll_tick(cloud_event: Any) -> Any:
    """A Cloud Scheduler tick through Pub/Sub -> poll the jobs in flight."""
    return _run(cloud_event, PUBSUB_PUBLISHED, pubsub_message, lambda _, __: wiring.poller().tick())


def on_job_finished(cloud_event: Any) -> Any:
    """A job-finished message -> load its rows, notify."""
    return _run(
        cloud_event,
        PUBSUB_PUBLISHED,
        pubsub_message,
        lambda message, _: wiring.completer().handle(message),
    )
