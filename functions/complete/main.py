"""The complete function. A batch job finished: load its rows into BigQuery and notify."""

import functions_framework
from cloudevents.http import CloudEvent

from batchline.runtime import handlers


@functions_framework.cloud_event
def on_job_finished(cloud_event: CloudEvent) -> None:
    handlers.on_job_finished(cloud_event)


# Requests that are not readable CloudEvents are acknowledged, not retried for a day.
handlers.acknowledge_unreadable_requests(functions_framework.errorhandler)
