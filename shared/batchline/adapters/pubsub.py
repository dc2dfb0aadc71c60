"""Publishing to a Pub/Sub topic through google-cloud-pubsub's PublisherClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchline.domain.notifications import Notification

__all__ = ["PUBLISH_TIMEOUT_SECONDS", "Publisher"]

PUBLISH_TIMEOUT_SECONDS = 60.0


class Publisher:
    """Publishes to one topic and waits for the server's acknowledgement."""

    def __init__(
        self, client: Any, topic_path: str, timeout: float = PUBLISH_TIMEOUT_SECONDS
    ) -> None:
        self._client = client
        self._topic = topic_path
        self.timeout = timeout

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        future = self._client.publish(self._topic, data, **attributes)
        return str(future.result(timeout=self.timeout))

    def notify(self, notification: Notification) -> str:
        return self.publish(notification.data(), notification.attributes())
