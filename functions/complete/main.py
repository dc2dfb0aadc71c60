"""The complete function. A batch job finished: load its rows into BigQuery and notify."""

import functions_framework
from batchline import handlers
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def on_job_finished(cloud_event: CloudEvent) -> None:
    handlers.on_job_finished(cloud_event)
