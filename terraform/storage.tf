# Three buckets, so nothing the pipeline writes lands where the submit trigger listens:
#   input   users drop JSONL files here (the submit trigger watches it); reports go under
#           var.reports_prefix, which the submit function skips.
#   work    staging copies of submitted files and the batch jobs' outputs; transient.
#   sources the function source bundles.

locals {
  # Bucket names are global, so they carry the project id.
  input_bucket_name   = "${var.project_id}-${var.prefix}-input"
  work_bucket_name    = "${var.project_id}-${var.prefix}-work"
  sources_bucket_name = "${var.project_id}-${var.prefix}-sources"

  # Where the library writes in the working bucket (batchline.staging); lifecycle rules and
  # prefix-scoped grants key on these.
  staging_prefix = "staging/"
  outputs_prefix = "outputs/"
  loads_prefix   = "loads/"
  resume_prefix  = "resume/"

  buckets = {
    input   = google_storage_bucket.input.name
    work    = google_storage_bucket.work.name
    sources = google_storage_bucket.sources.name
  }

  # Bucket-level grants. With a prefix, the grant holds only for objects under it (an IAM
  # condition): the functions rewrite their own files when an event is retried, which takes
  # objectUser (create and overwrite), and that should not reach the users' files.
  bucket_grants = [
    { bucket = "input", role = "roles/storage.objectViewer", principal = "submit", prefix = null },               # uploads
    { bucket = "input", role = "roles/storage.objectUser", principal = "submit", prefix = var.reports_prefix },   # reports
    { bucket = "work", role = "roles/storage.objectUser", principal = "submit", prefix = local.staging_prefix },  # staged parts
    { bucket = "work", role = "roles/storage.objectViewer", principal = "complete", prefix = null },              # index, outputs
    { bucket = "work", role = "roles/storage.objectUser", principal = "complete", prefix = local.loads_prefix },  # rows to load
    { bucket = "work", role = "roles/storage.objectUser", principal = "complete", prefix = local.resume_prefix }, # resume inputs
    { bucket = "work", role = "roles/storage.objectViewer", principal = "poll", prefix = null },                  # job inputs
    # Vertex AI runs batch jobs as its service agent: it reads the staged input and writes
    # the output in the working bucket, and reads media that requests reference by fileData
    # in the input bucket.
    { bucket = "work", role = "roles/storage.objectViewer", principal = "vertex_agent", prefix = null },
    { bucket = "work", role = "roles/storage.objectCreator", principal = "vertex_agent", prefix = local.outputs_prefix },
    { bucket = "input", role = "roles/storage.objectViewer", principal = "vertex_agent", prefix = null },
  ]
  # Plus whoever var.input_uploaders names; a principal that is not a label is a member.
  all_bucket_grants = concat(
    local.bucket_grants,
    [for member in var.input_uploaders : { bucket = "input", role = "roles/storage.objectCreator", principal = member, prefix = null }],
  )
}

resource "google_storage_bucket" "input" {
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; a second bucket of usage logs adds cost and no signal.
  name                        = local.input_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Users' files live here: refuse to delete a non-empty bucket unless protection is off.
  force_destroy = !var.deletion_protection

  # Keeps the earlier generation when a file is overwritten; each generation is its own batch.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "work" {
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; a second bucket of usage logs adds cost and no signal.
  # checkov:skip=CKV_GCP_78: Everything here is derived (staging copies, job outputs) and expires by lifecycle; versions would only keep deleted copies around.
  name                        = local.work_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  versioning {
    enabled = false
  }

  # A job reads its staged input until it finishes (queued up to 72 h, then running up to 24 h).
  lifecycle_rule {
    condition {
      age            = var.staging_retention_days
      matches_prefix = [local.staging_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # Row files are only needed until their BigQuery load job has run; resume inputs until
  # the part's next attempt has read them.
  lifecycle_rule {
    condition {
      age            = var.staging_retention_days
      matches_prefix = [local.loads_prefix, local.resume_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # By then the complete function has loaded the rows into BigQuery.
  lifecycle_rule {
    condition {
      age            = var.output_retention_days
      matches_prefix = [local.outputs_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # Anything else in this bucket is transient too: never keep it longer than the longest rule.
  lifecycle_rule {
    condition {
      age = max(var.staging_retention_days, var.output_retention_days)
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    precondition {
      condition     = var.staging_retention_days * 24 > var.max_job_age_hours
      error_message = "staging_retention_days must outlast max_job_age_hours: a job still running would lose its staged input."
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: Only Terraform and Cloud Build read this bucket; audit logs cover it.
  # checkov:skip=CKV_GCP_78: Bundles are rebuilt from the repository and named by content hash; versions add nothing.
  name                        = local.sources_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build artifacts, reproducible from the repository.
  force_destroy = true

  versioning {
    enabled = false
  }

  depends_on = [google_project_service.this]
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
