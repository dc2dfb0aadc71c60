# The three Cloud Run functions (gen2), one per entry of local.functions.

# Images the function builds produce. A repository of our own, instead of the shared
# gcf-artifacts one, lets the build identity write here and nowhere else, and lets old
# images expire.
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
    # The build and the trigger fail without these; grant them first.
    google_project_iam_member.grant,
    google_project_iam_member.build_reads_function_sources,
    google_artifact_registry_repository_iam_member.build_writes_images,
    google_storage_bucket_iam_member.grant,
  ]
}
