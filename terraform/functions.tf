# The three Cloud Run functions (gen2), one per entry of local.functions.

locals {
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

  vertex_region = coalesce(var.vertex_region, var.region)

  # Exactly the variables batchline.runtime.settings reads (ENV_VARS); every function gets
  # the same map, and this is the one place it is written.
  function_environment = {
    GOOGLE_CLOUD_PROJECT            = var.project_id
    BATCHLINE_REGION                = local.vertex_region
    BATCHLINE_INPUT_BUCKET          = google_storage_bucket.input.name
    BATCHLINE_WORK_BUCKET           = google_storage_bucket.work.name
    BATCHLINE_REPORTS_PREFIX        = var.reports_prefix
    BATCHLINE_MODEL                 = var.model
    BATCHLINE_DATASET               = google_bigquery_dataset.batchline.dataset_id
    BATCHLINE_BIGQUERY_LOCATION     = var.bigquery_location
    BATCHLINE_COMPLETED_TOPIC       = google_pubsub_topic.completed.name
    BATCHLINE_FINISHED_TOPIC        = google_pubsub_topic.job_finished.name
    BATCHLINE_FIRESTORE_DATABASE    = google_firestore_database.ledger.name
    BATCHLINE_LEDGER_COLLECTION     = var.ledger_collection
    BATCHLINE_MAX_JOB_AGE_HOURS     = tostring(var.max_job_age_hours)
    BATCHLINE_MAX_EVENT_AGE_HOURS   = tostring(var.max_event_age_hours)
    BATCHLINE_POLL_BUDGET_SECONDS   = tostring(var.poll_budget_seconds)
    BATCHLINE_MAX_UNREADABLE_HOURS  = tostring(var.max_unreadable_hours)
    BATCHLINE_SUBMIT_LEASE_SECONDS  = tostring(var.submit_lease_seconds)
    BATCHLINE_START_LEASE_SECONDS   = tostring(var.start_lease_seconds)
    BATCHLINE_LOAD_LEASE_SECONDS    = tostring(var.load_lease_seconds)
    BATCHLINE_NOTIFY_LEASE_SECONDS  = tostring(var.notify_lease_seconds)
    BATCHLINE_MAX_REQUESTS_PER_JOB  = tostring(var.max_requests_per_job)
    BATCHLINE_MAX_BYTES_PER_JOB     = tostring(var.max_bytes_per_job)
    BATCHLINE_ROW_LABELS            = tostring(var.row_labels)
    BATCHLINE_MAX_ATTEMPTS          = tostring(var.max_attempts)
    BATCHLINE_MAX_RUNNING_JOBS      = tostring(var.max_running_jobs)
    BATCHLINE_PENDING_ALERT_HOURS   = tostring(var.pending_alert_hours)
    BATCHLINE_START_BACKOFF_SECONDS = tostring(var.start_backoff_seconds)
    BATCHLINE_PRICES                = jsonencode(var.prices)
    # "" is unset to the settings: no limit.
    BATCHLINE_MAX_FILE_COST_USD = var.max_file_cost_usd == null ? "" : tostring(var.max_file_cost_usd)
    BATCHLINE_DAILY_BUDGET_USD  = var.daily_budget_usd == null ? "" : tostring(var.daily_budget_usd)
  }
}

# Images the function builds produce. A repository of our own, instead of the shared
# gcf-artifacts one, lets old images expire.
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84: Images are built from this repository's public code; Google-managed encryption is enough.
  repository_id = "${var.prefix}-functions"
  location      = var.region
  format        = "DOCKER"
  description   = "Container images built from the Batchline function bundles."

  cleanup_policy_dry_run = false
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = "${var.prefix}-${each.key}"
  location    = var.region
  description = each.value.description

  build_config {
    runtime           = var.runtime
    entry_point       = each.value.entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle[each.key].name
      }
    }
  }

  service_config {
    available_memory   = each.value.memory
    timeout_seconds    = each.value.timeout_seconds
    max_instance_count = each.value.max_instance_count
    min_instance_count = 0
    # One event at a time per instance: validating and shaping rows is CPU-bound work, and
    # each event's streams hold their own read and upload buffers.
    max_instance_request_concurrency = 1
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = local.function_environment
    # Eventarc and Pub/Sub deliveries count as internal traffic; nothing else may call in.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
  }

  event_trigger {
    event_type            = each.value.event_type
    trigger_region        = var.region
    pubsub_topic          = each.value.pubsub_topic
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email

    dynamic "event_filters" {
      for_each = each.value.event_filters
      content {
        attribute = event_filters.value.attribute
        value     = event_filters.value.value
      }
    }
  }

  depends_on = [
    google_project_service.this,
    # The build, the trigger and the first events fail without these; grant them first.
    google_project_iam_member.grant,
    google_project_iam_member.ledger_user,
    google_storage_bucket_iam_member.grant,
  ]
}

# The trigger identity may invoke each function's Cloud Run service, and only those.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_function" {
  for_each = local.functions

  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = local.principals["trigger"]
}
