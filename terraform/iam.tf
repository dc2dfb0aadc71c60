# Identities and every role they hold. No primitive roles (owner, editor, viewer) and no
# public principals anywhere; project-level grants only where no narrower resource exists.

# One runtime identity per function.
resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.prefix}-${each.key}"
  display_name = "Batchline ${each.key} function"
  description  = "Runs the Batchline ${each.key} function; holds only the roles that function needs."

  depends_on = [google_project_service.this]
}

# Eventarc delivers events to the functions as this identity.
resource "google_service_account" "trigger" {
  account_id   = "${var.prefix}-trigger"
  display_name = "Batchline event triggers"
  description  = "Identity of the Eventarc triggers that invoke the Batchline functions."

  depends_on = [google_project_service.this]
}

# Cloud Build builds the function images as this identity (instead of a default service
# account that may hold Editor, or may lack what a build needs).
resource "google_service_account" "build" {
  account_id   = "${var.prefix}-build"
  display_name = "Batchline function builds"
  description  = "Builds the Batchline function images from their source bundles."

  depends_on = [google_project_service.this]
}

resource "google_project_iam_custom_role" "batch_job" {
  for_each = local.batch_job_roles

  role_id     = "${local.role_id_prefix}_${each.key}"
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "grant" {
  for_each = { for grant in local.project_grants : "${grant.principal} ${grant.role}" => grant }

  project = var.project_id
  role    = each.value.role
  member  = lookup(local.principals, each.value.principal, each.value.principal)

  depends_on = [google_project_iam_custom_role.batch_job, google_project_service_identity.agents]
}

resource "google_storage_bucket_iam_member" "grant" {
  for_each = { for grant in local.all_bucket_grants : join(" ", compact([grant.bucket, grant.role, grant.principal, grant.prefix])) => grant }

  bucket = local.buckets[each.value.bucket]
  role   = each.value.role
  member = lookup(local.principals, each.value.principal, each.value.principal)

  dynamic "condition" {
    for_each = each.value.prefix == null ? [] : [each.value.prefix]
    content {
      title       = "Objects under ${condition.value}"
      description = "Only objects whose name starts with ${condition.value}."
      expression  = "resource.name.startsWith(\"projects/_/buckets/${local.buckets[each.value.bucket]}/objects/${condition.value}\")"
    }
  }

  depends_on = [google_project_service_identity.agents]
}

resource "google_pubsub_topic_iam_member" "grant" {
  for_each = { for grant in local.all_topic_grants : "${grant.topic} ${grant.role} ${grant.principal}" => grant }

  topic  = local.topics[each.value.topic]
  role   = each.value.role
  member = lookup(local.principals, each.value.principal, each.value.principal)

  depends_on = [google_project_service_identity.agents]
}

# The complete function writes rows into the dataset's tables, and nowhere else.
resource "google_bigquery_dataset_iam_member" "complete_writes_rows" {
  dataset_id = google_bigquery_dataset.batchline.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.principals["complete"]
}

# The trigger identity may invoke each function's Cloud Run service, and only those.
resource "google_cloud_run_v2_service_iam_member" "trigger_invokes_function" {
  for_each = local.functions

  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = local.principals["trigger"]
}

# Pub/Sub signs the push requests Eventarc sends to the functions with tokens for the trigger
# identity (needed in projects created before April 2021; harmless after).
resource "google_service_account_iam_member" "pubsub_mints_trigger_tokens" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.principals["pubsub_agent"]

  depends_on = [google_project_service_identity.agents]
}

# The build reads the copy of the source that Cloud Run functions puts in its own
# gcf-v2-sources bucket; the condition keeps the grant to that bucket.
resource "google_project_iam_member" "build_reads_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = local.principals["build"]

  condition {
    title       = "gcf-v2-sources bucket only"
    description = "Objects in the bucket Cloud Run functions copies deployed sources into."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.gcf_sources_bucket}\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "build_writes_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = local.principals["build"]
}
