"""The poll function. Cloud Scheduler ticked (through Pub/Sub): check the jobs in flight."""

import functions_framework
from cloudevents.http import CloudEvent

from batchline.runtime import handlers


@functions_framework.cloud_event
def on_poll_tick(cloud_event: CloudEvent) -> None:
    handlers.on_poll_tick(cloud_event)


# Requests that are not readable CloudEvents are acknowledged, not retried for a day.
handlers.acknowledge_unreadable_requests(functions_framework.errorhandler)
