"""The submit function. A Cloud Storage object was finalized in the input bucket: validate and submit it."""

import functions_framework
from batchline import handlers
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def on_object_finalized(cloud_event: CloudEvent) -> None:
    handlers.on_object_finalized(cloud_event)
