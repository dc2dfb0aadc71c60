locals {
  # APIs the pipeline uses.
  services = toset([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])

  labels = merge({ app = "batchline" }, var.labels)

  vertex_region      = coalesce(var.vertex_region, var.region)
  firestore_location = coalesce(var.firestore_location, var.region)
  project_number     = data.google_project.this.number

  # Cloud Run functions copies each deployed source zip here; the build reads it from there.
  gcf_sources_bucket = "gcf-v2-sources-${local.project_number}-${var.region}"

  # Names. Bucket names are global, so they carry the project id; everything else only the prefix.
  input_bucket_name   = "${var.project_id}-${var.prefix}-input"
  work_bucket_name    = "${var.project_id}-${var.prefix}-work"
  sources_bucket_name = "${var.project_id}-${var.prefix}-sources"
  dataset_id          = replace(var.prefix, "-", "_")
  role_id_prefix      = replace(var.prefix, "-", "_")

  # Where the library writes in the working bucket (batchline.staging); lifecycle rules and
  # prefix-scoped grants key on these.
  staging_prefix = "staging/"
  outputs_prefix = "outputs/"
  loads_prefix   = "loads/"

  # One entry per function folder in ../functions. Everything per-function derives from it:
  # service account, source bundle, function, trigger and invoker binding.
  functions = {
    submit = {
      description        = "Validates a JSONL file dropped into the input bucket and submits a Vertex AI batch prediction job."
      entry_point        = "on_object_finalized"
      memory             = "1Gi"
      timeout_seconds    = 540
      max_instance_count = var.max_instance_count
      event_type         = "google.cloud.storage.object.v1.finalized"
      pubsub_topic       = null
      event_filters      = [{ attribute = "bucket", value = google_storage_bucket.input.name }]
    }
    poll = {
      description     = "On each scheduler tick, checks the batch jobs in flight and announces the finished ones."
      entry_point     = "on_poll_tick"
      memory          = "512Mi"
      timeout_seconds = 300
      # One poller at a time: overlapping ticks would only repeat the same reads.
      max_instance_count = 1
      event_type         = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic       = google_pubsub_topic.tick.id
      event_filters      = []
    }
    complete = {
      description        = "Reads a finished job's output, writes rows to BigQuery and publishes the batch-completed notification."
      entry_point        = "on_job_finished"
      memory             = "1Gi"
      timeout_seconds    = 540
      max_instance_count = var.max_instance_count
      event_type         = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic       = google_pubsub_topic.job_finished.id
      event_filters      = []
    }
  }

  # Exactly the variables batchline.runtime.settings reads (ENV_VARS); every function gets the same map.
  function_environment = {
    GOOGLE_CLOUD_PROJECT           = var.project_id
    BATCHLINE_REGION               = local.vertex_region
    BATCHLINE_INPUT_BUCKET         = google_storage_bucket.input.name
    BATCHLINE_WORK_BUCKET          = google_storage_bucket.work.name
    BATCHLINE_REPORTS_PREFIX       = var.reports_prefix
    BATCHLINE_MODEL                = var.model
    BATCHLINE_DATASET              = google_bigquery_dataset.batchline.dataset_id
    BATCHLINE_BIGQUERY_LOCATION    = var.bigquery_location
    BATCHLINE_COMPLETED_TOPIC      = google_pubsub_topic.completed.name
    BATCHLINE_FINISHED_TOPIC       = google_pubsub_topic.job_finished.name
    BATCHLINE_FIRESTORE_DATABASE   = google_firestore_database.ledger.name
    BATCHLINE_LEDGER_COLLECTION    = var.ledger_collection
    BATCHLINE_MAX_JOB_AGE_HOURS    = tostring(var.max_job_age_hours)
    BATCHLINE_MAX_EVENT_AGE_HOURS  = tostring(var.max_event_age_hours)
    BATCHLINE_POLL_BUDGET_SECONDS  = tostring(var.poll_budget_seconds)
    BATCHLINE_MAX_UNREADABLE_HOURS = tostring(var.max_unreadable_hours)
    BATCHLINE_SUBMIT_LEASE_SECONDS = tostring(var.submit_lease_seconds)
    BATCHLINE_LOAD_LEASE_SECONDS   = tostring(var.load_lease_seconds)
    BATCHLINE_NOTIFY_LEASE_SECONDS = tostring(var.notify_lease_seconds)
    BATCHLINE_MAX_REQUESTS_PER_JOB = tostring(var.max_requests_per_job)
    BATCHLINE_MAX_BYTES_PER_JOB    = tostring(var.max_bytes_per_job)
    BATCHLINE_ROW_LABELS           = tostring(var.row_labels)
    BATCHLINE_PRICES               = jsonencode(var.prices)
  }

  # Every identity this deployment grants roles to, by a label known at plan time (emails of new
  # service accounts are not), so each grant below has a stable address.
  principals = merge(
    { for name, account in google_service_account.function : name => "serviceAccount:${account.email}" },
    local.service_principals,
  )
  service_principals = {
    trigger = "serviceAccount:${google_service_account.trigger.email}"
    build   = "serviceAccount:${google_service_account.build.email}"
    # Service agents have fixed addresses; apis.tf makes sure they exist before any grant.
    vertex_agent = "serviceAccount:service-${local.project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
    pubsub_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    # Cloud Storage publishes object events to Pub/Sub as its service agent.
    storage_agent = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
  }

  # Custom roles narrower than roles/aiplatform.user for the functions that only watch jobs.
  batch_job_roles = {
    batch_job_watcher = {
      title       = "Batchline batch job watcher"
      description = "Read and cancel Vertex AI batch prediction jobs (the poll function)."
      permissions = [
        "aiplatform.batchPredictionJobs.cancel",
        "aiplatform.batchPredictionJobs.get",
        "aiplatform.batchPredictionJobs.list",
      ]
    }
    batch_job_reader = {
      title       = "Batchline batch job reader"
      description = "Read Vertex AI batch prediction jobs (the complete function)."
      permissions = [
        "aiplatform.batchPredictionJobs.get",
        "aiplatform.batchPredictionJobs.list",
      ]
    }
  }
  custom_role_names = {
    for key, role in local.batch_job_roles : key => "projects/${var.project_id}/roles/${local.role_id_prefix}_${key}"
  }

  # Project-level roles. Everything that can be granted on one resource (bucket, topic,
  # dataset, service) is granted there instead.
  project_grants = [
    { principal = "submit", role = "roles/aiplatform.user" }, # create batch prediction jobs
    { principal = "submit", role = "roles/datastore.user" },  # the job ledger
    { principal = "poll", role = local.custom_role_names["batch_job_watcher"] },
    { principal = "poll", role = "roles/datastore.user" },
    { principal = "complete", role = local.custom_role_names["batch_job_reader"] },
    { principal = "complete", role = "roles/datastore.user" },
    { principal = "complete", role = "roles/bigquery.jobUser" }, # load jobs into its dataset
    # Eventarc delivers events as the trigger identity.
    { principal = "trigger", role = "roles/eventarc.eventReceiver" },
    # Eventarc creates a Pub/Sub topic per storage trigger at run time, so this one cannot be
    # granted on a single topic.
    { principal = "storage_agent", role = "roles/pubsub.publisher" },
    # The function build (Cloud Build) writes its logs.
    { principal = "build", role = "roles/logging.logWriter" },
    # The standard roles of the service agents apis.tf creates up front: Google grants them
    # only to agents it creates itself, on the API's first use.
    { principal = "vertex_agent", role = "roles/aiplatform.serviceAgent" },
    { principal = "pubsub_agent", role = "roles/pubsub.serviceAgent" },
  ]

  buckets = {
    input   = google_storage_bucket.input.name
    work    = google_storage_bucket.work.name
    sources = google_storage_bucket.sources.name
  }
  topics = {
    tick         = google_pubsub_topic.tick.name
    job_finished = google_pubsub_topic.job_finished.name
    completed    = google_pubsub_topic.completed.name
    dead_letter  = google_pubsub_topic.dead_letter.name
  }

  # Bucket-level grants. With a prefix, the grant holds only for objects under it (an IAM
  # condition): the functions rewrite their own files when an event is retried, which takes
  # objectUser (create and overwrite), and that should not reach the users' files.
  bucket_grants = [
    { bucket = "input", role = "roles/storage.objectViewer", principal = "submit", prefix = null },              # uploads
    { bucket = "input", role = "roles/storage.objectUser", principal = "submit", prefix = var.reports_prefix },  # reports
    { bucket = "work", role = "roles/storage.objectUser", principal = "submit", prefix = local.staging_prefix }, # staged parts
    { bucket = "work", role = "roles/storage.objectViewer", principal = "complete", prefix = null },             # index, outputs
    { bucket = "work", role = "roles/storage.objectUser", principal = "complete", prefix = local.loads_prefix }, # rows to load
    # Vertex AI runs batch jobs as its service agent: it reads the staged input and writes
    # the output in the working bucket, and reads media that requests reference by fileData
    # in the input bucket.
    { bucket = "work", role = "roles/storage.objectViewer", principal = "vertex_agent", prefix = null },
    { bucket = "work", role = "roles/storage.objectCreator", principal = "vertex_agent", prefix = local.outputs_prefix },
    { bucket = "input", role = "roles/storage.objectViewer", principal = "vertex_agent", prefix = null },
    { bucket = "sources", role = "roles/storage.objectViewer", principal = "build", prefix = null },
  ]
  # Plus whoever var.input_uploaders names; a principal that is not a label above is a member.
  all_bucket_grants = concat(
    local.bucket_grants,
    [for member in var.input_uploaders : { bucket = "input", role = "roles/storage.objectCreator", principal = member, prefix = null }],
  )

  # Topic-level grants.
  # (batchline.app: submit announces rejected files and failed submissions, complete the
  # finished batches; poll only hands finished jobs to complete.)
  topic_grants = [
    { topic = "completed", role = "roles/pubsub.publisher", principal = "submit" },
    { topic = "completed", role = "roles/pubsub.publisher", principal = "complete" },
    { topic = "job_finished", role = "roles/pubsub.publisher", principal = "poll" },
    # Pub/Sub moves undeliverable events to the dead-letter topic as its service agent.
    { topic = "dead_letter", role = "roles/pubsub.publisher", principal = "pubsub_agent" },
  ]
  all_topic_grants = concat(
    local.topic_grants,
    [for member in var.completed_topic_subscribers : { topic = "completed", role = "roles/pubsub.subscriber", principal = member }],
  )

  # Logs the functions write as JSON; a failed batch job is logged with this event name.
  failed_job_log_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${join(" OR ", [for name in keys(local.functions) : "\"${var.prefix}-${name}\""])})",
    "jsonPayload.event=\"job.failed\"",
  ])
}
