"""Publishing to a Pub/Sub topic through google-cloud-pubsub's PublisherClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchline.domain.notifications import Notification

__all__ = ["PUBLISH_TIMEOUT_SECONDS", "Publisher"]

PUBLISH_TIMEOUT_SECONDS = 60.0


def _publish_retry(budget: float) -> Any:
    """The publish RPC's retry within `budget` seconds: the codes the generated client retries
    by default (google.pubsub_v1's publisher transport), with its backoff, but not its
    600-second deadline."""
    from google.api_core import exceptions
    from google.api_core.retry import Retry, if_exception_type

    retryable = if_exception_type(
        exceptions.Aborted,
        exceptions.Cancelled,
        exceptions.DeadlineExceeded,
        exceptions.InternalServerError,
        exceptions.ResourceExhausted,
        exceptions.ServiceUnavailable,
        exceptions.Unknown,
    )
    return Retry(predicate=retryable, initial=0.1, maximum=budget, multiplier=4, timeout=budget)


class Publisher:
    """Publishes to one topic and waits for the server's acknowledgement, for at most
    `timeout` seconds in all.

    The budget is the client's own: its retry and each attempt end within it, so a publish
    that failed here is over. (Only waiting less on the future would leave the client
    retrying the batch in the background for up to ten minutes, to publish the message after
    the caller gave up its claim and a second sender published it again.)"""

    def __init__(
        self, client: Any, topic_path: str, timeout: float = PUBLISH_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self._topic = topic_path
        self.timeout = timeout
        # A third for the retry, a third for an attempt it starts just before its end, and
        # the rest for the client's batch thread to complete the future.
        self._attempt_timeout = timeout / 3
        self._retry = _publish_retry(timeout / 3)

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        future = self._client.publish(
            self._topic, data, retry=self._retry, timeout=self._attempt_timeout, **attributes
        )
        return str(future.result(timeout=self.timeout))

    def notify(self, notification: Notification) -> str:
        return self.publish(notification.data(), notification.attributes())
