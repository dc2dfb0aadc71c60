"""What Terraform creates in Google Cloud, created in the emulators for a given configuration.

Used by the local cloud (`batchline local up`) and by the tests, so both run against the
same buckets, topics, subscriptions, dataset and tables the deployed pipeline has.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchline.runtime.settings import Settings

# The documentation's multimodal sample reads files from this bucket; the local cloud
# serves small stand-ins so that the sample runs offline.
SAMPLE_MEDIA_BUCKET = "cloud-samples-data"
SAMPLE_MEDIA = (
    "generative-ai/image/office-desk.jpeg",
    "generative-ai/image/cricket.jpeg",
    "generative-ai/video/animals.mp4",
)


def tick_topic(settings: Settings) -> str:
    return f"{settings.finished_topic}-tick"


def dead_letter_topic(settings: Settings) -> str:
    return f"{settings.finished_topic}-dead-letter"


def pull_subscription(topic: str) -> str:
    """The pull subscription the local cloud keeps on a topic (for tests and `--wait`)."""
    return f"{topic}-pull"


def notification_topic(bucket: str) -> str:
    """The topic the local Cloud Storage publishes a bucket's object notifications to (in
    Google Cloud, the Eventarc storage trigger makes one of its own)."""
    return f"storage-notifications-{bucket}"


def create_notification_topic(project: str, bucket: str) -> str:
    """The notification topic of `bucket` and the pull subscription the bridge reads it
    through; the subscription's path.

    Made before the storage emulator starts: fake-gcs-server only logs a publish that fails,
    so an object written before its topic exists would never reach the submit function.
    The ack deadline is Pub/Sub's longest, 600 s, so that a delivery still in progress
    (the submit function may take minutes on a large file) is not handed out again.
    """
    from google.cloud import pubsub_v1

    topic = notification_topic(bucket)
    publisher = pubsub_v1.PublisherClient()
    with pubsub_v1.SubscriberClient() as subscriber:
        created = publisher.create_topic(name=publisher.topic_path(project, topic))
        subscription = str(subscriber.subscription_path(project, pull_subscription(topic)))
        subscriber.create_subscription(
            name=subscription, topic=created.name, ack_deadline_seconds=600
        )
    publisher.transport.close()
    return subscription


def create_resources(
    settings: Settings,
    *,
    push_endpoints: Mapping[str, str] | None = None,
    sample_media: bool = True,
) -> None:
    """Buckets, topics, subscriptions, dataset and tables for `settings`.

    `push_endpoints` maps a topic id to the URL its push subscription delivers to: what the
    Eventarc triggers do for the poll and complete functions.
    """
    from batchline.runtime.clients import publisher_client, storage_client

    storage = storage_client()
    # As Terraform has them: the input bucket keeps old generations, so that the submit
    # function reads exactly the upload its event names; the work bucket keeps none.
    for name, versioned in ((settings.input_bucket, True), (settings.work_bucket, False)):
        bucket = storage.bucket(name)
        bucket.versioning_enabled = versioned
        bucket.create()
    if sample_media and storage.lookup_bucket(SAMPLE_MEDIA_BUCKET) is None:
        media = storage.create_bucket(SAMPLE_MEDIA_BUCKET)
        for name in SAMPLE_MEDIA:
            kind = "image/jpeg" if name.endswith(".jpeg") else "video/mp4"
            media.blob(name).upload_from_string(b"local stand-in for " + name.encode(), kind)

    from google.cloud import pubsub_v1

    publisher = publisher_client()
    subscriber = pubsub_v1.SubscriberClient()
    topics = (
        settings.completed_topic,
        settings.finished_topic,
        tick_topic(settings),
        dead_letter_topic(settings),
    )
    for topic in topics:
        publisher.create_topic(name=publisher.topic_path(settings.project, topic))
    # Pull subscriptions where messages are read: the notifications (`submit --wait`, the
    # demo), the job-finished messages (tests), and the dead letters (inspection).
    for topic in (settings.completed_topic, settings.finished_topic, dead_letter_topic(settings)):
        subscriber.create_subscription(
            name=subscriber.subscription_path(settings.project, pull_subscription(topic)),
            topic=publisher.topic_path(settings.project, topic),
            ack_deadline_seconds=60,
        )
    for topic, endpoint in (push_endpoints or {}).items():
        path = publisher.topic_path(settings.project, topic)
        subscriber.create_subscription(
            name=subscriber.subscription_path(settings.project, f"{topic}-push"),
            topic=path,
            # The topic in the URL path is how functions-framework names the event source.
            push_config={"push_endpoint": f"{endpoint.rstrip('/')}/{path}"},
            ack_deadline_seconds=60,
        )
    _create_tables(settings)


def _create_tables(settings: Settings) -> None:
    from google.cloud import bigquery

    from batchline.runtime.clients import bigquery_client
    from batchline.schemas import PREDICTIONS_LATEST_VIEW, TABLES, table_spec, view_query

    client = bigquery_client()
    # exists_ok: the BigQuery emulator's database file keeps the dataset across runs.
    client.create_dataset(f"{settings.project}.{settings.dataset}", exists_ok=True)
    for name in TABLES:
        spec = table_spec(name)
        table = bigquery.Table(
            f"{settings.project}.{settings.dataset}.{name}",
            schema=[bigquery.SchemaField.from_api_repr(dict(c)) for c in spec["schema"]],
        )
        table.time_partitioning = bigquery.TimePartitioning(
            type_=spec["partition_type"], field=spec["partition_field"]
        )
        table.clustering_fields = list(spec["clustering_fields"])
        client.create_table(table, exists_ok=True)
    # The view Terraform creates from the same SQL file.
    view = bigquery.Table(f"{settings.project}.{settings.dataset}.{PREDICTIONS_LATEST_VIEW}")
    view.view_query = view_query(settings.project, settings.dataset)
    client.create_table(view, exists_ok=True)
