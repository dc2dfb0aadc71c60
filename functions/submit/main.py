"""The submit function. A Cloud Storage object was finalized in the input bucket: validate and submit it."""

import functions_framework
from cloudevents.http import CloudEvent

from batchline.runtime import handlers


@functions_framework.cloud_event
def on_object_finalized(cloud_event: CloudEvent) -> None:
    handlers.on_object_finalized(cloud_event)


# Requests that are not readable CloudEvents are acknowledged, not retried for a day.
handlers.acknowledge_unreadable_requests(functions_framework.errorhandler)
