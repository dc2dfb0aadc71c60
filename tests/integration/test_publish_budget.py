"""A publish that runs out of its time is over: the client does not go on retrying it.

The notification claim rests on this. A sender whose publish failed gives its claim back and
the event's retry publishes again; if the client were still retrying the first publish in the
background (google-cloud-pubsub's default publish retry lasts 600 s, however briefly the
caller waits on the future), the file would be notified twice. Here the topic's endpoint is a
socket that accepts connections and never answers, as a stalled Pub/Sub front end.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from google.api_core.exceptions import GoogleAPIError

from batchline.adapters.pubsub import Publisher

pytestmark = pytest.mark.integration

BUDGET_SECONDS = 3.0


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """host:port of a server that takes connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host, port = server.getsockname()
    yield f"{host}:{port}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_publish_that_outlives_its_budget_fails_as_the_clients_own_error(
    silent_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", silent_endpoint)
    client = pubsub_v1.PublisherClient()
    publisher = Publisher(client, "projects/batchline-local/topics/stalled", BUDGET_SECONDS)
    started = time.monotonic()
    with pytest.raises(GoogleAPIError):
        # Not concurrent.futures.TimeoutError: that would be the wait given up while the
        # client's batch is still being retried, to be published later.
        publisher.publish(b"{}", {"event": "file.rejected"})
    took = time.monotonic() - started
    assert took <= BUDGET_SECONDS + 1.0
    client.stop()
