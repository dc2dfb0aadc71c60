"""Publishing to a Pub/Sub topic through google-cloud-pubsub's PublisherClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchline.domain.errors import TransientError
from batchline.domain.notifications import Notification

__all__ = ["PUBLISH_TIMEOUT_SECONDS", "PublishOutcomeUnknown", "Publisher"]

PUBLISH_TIMEOUT_SECONDS = 60.0


class PublishOutcomeUnknown(TransientError):
    """The client did not settle the publish within its budget: it may still go out."""


def _publish_retry(budget: float) -> Any:
    """The publish RPC's retry within `budget` seconds, with the generated client's backoff
    (google.pubsub_v1's publisher transport) but not its 600-second deadline, and only on the
    codes that say the server took nothing: an attempt that timed out, or ended in INTERNAL,
    UNKNOWN or CANCELLED, may have been published, and sending it again would be a second
    notification."""
    from google.api_core import exceptions
    from google.api_core.retry import Retry, if_exception_type

    refused = if_exception_type(
        exceptions.Aborted, exceptions.ResourceExhausted, exceptions.ServiceUnavailable
    )
    return Retry(predicate=refused, initial=0.1, maximum=budget, multiplier=4, timeout=budget)


class Publisher:
    """Publishes to one topic and waits for the server's acknowledgement, for at most
    `timeout` seconds in all.

    The budget is the client's own: its retry and each attempt end within it (an attempt's
    timeout counts from the first one: api_core's TimeToDeadlineTimeout), so a publish that
    failed here is over. (Only waiting less on the future would leave the client
    retrying the batch in the background for up to ten minutes, to publish the message after
    the caller gave up its claim and a second sender published it again.)"""

    def __init__(
        self, client: Any, topic_path: str, timeout: float = PUBLISH_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self._topic = topic_path
        self.timeout = timeout
        # A third for the retry; a third more for an attempt it starts with less than a second
        # of that left (api_core then gives the attempt its whole timeout again); the rest for
        # the client's batch thread to complete the future.
        self._attempt_timeout = timeout / 3
        self._retry = _publish_retry(timeout / 3)

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        """The message ID; the client's error when the publish failed, PublishOutcomeUnknown
        when the client had not settled it in time (its batch thread stalled)."""
        future = self._client.publish(
            self._topic, data, retry=self._retry, timeout=self._attempt_timeout, **attributes
        )
        try:
            return str(future.result(timeout=self.timeout))
        except TimeoutError as exc:  # concurrent.futures.TimeoutError since Python 3.11
            raise PublishOutcomeUnknown(
                f"the publish to {self._topic} was not settled in {self.timeout:.0f} s"
            ) from exc

    def notify(self, notification: Notification) -> str:
        return self.publish(notification.data(), notification.attributes())
