"""Waiting for a file's notification on a subscription of the completion topic."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["await_notifications"]


def await_notifications(
    subscriber: Any,
    subscription: str,
    wanted: Mapping[str, int],
    *,
    timeout: float,
    on_progress: Callable[[Mapping[str, Mapping[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Pull a subscription on the completion topic until every wanted upload (object name ->
    generation) has its notification, or `timeout` seconds pass; the bodies by object name.

    Wanted messages are acknowledged; any other is handed straight back, so that other
    readers of a shared subscription still get it. `on_progress` sees what arrived so far
    after each pull.
    """
    from google.api_core.exceptions import DeadlineExceeded

    received: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(received) < len(wanted) and time.monotonic() < deadline:
        try:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 10},
                timeout=max(1.0, min(30.0, deadline - time.monotonic())),
            )
        except DeadlineExceeded:
            response = None  # nothing arrived within the pull's own wait
        for message in response.received_messages if response else ():
            name = message.message.attributes.get("object", "")
            body = _json_object(message.message.data)
            mine = name in wanted and body.get("generation") == str(wanted[name])
            if mine:
                received[name] = body
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [message.ack_id]}
                )
            else:
                subscriber.modify_ack_deadline(
                    request={
                        "subscription": subscription,
                        "ack_ids": [message.ack_id],
                        "ack_deadline_seconds": 0,
                    }
                )
        if on_progress is not None:
            on_progress(received)
        if not response or not response.received_messages:
            time.sleep(0.5)
    return received


def _json_object(data: bytes) -> dict[str, Any]:
    """A message body as a JSON object ({} for one that is not a notification)."""
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
