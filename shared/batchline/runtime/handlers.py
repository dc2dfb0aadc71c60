"""What the three functions do with a CloudEvent: check its type and age, parse it into
types, run one step, and turn the outcome into "done" (return) or "retry" (raise).

- A PermanentError is logged with the event id and the event acknowledged: delivering it
  again cannot help. So is a request no retry could make readable (not a CloudEvent, a body
  that cannot be decoded): `acknowledge_unreadable_requests` registers that with the framework.
- A TransientError (a claim another attempt holds, a 429, a 503) is logged as one warning
  line and answered 503, so that the platform delivers the event again, without a stack trace.
  So is a Google API's own "try again" that outlasted its client library's retries
  (contention on a Firestore document, 429, 500, 503, a deadline), wherever it was raised.
- Anything else propagates (a 500 with its stack trace, retried): a bug or an unclassified
  failure must be seen.

Retries are bounded: an event older than BATCHLINE_MAX_EVENT_AGE_HOURS is not run again.
Its step is told to give up instead (the submit step records the file as failed and says so
in its notification; the complete step records the job as failed), so nothing ends silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from batchline.domain.errors import PermanentError, TransientError
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
    give_up: Callable[[_P, str], Any] | None = None,
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
            expired = _expired(event)
            if expired:
                return give_up(payload, expired) if give_up is not None else None
            return step(payload, event)
        except PermanentError as exc:
            log.error("gave up on the event: %s", exc)
            return None
        except TransientError as exc:
            log.warning("will retry the event: %s", exc)
            raise _retry_later(str(exc)) from None
        except Exception as exc:
            if not _try_again_later(exc):
                raise
            reason = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("will retry the event: %s", reason)
            raise _retry_later(reason) from None


def _try_again_later(exc: Exception) -> bool:
    """A Google API's answer that asks to be tried again later: what api_core's own retry
    predicates take as transient (429, 500, 503), contention (ABORTED) and deadlines. A
    RetryError is judged by the error its retries ended on."""
    from google.api_core import exceptions

    if isinstance(exc, exceptions.RetryError) and isinstance(exc.cause, Exception):
        exc = exc.cause
    return isinstance(
        exc,
        exceptions.Aborted
        | exceptions.TooManyRequests
        | exceptions.InternalServerError
        | exceptions.ServiceUnavailable
        | exceptions.DeadlineExceeded
        | exceptions.GatewayTimeout,
    )


def _retry_later(reason: str) -> Exception:
    # An HTTP error the framework answers as it is, without logging a stack trace; any
    # answer but 2xx makes Eventarc and Pub/Sub deliver the event again.
    from werkzeug.exceptions import ServiceUnavailable

    return ServiceUnavailable(description=reason)


def _expired(event: Event) -> str:
    """Why the event is too old to run again ("" when it is not)."""
    from batchline.runtime.settings import get_settings

    limit = get_settings().max_event_age
    seconds = age(event.time)
    if seconds > limit.total_seconds():
        log.error("dropped an event %.0f s old: retried past %s", seconds, limit)
        return f"its event was retried for {seconds / 3600:.1f} hours, past {limit}"
    return ""


def on_object_finalized(cloud_event: Any) -> Any:
    """Storage `finalized` on the input bucket -> submit."""
    return _run(
        cloud_event,
        STORAGE_FINALIZED,
        storage_object,
        lambda obj, event: wiring.submitter().handle(obj, event),
        lambda obj, reason: wiring.submitter().give_up(obj, reason),
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
        lambda message, reason: wiring.completer().give_up(message, reason),
    )


def acknowledge_unreadable_requests(errorhandler: Callable[[type[BaseException]], Any]) -> None:
    """Answer 200 to requests the framework cannot read as a CloudEvent, with an error log line.

    functions-framework parses the request before any handler runs: a body it cannot decode
    (JSON nested too deeply, bytes that are not text) or a request that is not a CloudEvent
    at all would otherwise be answered 500 or 400, which the platform retries for a day.
    `errorhandler` is `functions_framework.errorhandler`, as the function's main.py sees it.
    """
    from cloudevents.exceptions import GenericException
    from werkzeug.exceptions import BadRequest

    for kind in (GenericException, BadRequest):
        errorhandler(kind)(_acknowledge_unreadable)


def _acknowledge_unreadable(error: BaseException) -> tuple[str, int]:
    from flask import request

    configure_logging()
    with log_context(
        event_id=request.headers.get("ce-id"), event_type=request.headers.get("ce-type")
    ):
        detail = getattr(error, "description", None) or str(error)
        log.error("gave up on a request that is not a readable CloudEvent: %s", detail[:300])
    return "", 200
